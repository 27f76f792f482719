"""Which route takes the wheelhouse to the executors, and the proof that it got there.

Routes (docs/delivery.md): ``classic`` (``addArchive`` and python includes),
``connect`` (session artifacts), ``shared`` (a folder every node mounts) and
``environment`` (the channel the platform syncs to UDFs: the notebook's ``%pip``).

Where ``load`` cannot be sure the route works (a session without a SparkContext;
a classic one with ``probe=True``) it runs the probe (:mod:`.probe`) before it
returns: every top-level module must import on the workers from what was
shipped. When it does not, ``auto`` turns to ``environment`` if the files were
invisible to the workers (as on Databricks serverless) and a ``%pip`` channel is
there; otherwise :class:`DeliveryError` says what the workers saw and names the
route that fits. Never a green load and a failing UDF.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._core.databricks import notebook_pip
from .._core.errors import DeliveryError
from .._core.results import Delivery
from .delivery import SessionKind, archive_name, deliver, session_key
from .environment import configure_hint, install_environment, require_channel, requirements_file
from .fetch import Prepared
from .hints import Hint, failure_hint
from .install import InstallResult
from .probe import ENVIRONMENT, ProbeResult, probe_executors

__all__ = ["Route", "Shipped", "prove_provided", "ship"]

logger = logging.getLogger(__name__)

PROBE_PARTITIONS = 2
"""Tasks the load's probe runs: proof of the route, not of every executor (``verify``)."""
_INVISIBLE = re.compile(r"No module named|is not on this executor")
_proven_lock = threading.Lock()
_proven: set[tuple[str, str, str]] = set()
"""(session key, digest, route) whose probe passed: a second load need not probe again."""


@dataclass(frozen=True)
class Route:
    """How ``load`` means to reach the executors (decided before anything is read)."""

    session: Any
    ship: SessionKind | None
    """The session's kind; None: no session."""
    kind: Delivery
    """``classic``, ``connect``, ``shared`` or ``environment``."""
    auto: bool
    """``delivery="auto"``: another route may be taken when the probe fails."""
    probe: bool | None
    """None: probe where the route cannot be sure (no SparkContext, or ``environment``)."""
    payload_dir: Path
    """Where the archive routes' payload is written."""
    environment_dir: Path
    """Where the environment route's requirements (and copied wheels) are written."""
    archive_url: str | None = None
    """An http(s) URL of the wheelhouse executors fetch themselves (classic; docs/storage.md)."""


@dataclass(frozen=True)
class Shipped:
    kind: Delivery
    """The route that reached the executors."""
    payload: str | None
    archive: str
    """The archive executors import from (``sparkdeps_<digest16>``), or ""."""
    seconds: float
    probe: ProbeResult | None = None


def ship(
    route: Route, prepared: Prepared, installed: InstallResult, published: Path | None
) -> Shipped:
    """Deliver ``installed`` to the executors of ``route.session``; prove it where needed."""
    if route.kind == "environment":
        return _prove(route, _environment(route, prepared, installed, published), installed)
    assert route.session is not None and route.ship is not None
    shared = route.kind == "shared"
    delivered = deliver(
        route.session,
        installed.folder,
        installed.digest,
        route.payload_dir,
        route.ship,
        wheelhouse=prepared.zip_path,
        site=installed.folder if shared else None,
        symlink_to=published,
        archive_url=None if shared else route.archive_url,
    )
    archive = archive_name(installed.digest) if route.ship == "classic" and not shared else ""
    shipped = Shipped(route.kind, delivered.payload, archive, delivered.seconds)
    try:
        return _prove(route, shipped, installed)
    except DeliveryError as exc:
        if not (route.auto and exc.invisible and notebook_pip() is not None):
            raise
    logger.warning(
        "the executors cannot see files added to this session; installing through the "
        "notebook's %%pip instead (delivery='environment')"
    )
    fallback = replace(route, kind="environment")
    return _prove(fallback, _environment(fallback, prepared, installed, published), installed)


def _environment(
    route: Route, prepared: Prepared, installed: InstallResult, published: Path | None
) -> Shipped:
    channel = require_channel()
    requirements = requirements_file(
        installed.folder,
        installed.digest,
        route.environment_dir,
        zip_path=prepared.zip_path,
        published=published,
    )
    seconds = install_environment(channel, requirements)
    return Shipped("environment", str(requirements), "", seconds)


def _within(route: Route, shipped: Shipped, installed: InstallResult) -> tuple[str, ...]:
    """Where the probe must find the modules for this route."""
    if shipped.kind == "environment":
        return (ENVIRONMENT,)
    if route.kind == "shared":
        return (str(installed.folder),)
    return (archive_name(installed.digest),)


def _wanted(route: Route, key: tuple[str, str, str]) -> bool:
    if route.session is None or route.probe is False:
        return False
    if route.probe is None and route.ship == "classic" and route.kind != "environment":
        return False  # a SparkContext's archive and includes are what Spark documents
    with _proven_lock:
        return key not in _proven


def _prove(route: Route, shipped: Shipped, installed: InstallResult) -> Shipped:
    """Run the probe when wanted; the shipment with its proof, or a DeliveryError."""
    key = ("", installed.digest, shipped.kind)
    if route.session is not None and route.ship is not None:
        key = (session_key(route.session, route.ship), installed.digest, shipped.kind)
    if not _wanted(route, key):
        return shipped
    result = probe_executors(
        route.session,
        installed.top_level,
        within=_within(route, shipped, installed),
        partitions=PROBE_PARTITIONS,
    )
    if not result.ok:
        raise _failure(shipped.kind, result)
    with _proven_lock:
        _proven.add(key)
    return replace(shipped, probe=result)


def prove_provided(
    session: Any, kind: SessionKind, digest: str, modules: Sequence[str], *, probe: bool | None
) -> tuple[bool, ProbeResult | None]:
    """(whether to trust it, the probe) for an environment that already has every wheel
    (:mod:`.provided`): the workers must import each module from their own environment.

    Probed where ``load`` probes any route (no SparkContext, or ``probe=True``). A
    classic session without ``probe=True`` is not trusted: its workers may run another
    interpreter than the driver (``PYSPARK_PYTHON``: a local cluster, a twin), whose
    packages nothing on the driver can see, so it ships as usual."""
    if probe is False:
        return True, None
    if probe is None and kind == "classic":
        return False, None
    key = (session_key(session, kind), digest, "provided")
    with _proven_lock:
        if key in _proven:
            return True, None
    result = probe_executors(session, modules, within=(ENVIRONMENT,), partitions=PROBE_PARTITIONS)
    if result.ok:
        with _proven_lock:
            _proven.add(key)
    return result.ok, result


def _worker_python_differs(result: ProbeResult) -> Hint | None:
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    versions = sorted({worker.version for worker in result.workers} - {here})
    if versions:
        return Hint(
            f"the workers run Python {', '.join(versions)} and this driver {here}",
            f"build the wheelhouse for the workers' Python (--python-version {versions[0]}) "
            "and run the driver on it too",
        )
    return None


def _failure(kind: Delivery, result: ProbeResult) -> DeliveryError:
    """The DeliveryError for a failed probe of route ``kind`` (``invisible`` when the
    shipped files were not there for the workers)."""
    seen = result.describe()
    head = (
        f"load() shipped the wheelhouse (delivery={kind!r}) but the executors' Python "
        f"workers cannot import it from there; they saw:\n{seen}\n"
    )
    invisible = bool(result.invisible) or (
        bool(result.failures)
        and all(_INVISIBLE.search(item.error or "") for item in result.failures)
    )
    differs = _worker_python_differs(result)
    if result.error is not None:
        why = Hint("", "read the probe job's error above; probe=False skips this check")
    elif differs:
        why = differs
    elif invisible and kind != "environment":
        why = Hint(
            "this compute does not show files added to the session to its UDFs' Python "
            "workers (as reported of Databricks serverless and standard access mode)",
            configure_hint(),
        )
    else:
        why = failure_hint((item.module, item.error or "") for item in result.failures)
    return DeliveryError(
        head + (why.cause + "\n" if why.cause else "") + "Nothing was left active on the driver.",
        probe=result,
        invisible=invisible and kind != "environment",
        fix=why.fix,
    )
