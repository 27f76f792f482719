"""Locked inputs: which lock files rule the build, and the pins they give.

- A lock file (``pylock.toml``, ``pylock.<name>.toml``, ``uv.lock``, ``poetry.lock``) or
  a requirements file whose every line is ``==``-pinned with ``--hash`` is a **lock**:
  its packages are installed as locked, hashes checked, never re-resolved. One lock per
  folder rules (``pylock.toml``, then one ``pylock.<name>.toml``, ``uv.lock``,
  ``poetry.lock``); the others are named in the log and ignored.
- A lock in a project's folder gives that project's dependencies; the project itself is
  still built from the input.
- A ``requirements.txt``/``constraints.txt`` beside a project's ``pyproject.toml`` that is
  not a lock is read as **constraints** on the project's dependencies (what pip-tools and
  most users mean by it). Beside a lock, its pins must agree with the lock.
- With any lock, every other requirement of the input must already be satisfied by the
  locked set: nothing is added behind the lock's back.
- On a target with a runtime package set, a lock that pins a protected package at
  another version than the runtime's is a conflict (``runtime_conflict``), unless the
  user overrides that package; a pin equal to the runtime's is relied on, not shipped.

Which file pinned what goes to the build log and to the manifest's ``inputs``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from .._core.errors import LockError, ResolutionError, RuntimeConflictError
from .._core.manifest import WheelInfo
from .._core.target import Target
from .closure import ensure_closed
from .inputs import InputLayout
from .lockread import (
    LockSelection,
    is_locked_requirements,
    lock_fix,
    read_lock,
    requirements_lock,
)
from .requirements import RequirementLine, parse_requirements
from .resolve import Pin, Resolution
from .runtime_conflict import Conflict, _fitting_profiles, conflict_error
from .runtime_plan import RuntimeContext, runtime_meets

__all__ = ["LockPlan", "plan_locks"]

logger = logging.getLogger(__name__)


def _rank(name: str) -> int:
    if name == "pylock.toml":
        return 0
    if name.startswith("pylock."):
        return 1
    return {"uv.lock": 2, "poetry.lock": 3}.get(name, 4)


@dataclass(frozen=True)
class LockPlan:
    selections: tuple[LockSelection, ...] = ()
    locked_files: tuple[str, ...] = ()
    """Requirements files that are locks (not read again as requirements)."""
    constraints: tuple[RequirementLine, ...] = ()
    """Pins from files beside a project's pyproject.toml."""
    ignored: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def locked(self) -> bool:
        return bool(self.selections)

    def remaining(self, layout: InputLayout) -> InputLayout:
        """The layout without its locks: what is left to read as requirements."""
        files = tuple(f for f in layout.requirement_files if f not in self.locked_files)
        return replace(layout, requirement_files=files, locks=())

    def _merged(self) -> dict[NormalizedName, tuple[Pin, str]]:
        pins: dict[NormalizedName, tuple[Pin, str]] = {}
        for selection in self.selections:
            for package in selection.packages:
                pin = Pin(
                    package.name,
                    package.version,
                    hashes=package.hashes,
                    origin=package.origin or selection.path,
                )
                seen = pins.get(package.name)
                if seen is not None and Version(seen[0].version) != Version(pin.version):
                    raise LockError(
                        f"{seen[1]} pins {package.name}=={seen[0].version} but "
                        f"{selection.path} pins {package.name}=={pin.version}",
                        fix="make the locks agree (lock the projects together), or hand them "
                        "in separately",
                    )
                pins[package.name] = (pin, selection.path)
        return pins

    def resolution(
        self,
        local: Mapping[Path, WheelInfo],
        requirements: Sequence[RequirementLine],
        constraints: Sequence[RequirementLine],
        *,
        runtime: RuntimeContext | None = None,
    ) -> Resolution:
        """The locked pins plus the input's own wheels: no resolver involved."""
        locals_by_name = {info.name: (path, info) for path, info in local.items()}
        pins = {
            name: Pin(name, info.version, local=path)
            for name, (path, info) in locals_by_name.items()
        }
        merged = self._merged()
        if runtime is not None:
            _check_protected(merged, runtime)
        for name, (pin, origin) in merged.items():
            if name in pins:
                _check_local_agrees(pins[name], pin, origin, locals_by_name[name][1])
                logger.info("%s: %s is built from the input, not taken from the lock", origin, name)
                continue
            pins[name] = pin
        for selection in self.selections:
            shown = ", ".join(f"{p.name}=={p.version}" for p in selection.packages) or "nothing"
            logger.info("pinned by %s (%s lock): %s", selection.path, selection.kind, shown)
        self._check_lines(requirements, pins, "requires")
        self._check_lines(constraints, pins, "pins")
        return Resolution(tuple(sorted(pins.values(), key=lambda p: p.name)))

    def _check_lines(
        self, lines: Sequence[RequirementLine], pins: Mapping[NormalizedName, Pin], verb: str
    ) -> None:
        locks = ", ".join(s.path for s in self.selections)
        for line in lines:
            requirement = line.requirement
            if requirement.marker is not None and not requirement.marker.evaluate(dict(self.env)):
                continue
            pin = pins.get(canonicalize_name(requirement.name))
            if pin is None and verb == "pins":
                continue  # a constraint on something not installed holds
            if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
                found = f"the lock has {pin.version}" if pin else "the lock does not have it"
                raise LockError(
                    f"{line.origin} {verb} {line.text} but {found} ({locks}); sparkdeps never "
                    "re-resolves a lock",
                    fix="add it to the lock and regenerate the lock, or change the line",
                )

    def ensure_closed(
        self,
        wheels: Sequence[WheelInfo],
        target: Target,
        roots: Sequence[Any],
        *,
        provided: Mapping[str, str] | None = None,
    ) -> None:
        try:
            ensure_closed(wheels, target, roots, provided=provided)
        except ResolutionError as exc:
            fixes = "; ".join(f"{s.path}: {lock_fix(s.kind)}" for s in self.selections)
            hashed = [s.path for s in self.selections if s.kind == "requirements"]
            if hashed:
                fixes += (
                    f"; a file whose every line is pinned with --hash is a lock (as with pip's "
                    f"--require-hashes): add a pinned line with --hash=sha256:<digest> for each "
                    f"of them to {', '.join(hashed)}"
                )
            missing = "\n".join(line for line in str(exc).splitlines() if line.startswith("  "))
            raise LockError(
                f"the lock does not cover what the input needs for {target.description} "
                f"(missing dependencies):\n{missing}",
                fix=fixes,
            ) from exc

    def report(self, resolution: Resolution) -> dict[str, Any]:
        """For the manifest's ``inputs``: which file pinned which package."""
        pinned: dict[str, str] = {}
        for pin in resolution.pins:
            if pin.local is None and pin.origin:
                pinned[pin.name] = pin.origin
        for line in self.constraints:
            name = canonicalize_name(line.requirement.name)
            if name not in pinned and any(p.name == name for p in resolution.pins):
                pinned[name] = f"{line.origin.rsplit(':', 1)[0]} (constraint: {line.text})"
                logger.info("%s pinned %s", line.origin, line.text)
        out: dict[str, Any] = {}
        if self.selections:
            out["lock_files"] = {s.path: s.kind for s in self.selections}
        if pinned:
            out["pinned_by"] = dict(sorted(pinned.items()))
        if self.ignored:
            out["ignored_locks"] = list(self.ignored)
        return out


def _check_local_agrees(local: Pin, locked: Pin, lock: str, info: WheelInfo) -> None:
    """A wheel of the input and the lock must not disagree on a version: one would ship
    while the log said the other was pinned."""
    if Version(local.version) == Version(locked.version):
        return
    where = {"provided": "the input's wheel", "built": "a project of the input"}.get(
        info.source, "the input"
    )
    raise LockError(
        f"{lock} pins {locked.name}=={locked.version}, but {where} gives {info.filename} "
        f"({local.version})",
        fix=f"remove one of them (or build the input's {locked.name} at "
        f"{locked.version}), or regenerate the lock with {local.version}",
    )


def _check_protected(
    merged: Mapping[NormalizedName, tuple[Pin, str]], runtime: RuntimeContext
) -> None:
    """A lock pinning a protected package off the runtime's version is a conflict."""
    conflicts: list[Conflict] = []
    current = runtime.packages.name
    for name, have in sorted(runtime.protected().items()):
        entry = merged.get(canonicalize_name(name))
        if entry is None or runtime_meets(have, entry[0].version):
            continue
        pin, lock = entry
        wanted = f"=={pin.version}"
        conflicts.append(
            Conflict(
                name=name,
                runtime=current,
                runtime_version=have,
                wanted=pin.version,
                specifiers=(wanted,),
                chains=(f"{pin.origin or lock} pins {name}=={pin.version}",),
                profiles=tuple(_fitting_profiles(name, [wanted], current)),
            )
        )
    if conflicts:
        error = conflict_error(conflicts, "")
        locks = ", ".join(sorted({entry_lock for _, entry_lock in merged.values()}))
        raise RuntimeConflictError(
            f"{error}\nfor a lock ({locks}): regenerate it with the runtime's versions as "
            "constraints (e.g. `uv lock` with constraint-dependencies, or pip-compile -c), "
            "so the lock holds what the runtime has",
            error.conflicts,
        )


def _choose(locks: Iterable[str]) -> tuple[list[str], list[str]]:
    """One lock per folder; the rest are ignored (and said so)."""
    by_folder: dict[str, list[str]] = {}
    for lock in locks:
        by_folder.setdefault(lock.rpartition("/")[0], []).append(lock)
    chosen: list[str] = []
    ignored: list[str] = []
    for folder in sorted(by_folder):
        ranked = sorted(by_folder[folder], key=lambda p: (_rank(p.rpartition("/")[2]), p))
        first = ranked[0]
        named = [p for p in ranked if _rank(p.rpartition("/")[2]) == 1]
        if _rank(first.rpartition("/")[2]) == 1 and len(named) > 1:
            raise LockError(
                f"several named PEP 751 locks in {folder or 'the input'}: {', '.join(named)}",
                fix="keep one, or name the one to use pylock.toml",
            )
        chosen.append(first)
        for other in ranked[1:]:
            logger.warning("%s is ignored: %s rules that folder", other, first)
            ignored.append(other)
    return chosen, ignored


def plan_locks(
    layout: InputLayout,
    target: Target,
    *,
    work: Path,
    cache_dir: Path,
    allow_index_options: bool = False,
) -> LockPlan:
    """Read every lock of the input for ``target``; find the constraints beside projects."""
    chosen, ignored = _choose(layout.locks)
    selections = [
        read_lock(layout.root / lock, lock, target, work=work, cache_dir=cache_dir)
        for lock in chosen
    ]
    locked_files: list[str] = []
    for relative in layout.requirement_files:
        parsed = parse_requirements(
            layout.root / relative, layout.root, allow_index_options=allow_index_options
        )
        if is_locked_requirements(parsed):
            logger.info("%s: every line is pinned with a hash: installed as locked", relative)
            selections.append(requirements_lock(parsed, relative, target))
            locked_files.append(relative)
    constraints: list[RequirementLine] = []
    locked_folders = {lock.rpartition("/")[0] for lock in chosen}
    for relative in layout.beside_projects:
        parsed = parse_requirements(
            layout.root / relative, layout.root, allow_index_options=allow_index_options
        )
        folder = relative.rpartition("/")[0]
        if folder not in locked_folders and is_locked_requirements(parsed):
            logger.info("%s: every line is pinned with a hash: the project's lock", relative)
            selections.append(requirements_lock(parsed, relative, target))
            locked_folders.add(folder)
            continue
        lines = [*parsed.requirements, *parsed.constraints]
        logger.info(
            "%s beside %s: constraints on its dependencies: %s",
            relative,
            folder or "the project",
            ", ".join(line.text for line in lines) or "none",
        )
        constraints += lines
    return LockPlan(
        selections=tuple(selections),
        locked_files=tuple(locked_files),
        constraints=tuple(constraints),
        ignored=tuple(ignored),
        env={**target.markers(), "extra": ""},
    )
