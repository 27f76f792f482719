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
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Iterable, Sequence

from .._core.manifest import WheelInfo, same_version

__all__ = ["environment_has", "environment_paths"]


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
