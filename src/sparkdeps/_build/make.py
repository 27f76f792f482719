"""Making a wheelhouse: from the plan (:mod:`.plan`) to ``wheelhouse.zip``.

Plan, weigh what ships against the cap, download the pinned wheels and build the
pinned sdists, check the whole set (one wheel per name, the target's tags, the
closure, no shadowed standard library) and write the zip with its manifest and
``pylock.toml``. :mod:`.publish` imports this only on a build cache miss.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from .._core.errors import BuildError, InputError, ResolutionError
from .._core.manifest import Bytecode, Manifest, WheelInfo, inspect_wheel
from .._core.paths import WHEELHOUSE_NAME
from .._core.stdlib import ALLOW_ENV, shadowing
from .._core.target import Target
from .._core.wheelhouse import PYLOCK_NAME, write_wheelhouse
from .bytecode import compile_wheels
from .clock import Clock
from .closure import ensure_closed, ensure_target_tags, ensure_unique_names
from .download import download
from .export import pylock_text
from .index import IndexSettings
from .inputs import InputLayout
from .plan import plan_input
from .recipe import Recipe
from .resolve import Pin
from .runtime_plan import RuntimePlan
from .sizes import ShipSize, weigh
from .wheels import build_sdist_pin

__all__ = ["make_wheelhouse"]

logger = logging.getLogger(__name__)


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
    ensure_unique_names(infos)
    ensure_target_tags(infos, target)
    roots = [line.requirement for line in planned.requirements]
    roots += [Requirement(str(info.name)) for info in planned.local.values()]
    provided = {p.name: p.version for p in plan.relied_on} if plan is not None else {}
    locks = planned.locks
    (locks.ensure_closed if locks.locked else ensure_closed)(
        infos, target, roots, provided=provided
    )
    _check_stdlib(infos)
    compiled = None
    if recipe.bytecode:
        with clock.phase("bytecode"):
            compiled = compile_wheels(sorted(wheels, key=lambda p: p.name), target, work)
    with clock.phase("wheelhouse"):
        inputs = {**layout.to_dict(), **locks.report(planned.resolution)}
        return _write(
            layout, inputs, target, wheels, plan=plan, roots=roots, work=work, compiled=compiled
        )


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
    compiled: tuple[Path, Bytecode] | None,
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
        bytecode=compiled[1] if compiled is not None else None,
    )
    out = work / WHEELHOUSE_NAME
    pylock = pylock_text(manifest).encode("utf-8")
    write_wheelhouse(
        list(wheels),
        manifest,
        out,
        extra={PYLOCK_NAME: pylock},
        bytecode=compiled[0] if compiled is not None else None,
    )
    return out, manifest


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
