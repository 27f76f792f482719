"""``process-deps --target auto`` on a cluster: the running runtime's own package set.

A profile lists what a runtime ships according to its release notes; the compute
``process_deps`` runs on knows exactly what it has (a maintenance release, an ML
variant, init scripts, cluster libraries). So on Databricks, ``auto`` builds for
this interpreter against what ``importlib.metadata`` sees here (the same reading as
``sparkdeps runtime-freeze``, ``_runtime/freeze.py``).

One correction: where the build task runs with ``sparkdeps[build]`` installed (a
cluster library, a serverless environment; ``three_task_job``'s job cluster reads this
set before switching to its private venv instead), it may have upgraded packaging,
pip, setuptools or wheel. The user's compute does not have those
upgrades, so for sparkdeps and the build extra's closure the set takes the profile's
version where the runtime has a profile, and leaves the package out otherwise (a
package the user needs is then shipped rather than assumed).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement

from .._core.runtimes import RuntimePackages, canonical_name, runtime_packages
from .._runtime.freeze import runtime_freeze

__all__ = ["build_footprint", "running_set_text"]

logger = logging.getLogger(__name__)

_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def _requirements(distribution: str, extra: str) -> Iterable[Requirement]:
    try:
        texts = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    chosen = []
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
            chosen.append(requirement)
    return chosen


def build_footprint() -> frozenset[str]:
    """sparkdeps and what ``sparkdeps[build]`` pulled in here (canonical names, installed)."""
    seen: set[str] = set()
    pending = [("sparkdeps", "build")]
    while pending:
        name, extra = pending.pop()
        key = canonical_name(name)
        if key in seen:
            continue
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(key)
        pending += [(req.name, "") for req in _requirements(name, extra)]
    return frozenset(seen)


def running_set_text(profile: str | None) -> str:
    """This interpreter's freeze text, with the build footprint corrected (see above)."""
    footprint = build_footprint()
    shipped: RuntimePackages | None = runtime_packages(profile) if profile else None
    lines: list[str] = []
    replaced: list[str] = []
    for line in runtime_freeze().splitlines():
        match = _LINE.match(line)
        name = canonical_name(match.group(1)) if match else None
        if name is None or name not in footprint:
            lines.append(line)
            continue
        version = shipped.version_of(name) if shipped else None
        replaced.append(f"{name}=={version}" if version else f"{name} (left out)")
        if version:
            lines.append(f"{name}=={version}")
    if replaced:
        logger.info(
            "runtime set read from this compute; sparkdeps[build]'s own packages taken from %s: %s",
            profile or "nowhere",
            ", ".join(sorted(replaced)),
        )
    return "\n".join(lines) + "\n"
