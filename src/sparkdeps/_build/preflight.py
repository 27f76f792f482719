"""The preflight of a build, ``check()``: what it would ship for a target, resolving only.

Reads the input, builds local projects (they are part of the resolution), and
resolves for the target with its runtime package set (docs/runtime-aware.md).
No wheel is downloaded and nothing is published: the answer is which packages
would ship (new, or shadowing the runtime's copy), which the runtime provides,
and which conflict with a protected package. It runs :mod:`.plan`, as ``build()`` does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from .._core.errors import RuntimeConflictError
from .._core.options import BuildKeywords, BuildOptions
from .._core.paths import cache_root
from .._core.target import Target
from .._core.timing import Timer
from .archive import ArchiveLimits
from .cache import BuildCache
from .clock import Clock
from .inputs import prepare_input
from .plan import Planned, plan_input
from .recipe import Recipe, option_keywords, recipe_for
from .runtime_conflict import Conflict, override_all
from .runtime_plan import Placement
from .runtime_relax import Relaxation
from .sizes import ShipSize, weigh

__all__ = ["CheckResult", "check", "format_check"]

if TYPE_CHECKING:  # Python 3.12 has it in typing
    from typing_extensions import Unpack


@dataclass(frozen=True)
class CheckResult:
    """What ``check()`` resolved: what would ship, what the runtime provides, what conflicts."""

    target: Target
    placements: tuple[Placement, ...]
    """Every resolved package: ``new``, ``shadows`` (ships over the runtime's) or ``runtime``."""
    conflicts: tuple[Conflict, ...] = ()
    overrides: tuple[str, ...] = ()
    seconds: float = 0.0
    relaxed: tuple[Relaxation, ...] = ()
    """Runtime packages the input moves off the runtime's version, with why."""
    size: ShipSize | None = None
    """What would ship weighs, from the index's file sizes (no wheel kept)."""
    max_size_mb: float | None = None
    """``build``'s cap; None: no cap."""

    @property
    def held_back(self) -> tuple[tuple[str, str, str], ...]:
        """(name, version, newest) of shipped packages older than the index's newest."""
        if self.size is None or self.target.runtime is None:
            return ()
        found: list[tuple[str, str, str]] = []
        for item in self.size.items:
            try:
                if item.newest and Version(item.newest) > Version(item.version):
                    found.append((item.name, item.version, item.newest))
            except InvalidVersion:
                continue
        return tuple(found)

    @property
    def over_cap(self) -> bool:
        cap = self.max_size_mb
        return bool(cap and self.size is not None and self.size.total > cap * 1_000_000)

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def shipped(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.status != "runtime")

    def to_dict(self) -> dict[str, Any]:
        runtime = self.target.runtime
        return {
            "ok": self.ok,
            "target": self.target.to_dict(),
            "runtime": None
            if runtime is None
            else {
                "name": runtime.name,
                "digest": runtime.digest,
                "packages": len(runtime.packages),
            },
            "overrides": list(self.overrides),
            "ship": [p.to_dict() for p in self.shipped],
            "runtime_provides": [p.to_dict() for p in self.placements if p.status == "runtime"],
            "shadows": [p.to_dict() for p in self.placements if p.status == "shadows"],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "relaxed": [r.to_dict() for r in self.relaxed],
            "size": None if self.size is None else self.size.to_dict(),
            "held_back": [{"name": n, "version": v, "newest": w} for n, v, w in self.held_back],
            "max_size_mb": self.max_size_mb,
            "seconds": round(self.seconds, 3),
        }


@option_keywords
def check(source: str | os.PathLike[str], **options: Unpack[BuildKeywords]) -> CheckResult:
    """Resolve ``source`` for the target as ``build`` would; build and publish nothing.

    The resolver may fetch a wheel to read its metadata where the index does not
    serve it apart (PEP 658); nothing is kept in a wheelhouse.

    A conflict with a protected runtime package is reported in ``conflicts``
    (``ok`` is False) rather than raised.
    Example: ``sparkdeps.check("requirements.txt", target="dbr-14.3").conflicts``.
    """
    timer = Timer()
    chosen = BuildOptions.of(options, "check")
    recipe = recipe_for(chosen)
    return _checked(source, recipe, timer, cache_dir=chosen.cache_dir, limits=chosen.limits)


def _checked(
    source: str | os.PathLike[str],
    recipe: Recipe,
    timer: Timer,
    *,
    cache_dir: str | os.PathLike[str] | None,
    limits: ArchiveLimits | None,
) -> CheckResult:
    work = Path(tempfile.mkdtemp(prefix="sparkdeps-check-"))
    try:
        layout = prepare_input(os.fspath(source), work / "input", limits or ArchiveLimits())
        cache = BuildCache(cache_root(cache_dir))
        planned = plan_input(layout, recipe, work=work, cache_folder=cache.root, clock=Clock())
    except RuntimeConflictError as exc:
        conflicts = tuple(c for c in exc.conflicts if isinstance(c, Conflict))
        return CheckResult(recipe.target, (), conflicts, recipe.overrides, timer.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = weigh(planned.shipped, recipe.target, planned.index)
    return CheckResult(
        recipe.target,
        _placements(planned),
        (),
        recipe.overrides,
        timer.seconds,
        planned.resolution.relaxed,
        size,
        recipe.max_size_mb,
    )


def _placements(planned: Planned) -> tuple[Placement, ...]:
    """Where each pin stands against the runtime; all new without a runtime package set."""
    if planned.plan is not None:
        return planned.plan.placements
    return tuple(Placement(pin.name, pin.version, "new") for pin in planned.resolution.pins)


def format_check(result: CheckResult) -> list[str]:
    """The table for people: one line per package, then conflicts and a summary."""
    runtime = result.target.runtime
    lines = [f"target:  {result.target.description}"]
    if runtime is not None:
        lines.append(
            f"runtime: {runtime.name} ({len(runtime.packages)} packages, "
            f"set {runtime.digest[:12]})"
            + (f"; overriding {', '.join(result.overrides)}" if result.overrides else "")
        )
    else:
        lines.append("runtime: none (explicit target: the full closure ships)")
    if result.placements:
        lines += _table(result.placements)
    for relaxation in result.relaxed:
        lines.extend(relaxation.describe())
    if result.held_back:
        lines.append(
            "older than the newest release (held back by the runtime's versions or the "
            "input; --prefer-newest takes the newest and moves what it needs): "
            + ", ".join(f"{n} {v} (newest {w})" for n, v, w in result.held_back)
        )
    for conflict in result.conflicts:
        lines.extend(_conflict_lines(conflict))
    lines.append(_summary(result))
    return lines


def _status(item: Placement) -> str:
    status = {"new": "ship (new)", "shadows": "ship (shadows)", "runtime": "runtime"}[item.status]
    return status + " OVERRIDE" if item.protected and item.status == "shadows" else status


def _table(placements: Sequence[Placement]) -> list[str]:
    """Columns as wide as their widest cell, header included (short names: ``package``)."""
    rows = [(p.name, p.version, _status(p), p.runtime_version or "-") for p in placements]
    header = ("package", "version", "status", "runtime has")
    widths = [max(len(row[column]) for row in [header, *rows]) + 2 for column in range(3)]
    return [
        "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + row[3]
        for row in [header, *rows]
    ]


def _conflict_lines(conflict: Conflict) -> Sequence[str]:
    asked = ", ".join(conflict.specifiers) or conflict.wanted
    has = conflict.runtime_version or "none (an ML runtime builds its own)"
    out = [f"CONFLICT {conflict.name}: runtime has {has} (protected), input needs {asked}"]
    out += [f"  via {chain}" for chain in conflict.chains]
    if conflict.profiles:
        out.append("  fits on: " + ", ".join(f"{p} ({v})" for p, v in conflict.profiles))
    out.append(f"  or ship it anyway: --override-runtime {conflict.name}")
    return out


def _summary(result: CheckResult) -> str:
    if result.conflicts:
        names = ", ".join(c.name for c in result.conflicts)
        summary = f"not buildable for this runtime: conflict with protected {names}"
        if len(result.conflicts) > 1:
            summary += "\nor ship them all anyway: " + override_all(names.split(", "))
        return summary
    shadows = sum(1 for p in result.placements if p.status == "shadows")
    provided = sum(1 for p in result.placements if p.status == "runtime")
    weight = f", {result.size.describe()}" if result.size is not None else ""
    summary = (
        f"would ship {len(result.shipped)} wheel(s){weight} ({shadows} shadowing the runtime); "
        f"the runtime provides {provided}; resolved in {result.seconds:.1f}s, "
        "nothing built or published"
    )
    if result.over_cap:
        summary += (
            f"\nbuild would refuse: over the {result.max_size_mb:g} MB cap "
            "(--max-size MB, max_size_mb= in Python; 0: no cap)"
        )
    return summary
