"""Making a wheelhouse: read the input's requirements, build its own wheels, resolve, then
download and build the rest, check the whole and write ``wheelhouse.zip``.

:mod:`.pipeline` imports this only on a build cache miss (a warm rebuild never needs the
resolver, the downloader or the wheel builders); ``check`` stops after :func:`plan_input`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from .._core.errors import BuildError, InputError, ResolutionError
from .._core.manifest import Manifest, WheelInfo, inspect_wheel
from .._core.paths import WHEELHOUSE_NAME
from .._core.stdlib import ALLOW_ENV, shadowing
from .._core.target import Target
from .._core.wheelhouse import PYLOCK_NAME, write_wheelhouse
from .clock import Clock
from .closure import check_closure, check_target_tags
from .download import download
from .export import pylock_text
from .index import IndexSettings
from .inputs import InputLayout
from .locks import LockPlan, plan_locks
from .recipe import Recipe
from .requirements import ParsedRequirements, RequirementLine, parse_requirements
from .resolve import Pin, Resolution, resolve
from .runtime_conflict import guarded_error
from .runtime_plan import RuntimeContext, RuntimePlan, classify
from .sizes import ShipSize, weigh
from .wheels import build_project, build_sdist_pin, check_record, make_pure_wheel

__all__ = ["Planned", "make_wheelhouse", "plan_input", "runtime_plan"]

logger = logging.getLogger(__name__)


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
            f"{', '.join(layout.requirement_files)}: no requirements in the file(s); "
            "add one requirement per line, e.g. 'requests>=2.31'"
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
    _check_duplicates(local.values())
    check_target_tags(local.values(), target)
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
        plan = runtime_plan(resolution, context)
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


def make_wheelhouse(
    layout: InputLayout, recipe: Recipe, *, work: Path, cache_folder: Path, clock: Clock
) -> tuple[Path, Manifest]:
    """Plan (read, build local wheels, resolve), download and build the rest, check the
    whole, write ``wheelhouse.zip``."""
    planned = plan_input(layout, recipe, work=work, cache_folder=cache_folder, clock=clock)
    target, index, plan = recipe.target, planned.index, planned.plan
    pins, shipped = planned.resolution.pins, planned.shipped
    _check_size(weigh(shipped, target, index), recipe.max_size_mb)
    if planned.require_hashes:
        _check_all_hashed(shipped)
    if plan is not None:
        plan.warn_overrides()
    downloaded, built = _fetch_remote(
        shipped, target, index, work=work, cache_folder=cache_folder, clock=clock
    )
    wheels = {pin.local: planned.local[pin.local] for pin in pins if pin.local is not None}
    wheels.update({path: inspect_wheel(path, source="index") for path in downloaded})
    wheels.update({path: inspect_wheel(path, source="sdist") for path in built})
    infos = list(wheels.values())
    _check_duplicates(infos)
    check_target_tags(infos, target)
    roots = [line.requirement for line in planned.requirements]
    roots += [Requirement(str(info.name)) for info in planned.local.values()]
    provided = {p.name: p.version for p in plan.relied_on} if plan is not None else {}
    locks = planned.locks
    (locks.check_closure if locks.locked else check_closure)(
        infos, target, roots, provided=provided
    )
    _check_stdlib(infos)
    with clock.phase("wheelhouse"):
        inputs = {**layout.to_dict(), **locks.report(planned.resolution)}
        return _write(layout, inputs, target, wheels, plan=plan, roots=roots, work=work)


def _fetch_remote(
    shipped: Sequence[Pin],
    target: Target,
    index: IndexSettings,
    *,
    work: Path,
    cache_folder: Path,
    clock: Clock,
) -> tuple[list[Path], list[Path]]:
    """Download the pinned wheels, build the pinned sdists: (downloaded, built)."""
    with clock.phase("download", log=False):  # the download tracker logs its own end
        remote = [pin for pin in shipped if pin.local is None and not pin.sdist_only]
        downloaded = download(
            remote, target, index, work / "downloaded", cache_dir=cache_folder / "pip"
        )
    sdists = [pin for pin in shipped if pin.sdist_only]
    with clock.phase("build", log=bool(sdists)):
        built = [build_sdist_pin(pin, target, index, work / "sdists") for pin in sdists]
    return downloaded, built


def _write(
    layout: InputLayout,
    inputs: Mapping[str, Any],
    target: Target,
    wheels: dict[Path, WheelInfo],
    *,
    plan: RuntimePlan | None,
    roots: Sequence[Requirement],
    work: Path,
) -> tuple[Path, Manifest]:
    """The manifest (with the runtime section of a runtime-aware build), the zip, and the
    ``pylock.toml`` beside the manifest."""
    runtime_section = None
    if plan is not None:
        runtime_section = plan.manifest_section(list(wheels.values()), roots, target)
        wheels = {path: plan.mark(info) for path, info in wheels.items()}
    manifest = Manifest(
        format=layout.format,
        target=target.to_dict(),
        wheels=tuple(sorted(wheels.values(), key=lambda w: w.filename)),
        input_digest=layout.digest,
        inputs=inputs,
        runtime=runtime_section,
    )
    out = work / WHEELHOUSE_NAME
    pylock = pylock_text(manifest).encode("utf-8")
    write_wheelhouse(list(wheels), manifest, out, extra={PYLOCK_NAME: pylock})
    return out, manifest


def runtime_plan(resolution: Resolution, context: RuntimeContext | None) -> RuntimePlan | None:
    """Place every pin against the runtime (None for targets without a package set)."""
    if context is None:
        return None
    return classify(
        ((pin.name, pin.version, pin.local is not None) for pin in resolution.pins), context
    )


def _check_size(size: ShipSize, cap_mb: float | None) -> None:
    """Refuse, before any download, a wheelhouse heavier than the cap."""
    logger.info("the wheelhouse will hold %s", size.describe())
    if not cap_mb or size.total <= cap_mb * 1_000_000:
        return
    raise BuildError(
        f"the wheelhouse would ship {size.describe()}, over the {cap_mb:g} MB cap; nothing "
        "was downloaded. Ways out: rely on what the runtime has (build for a runtime profile "
        "or pass --runtime-packages; `sparkdeps check` shows what ships and why), pin the "
        "requirements that pull the heaviest packages to releases that need less, or raise "
        "the cap with --max-size MB (max_size_mb= in Python; 0: no cap)"
    )


def _check_stdlib(infos: Iterable[WheelInfo]) -> None:
    for info in infos:
        shadowed = shadowing(info.top_level)
        if shadowed:
            raise InputError(
                f"{info.filename} carries top-level {', '.join(shadowed)}, which would shadow "
                "the standard library on every node; rename or drop them, or set "
                f"{ALLOW_ENV}={','.join(shadowed)} if you really mean it"
            )


def _check_all_hashed(pins: Iterable[Pin]) -> None:
    # pip's --require-hashes covers dependencies too: keep that promise
    unhashed = [pin.spec for pin in pins if pin.local is None and not pin.hashes]
    if unhashed:
        raise ResolutionError(
            "--require-hashes is set but these resolved packages have no --hash: "
            + ", ".join(unhashed)
            + "; add a pinned line with --hash=sha256:<digest> for each of them to the "
            "requirements file, or remove --require-hashes"
        )


def _check_duplicates(infos: Iterable[WheelInfo]) -> None:
    seen: dict[str, str] = {}
    for info in infos:
        if info.name in seen and seen[info.name] != info.filename:
            raise InputError(
                f"two wheels for {info.name}: {seen[info.name]} and {info.filename}; "
                "keep one version in the input"
            )
        seen[info.name] = info.filename
