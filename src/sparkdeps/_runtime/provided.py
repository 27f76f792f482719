"""An environment that already has the wheelhouse: nothing to install or ship.

A serverless job built by ``three_task_job(compute="serverless")`` puts
``-r <run>/requirements.txt`` (the run's hashed pip-native form) into its
environment's ``dependencies``, and a classic cluster may have the same wheels as
cluster libraries: the task starts with every wheel installed, on the driver and
the UDF workers alike (docs/compute.md). Shipping the wheelhouse again there is
at best wasted, and where the workers cannot see artifacts (serverless) its probe
finds the modules in the workers' own site-packages, "not from what was shipped".

So ``load(delivery="auto")`` first asks this module whether the interpreter's own
environment (the ``sys.path`` entries under ``sys.prefix``, what the probe calls
:data:`~.probe.ENVIRONMENT` on a worker) has every wheel at the manifest's exact
version (PEP 440 equality, ``same_version``). Only the environment counts: a
folder sparkdeps put on ``sys.path`` (the node cache) is not the environment
the workers share. A package at another version is not provided: the wheelhouse
is then installed and shipped as before.

:func:`provided_load` is that step of ``load()``, imported only where it may apply
(``delivery="auto"``, a session, a manifest read): a warm load for the driver alone
imports neither this module nor ``importlib.metadata`` (docs/architecture.md, "What a
warm load imports").
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from .._core.manifest import Manifest, WheelInfo, same_version
from .._core.progress import plural
from .._core.results import Delivery, LoadResult
from .._core.timing import timed
from .fetch import Prepared
from .loadplan import LoadPlan
from .routes import prove_provided
from .runtime_mismatch import check_runtime
from .session_env import Package, record_load
from .session_state import remember_load, session_key

__all__ = ["environment_has", "environment_paths", "provided_load"]

logger = logging.getLogger(__name__)


def environment_paths() -> list[str]:
    """The ``sys.path`` entries inside this interpreter's environment (``sys.prefix``)."""
    prefix = os.path.realpath(sys.prefix).rstrip(os.sep) + os.sep
    return [entry for entry in sys.path if entry and os.path.realpath(entry).startswith(prefix)]


def _installed_version(name: str, paths: Sequence[str]) -> str | None:
    """The version of distribution ``name`` the environment imports first, or None.

    Looked up by name (the ``.dist-info`` folder's), not by reading every distribution's
    metadata: a Databricks runtime has hundreds."""
    found = next(iter(importlib.metadata.distributions(name=name, path=list(paths))), None)
    return None if found is None else found.version


def environment_has(wheels: Iterable[WheelInfo], paths: Sequence[str] | None = None) -> bool:
    """True when ``paths`` (default: :func:`environment_paths`) hold every wheel of a
    non-empty wheelhouse at its exact version; stops at the first one missing."""
    places = environment_paths() if paths is None else list(paths)
    count = 0
    for wheel in wheels:
        have = _installed_version(str(wheel.name), places)
        if have is None or not same_version(have, wheel.version):
            return False
        count += 1
    return count > 0


def provided_load(
    plan: LoadPlan,
    prepared: Prepared,
    packages: Mapping[str, Package],
    asked: tuple[Delivery, bool | None],
    mode: Literal["cache", "pip"],
    *,
    strict: bool | None,
    timings: dict[str, float],
) -> LoadResult | None:
    """``auto`` where this interpreter's environment already has every wheel at its exact
    version (docs/delivery.md, "Already in the environment"): nothing installed or shipped,
    the workers proven to import from their own environment where ``load`` probes.

    None: install and ship as usual (a wheel missing or at another version, another
    ``delivery``, or workers that do not have it, as a Connect client's cluster may not)."""
    manifest = prepared.manifest
    if asked[0] != "auto" or plan.ship is None or manifest is None or not manifest.wheels:
        return None
    with timed(timings, "environment"):
        if not environment_has(manifest.wheels):
            return None
    check_runtime(manifest.runtime, strict=strict)
    trusted, probed = prove_provided(
        plan.session, plan.ship, prepared.digest, manifest.top_level, probe=asked[1]
    )
    if probed is not None:
        timings["probe"] = probed.seconds
    if not trusted and probed is None:
        return None  # classic without probe=True: ship as usual (routes.prove_provided)
    if not trusted:
        logger.warning(
            "this environment has every wheel of %s at its version, but the executors' "
            "workers do not import them from theirs; shipping the wheelhouse:\n%s",
            prepared.uri,
            probed.describe() if probed is not None else "",
        )
        return None
    _record_provided(plan, manifest, packages, prepared.uri)
    logger.info(
        "the environment already has all %s at the wheelhouse's versions: nothing shipped",
        plural(len(manifest.wheels), "package"),
    )
    return LoadResult(
        uri=prepared.uri, digest=prepared.digest,
        wheels=tuple(sorted(wheel.filename for wheel in manifest.wheels)),
        folder=Path(sysconfig.get_paths()["purelib"]), delivery="provided",
        top_level=tuple(manifest.top_level), reused=True, mode=mode, timings=timings,
        shadows=manifest.shadowed(),
    )  # fmt: skip


def _record_provided(
    plan: LoadPlan, manifest: Manifest, packages: Mapping[str, Package], uri: str
) -> None:
    """What ``verify`` and a second load of this session know: the environment has these."""
    key = session_key(plan.session, plan.ship)
    remember_load(key, manifest.top_level, manifest.runtime)
    record_load(key, packages, uri, "")  # "": the workers' own environment
