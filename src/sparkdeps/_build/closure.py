"""Rules for a set of wheels: one wheel per name, every tag fits the target, every
dependency is in (the input's own wheels, then the whole wheelhouse)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .._core.errors import IncompatibleWheelError, InputError, ResolutionError
from .._core.manifest import WheelInfo
from .._core.target import Target

__all__ = ["ensure_closed", "ensure_target_tags", "ensure_unique_names"]


def ensure_unique_names(wheels: Iterable[WheelInfo]) -> None:
    """One wheel per distribution name; else InputError naming both."""
    seen: dict[str, str] = {}
    for info in wheels:
        if info.name in seen and seen[info.name] != info.filename:
            raise InputError(
                f"two wheels for {info.name}: {seen[info.name]} and {info.filename}; "
                "keep one version in the input"
            )
        seen[info.name] = info.filename


def ensure_target_tags(wheels: Iterable[WheelInfo], target: Target) -> None:
    """Every wheel must fit the target; else IncompatibleWheelError naming it."""
    for wheel in wheels:
        if not target.accepts(wheel.tag_set):
            raise IncompatibleWheelError(
                f"{wheel.filename} (tags {', '.join(wheel.tags)}) does not fit the target "
                f"{target.description} (accepts e.g. {target.abi}/abi3/none on "
                f"{target.platforms[0]})",
                fix="provide a wheel built for the target, or choose the target that matches "
                "the wheel",
            )


def _extras_requested(
    wheels: Sequence[WheelInfo], roots: Sequence[Requirement], env: dict[str, str]
) -> dict[str, set[str]]:
    requested: dict[str, set[str]] = {}
    for requirement in roots:
        requested.setdefault(canonicalize_name(requirement.name), set()).update(requirement.extras)
    changed = True
    while changed:  # extras pull more extras: iterate to a fixed point
        changed = False
        for wheel in wheels:
            for extra in ["", *sorted(requested.get(wheel.name, set()))]:
                for requirement in wheel.requirements():
                    marker = requirement.marker
                    if marker and not marker.evaluate({**env, "extra": extra}):
                        continue
                    bucket = requested.setdefault(canonicalize_name(requirement.name), set())
                    if not requirement.extras <= bucket:
                        bucket.update(requirement.extras)
                        changed = True
    return requested


def ensure_closed(
    wheels: Sequence[WheelInfo],
    target: Target,
    roots: Sequence[Requirement] = (),
    *,
    provided: Mapping[str, str] | None = None,
) -> None:
    """Every dependency (for the target's markers, extras included) must be in ``wheels``,
    or in ``provided`` (the runtime packages the wheelhouse relies on, name -> version)."""
    env = target.markers()
    have = {canonicalize_name(n): Version(v) for n, v in (provided or {}).items()}
    have.update({wheel.name: Version(wheel.version) for wheel in wheels})
    requested = _extras_requested(wheels, roots, env)
    missing: list[str] = []
    for wheel in wheels:
        for extra in ["", *sorted(requested.get(wheel.name, set()))]:
            for requirement in wheel.requirements():
                marker: Marker | None = requirement.marker
                if marker is not None and not marker.evaluate({**env, "extra": extra}):
                    continue
                name = canonicalize_name(requirement.name)
                version = have.get(name)
                if version is None or not requirement.specifier.contains(version, prereleases=True):
                    found = f" (found {version})" if version is not None else ""
                    entry = f"{requirement} needed by {wheel.name} {wheel.version}{found}"
                    if entry not in missing:
                        missing.append(entry)
    if missing:
        raise ResolutionError(
            "the wheelhouse is not closed: missing dependencies for "
            f"{target.description}:\n  " + "\n  ".join(missing),
            fix="make them available (index_url=, find_links=, or add their wheels to the input)",
        )
