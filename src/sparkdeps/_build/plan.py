"""Planning a wheelhouse: read the input's requirements, build its own wheels, resolve.

The first half of making a wheelhouse, and all of ``check()`` (:mod:`.preflight`):
nothing is downloaded yet. :mod:`.make` takes a :class:`Planned` on to
``wheelhouse.zip``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._core.errors import InputError
from .._core.manifest import WheelInfo, inspect_wheel
from .clock import Clock
from .closure import ensure_target_tags, ensure_unique_names
from .index import IndexSettings
from .inputs import InputLayout
from .locks import LockPlan, plan_locks
from .recipe import Recipe
from .requirements import ParsedRequirements, RequirementLine, parse_requirements
from .resolve import Pin, Resolution, resolve
from .runtime_conflict import guarded_error
from .runtime_plan import RuntimeContext, RuntimePlan, classify
from .wheels import build_project, check_record, make_pure_wheel

__all__ = ["Planned", "plan_input"]


def _read_requirements(layout: InputLayout, allow_index_options: bool) -> ParsedRequirements:
    """Every requirements file of the input, read once (a file included by ``-r`` is not
    read again), as one :class:`ParsedRequirements`."""
    parts: list[ParsedRequirements] = []
    included: set[str] = set()
    for relative in layout.requirement_files:
        if relative in included:
            continue  # already read through another file's -r
        parsed = parse_requirements(
            layout.root / relative, layout.root, allow_index_options=allow_index_options
        )
        included.update(parsed.files)
        parts.append(parsed)
    combined = ParsedRequirements(
        requirements=tuple(line for part in parts for line in part.requirements),
        constraints=tuple(line for part in parts for line in part.constraints),
        files=tuple(dict.fromkeys(name for part in parts for name in part.files)),
        index_url=next((part.index_url for part in parts if part.index_url), None),
        extra_index_urls=tuple(
            dict.fromkeys(url for part in parts for url in part.extra_index_urls)
        ),
        find_links=tuple(dict.fromkeys(link for part in parts for link in part.find_links)),
        no_index=any(part.no_index for part in parts),
        editables=tuple(path for part in parts for path in part.editables),
        require_hashes=any(part.require_hashes for part in parts),
    )
    if not combined.requirements and layout.kinds == ("requirements",):
        raise InputError(
            f"{', '.join(layout.requirement_files)}: no requirements in the file(s)",
            fix="add one requirement per line, e.g. 'requests>=2.31'",
        )
    return combined


def _local_wheels(
    layout: InputLayout, editables: Sequence[str], recipe: Recipe, index: IndexSettings, out: Path
) -> tuple[dict[Path, WheelInfo], dict[str, str]]:
    """The input's own wheels: handed in, built from its projects, generated from its
    modules; with where each came from (for conflict messages)."""
    out.mkdir()
    local: dict[Path, WheelInfo] = {}
    origins: dict[str, str] = {}
    for relative in layout.wheels:
        copied = out / Path(relative).name
        shutil.copyfile(layout.root / relative, copied)
        info = inspect_wheel(copied, source="provided")
        check_record(copied, relative)
        local[copied] = info
        origins[info.name] = f"wheel {relative}"
    for relative in dict.fromkeys([*layout.projects, *editables]):
        wheel = build_project(
            layout.root / relative,
            out,
            index=index,
            isolation=recipe.build_isolation,
            origin=relative or ".",
        )
        info = inspect_wheel(wheel, source="built")
        local[wheel] = info
        origins[info.name] = f"project {relative or '.'}"
    if layout.modules:
        wheel = make_pure_wheel(layout.root, layout.modules, recipe.name or layout.name, out)
        info = inspect_wheel(wheel, source="generated")
        local[wheel] = info
        origins[info.name] = "modules " + ", ".join(layout.modules)
    return local, origins


@dataclass(frozen=True)
class Planned:
    """The input read, local wheels built and everything resolved: nothing downloaded yet."""

    requirements: Sequence[RequirementLine]
    index: IndexSettings
    local: dict[Path, WheelInfo]
    resolution: Resolution
    plan: RuntimePlan | None
    require_hashes: bool
    locks: LockPlan = field(default_factory=LockPlan)
    """The input's locks: when there are any, ``resolution`` is theirs
    (docs/how-to/locked-inputs.md)."""

    @property
    def shipped(self) -> list[Pin]:
        """The pins that ship: all of them, less what the runtime provides."""
        return [p for p in self.resolution.pins if self.plan is None or self.plan.ships(p.name)]


def plan_input(
    layout: InputLayout, recipe: Recipe, *, work: Path, cache_folder: Path, clock: Clock
) -> Planned:
    """Read requirements, build local projects and resolve (``check`` stops here)."""
    locks = plan_locks(
        layout,
        recipe.target,
        work=work,
        cache_dir=cache_folder / "uv",
        allow_index_options=recipe.allow_index_options,
    )
    read = _read_requirements(locks.remaining(layout), recipe.allow_index_options)
    constraints = [*read.constraints, *locks.constraints]
    index, target = recipe.index, recipe.target
    if recipe.allow_index_options:
        index = index.merged(
            IndexSettings(read.index_url, read.extra_index_urls, read.find_links, read.no_index)
        )
    with clock.phase("build", log=bool(layout.projects or read.editables or layout.modules)):
        local, origins = _local_wheels(layout, read.editables, recipe, index, work / "local")
    ensure_unique_names(local.values())
    ensure_target_tags(local.values(), target)
    context = RuntimeContext.of(target, recipe.overrides, prefer_newest=recipe.prefer_newest)
    if context is not None:
        _refuse_client_libraries(read.requirements, local.values())
    with clock.phase("resolve"):
        if locks.locked:  # installed as locked: no resolver
            resolution = locks.resolution(local, read.requirements, constraints, runtime=context)
        else:
            resolution = resolve(
                read.requirements,
                constraints,
                local,
                target=target,
                index=index,
                work=work,
                cache_dir=cache_folder / "uv",
                origins=origins,
                runtime=context,
            )
        plan = _placed(resolution, context)
    if plan is not None and context is not None:
        if plan.status(_CONNECT) is not None:
            raise InputError(f"{_CONNECT} is required by the input's dependencies; {_WHY_NOT}")
        guarded = [
            (p.name, p.version)
            for p in plan.placements
            if p.status == "new" and context.guarded_new(p.name)
        ]
        if guarded:
            raise guarded_error(
                guarded, context, graph=resolution.graph(), requirements=read.requirements
            )
    return Planned(read.requirements, index, local, resolution, plan, read.require_hashes, locks)


_CONNECT = "databricks-connect"
_WHY_NOT = (
    "it is a client library for running Spark code from outside a cluster, and on a "
    "cluster it replaces the runtime's pyspark with its own; keep it in your local "
    "development requirements, not in what ships to the cluster"
)


def _refuse_client_libraries(
    requirements: Sequence[RequirementLine], local: Iterable[WheelInfo]
) -> None:
    """databricks-connect never ships to a runtime (docs/runtime-aware.md)."""
    for line in requirements:
        if line.requirement.name.lower().replace("_", "-") == _CONNECT:
            raise InputError(f"{line.origin}: {line.text}: {_CONNECT} is refused: {_WHY_NOT}")
    for info in local:
        for requirement in info.requirements():
            if requirement.name.lower().replace("_", "-") == _CONNECT:
                raise InputError(
                    f"{info.filename} requires {requirement}: {_CONNECT} is refused: {_WHY_NOT}"
                )


def _placed(resolution: Resolution, context: RuntimeContext | None) -> RuntimePlan | None:
    """Place every pin against the runtime (None for targets without a package set)."""
    if context is None:
        return None
    return classify(
        ((pin.name, pin.version, pin.local is not None) for pin in resolution.pins), context
    )
