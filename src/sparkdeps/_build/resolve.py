"""Resolution for the target: ``uv pip compile`` pins every package.

pip evaluates environment markers for the host even with ``--python-version``
(docs/facts.md, fact 5), so the resolver is uv, asked for the target's Python and
platform with wheels only. Local wheels (provided, built from projects, the
generated one) enter the same compile as ``name @ file://`` references, so a
conflict between a requirement and a project's dependency comes out of uv.
Downloading the pinned files is :mod:`.download`; checking the result is
:mod:`.closure`; where packages come from is :mod:`.index`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .._core.errors import ResolutionError
from .._core.manifest import WheelInfo
from .._core.progress import plural
from .._core.runner import redact
from .._core.target import Target
from .backend import CompileFailure, CompileRequest, Lock, LockedFile, Resolver, UvResolver
from .depgraph import Graph, MetadataReader, dependency_graph
from .fetch_http import FileCache
from .index import IndexSettings, unreachable_error
from .requirements import RequirementLine
from .runtime_conflict import conflict_error, find_conflicts
from .runtime_first import NoWheel, Pass, Unmet, resolve_runtime_first
from .runtime_plan import RuntimeContext
from .runtime_relax import Relaxation
from .suggest import close_names

__all__ = ["IndexSettings", "Pin", "Resolution", "resolve"]

logger = logging.getLogger(__name__)
_MAX_SDIST_ROUNDS = 5


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    local: Path | None = None
    """The wheel file, for local wheels (provided, built, generated)."""
    sdist_only: bool = False
    """No wheel exists for the target: the sdist must be built (and be pure)."""
    hashes: tuple[str, ...] = ()
    origin: str = ""
    """``file:line`` of the requirement that gave the hashes, for messages."""
    files: tuple[LockedFile, ...] = ()
    """The target's wheels the resolver's lock names (URL, sha256); empty for a pin read
    from a lock of the input, which pip then finds by name and version."""

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]
    relaxed: tuple[Relaxation, ...] = ()
    """Runtime packages the input moves off the runtime's version, and why."""
    explain: Callable[[], Graph] | None = field(default=None, compare=False, repr=False)
    """The resolution's edges (:mod:`.depgraph`), read on demand: only an error needs them."""

    @property
    def remote(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.local is None and not pin.sdist_only)

    @property
    def sdists(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.sdist_only)

    def graph(self) -> Graph:
        return self.explain() if self.explain is not None else Graph()


def resolve(
    requirements: Sequence[RequirementLine],
    constraints: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    *,
    target: Target,
    index: IndexSettings,
    work: Path,
    cache_dir: Path,
    origins: Mapping[str, str] | None = None,
    runtime: RuntimeContext | None = None,
    resolver: Resolver | None = None,
) -> Resolution:
    """Pin every package for ``target``; local wheels are part of the same resolution.

    ``origins`` names where each local wheel came from (for conflict messages).
    With ``runtime``, the input is resolved runtime-first (docs/runtime-aware.md):
    the runtime's packages as they are, relaxing the fewest where the input cannot
    be met so; a conflict with a protected package raises :class:`RuntimeConflictError`.
    """
    lines = [f"{info.name} @ {path.absolute().as_uri()}" for path, info in local_wheels.items()]
    lines += [line.text for line in requirements]
    source = work / "requirements.in"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    user = [c.text for c in constraints]
    reader = MetadataReader(FileCache(cache_dir.parent / "files"), index)

    def graph_of(lock: Lock) -> Graph:
        return dependency_graph(lock, target, roots=lines, constraints=user, reader=reader)

    request = _Request(
        requirements, constraints, local_wheels, target, index, work, origins or {}, runtime,
        CompileRequest(source, work / "pylock.toml", target, index, cache_dir),
        resolver or UvResolver(), graph_of,
    )  # fmt: skip
    relaxed: tuple[Relaxation, ...] = ()
    if runtime is None:
        lock, sdist_only = _pass(request, user, Pass("pins"))
    else:
        lock, sdist_only, relaxed = resolve_runtime_first(
            functools.partial(_pass, request),
            user=user,
            runtime=runtime,
            requirements=requirements,
            local_lines=lines[: len(local_wheels)],
            stubs_root=cache_dir.parent / "runtime-stubs",
            target=target,
            graph_of=graph_of,
        )
    pins = _read_pins(lock, requirements, local_wheels, sdist_only)
    logger.info("resolved %s for %s", plural(len(pins), "package"), target.description)
    explain = (lambda: graph_of(lock)) if runtime is not None else None
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), relaxed, explain)


def _pass(
    request: _Request, constraint_lines: Sequence[str], options: Pass
) -> tuple[Lock, list[str]]:
    """One ``uv pip compile``: (its lock, the packages that come as sdists)."""
    stem = options.name.replace(".", "-")  # PEP 751: pylock.<name>.toml, no dot in the name
    compile_request = replace(
        request.compile,
        output=request.work / f"pylock.{stem}.toml",
        find_links=(options.stubs,) if options.stubs is not None else (),
        seed=options.seed,
    )
    if constraint_lines:
        constraints_file = request.work / f"{stem}-constraints.txt"
        constraints_file.write_text("\n".join(constraint_lines) + "\n", "utf-8")
        compile_request = replace(compile_request, constraints=constraints_file)
    if options.requirement_lines is not None:  # another input than the user's
        source = request.work / f"{stem}.in"
        source.write_text("".join(line + "\n" for line in options.requirement_lines), "utf-8")
        compile_request = replace(compile_request, source=source)
    return _compile(
        request, compile_request, strict=options.strict, stand_in_for=options.stand_in_for
    )


@dataclass(frozen=True)
class _Request:
    """What one resolution was asked: for the compile and for explaining its failure."""

    requirements: Sequence[RequirementLine]
    constraints: Sequence[RequirementLine]
    local_wheels: Mapping[Path, WheelInfo]
    target: Target
    index: IndexSettings
    work: Path
    origins: Mapping[str, str]
    runtime: RuntimeContext | None
    compile: CompileRequest
    """The compile of the input as given; each pass is a variant of it."""
    resolver: Resolver
    graph_of: Callable[[Lock], Graph]


def _compile(
    request: _Request,
    compile_request: CompileRequest,
    *,
    strict: bool = True,
    stand_in_for: Collection[str] = (),
) -> tuple[Lock, list[str]]:
    """Run uv; a package with no wheel for the target is retried as the one sdist allowed.

    Returns the lock and the packages that come as sdists; any other failure is
    explained (or, with ``strict=False``, raised as :class:`Unmet`). A package of
    ``stand_in_for`` with no wheel raises :class:`NoWheel`: the runtime's own copy can
    stand in.
    """
    sdist_only: list[str] = []
    for _round in range(_MAX_SDIST_ROUNDS):
        attempt = replace(compile_request, sdist_only=tuple(sdist_only))
        result = request.resolver.compile(attempt, what="resolving with uv")
        if isinstance(result, Lock):
            return result, sdist_only
        if result.kind == "unreachable":
            raise unreachable_error(result.error, request.index) from result.error
        fresh = [n for n in result.no_wheel if n not in sdist_only]
        standing = [n for n in dict.fromkeys([*fresh, *result.no_matching]) if n in stand_in_for]
        if standing:
            raise NoWheel(result.error, standing) from result.error
        if not fresh:
            if not strict:
                raise Unmet(result.error) from result.error
            _fail(request, result, attempt)
        logger.info("no wheel for %s: retrying with its sdist", ", ".join(fresh))
        sdist_only.extend(fresh)
    target = request.target
    raise ResolutionError(f"could not resolve for {target.description}: too many sdist rounds")


def _fail(request: _Request, failure: CompileFailure, attempt: CompileRequest) -> NoReturn:
    """A runtime conflict when the runtime's pins caused it, else uv's reason explained."""
    runtime = request.runtime
    if runtime is not None and runtime.constraint_lines():
        _diagnose(failure, attempt, runtime, request)
    raise _explain(failure, request) from failure.error


def _read_pins(
    lock: Lock,
    requirements: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    sdist_only: Sequence[str],
) -> list[Pin]:
    """The lock's packages as :class:`Pin` s: local wheels by path, hashes from the requirements."""
    hashed = {
        canonicalize_name(line.requirement.name): line for line in requirements if line.hashes
    }
    by_path = {path.absolute(): path for path in local_wheels}
    by_name = {info.name: path for path, info in local_wheels.items()}
    pins: list[Pin] = []
    for package in lock.packages:
        paths = [file.path.absolute() for file in package.wheels if file.path is not None]
        local = next((by_path[p] for p in paths if p in by_path), None)
        if local is None and paths and package.name in by_name:  # the same file, another path
            local = by_name[package.name]
        if local is not None:
            pins.append(Pin(package.name, local_wheels[local].version, local=local))
            continue
        line = hashed.get(package.name)
        pins.append(
            Pin(
                package.name,
                package.version,
                sdist_only=package.name in sdist_only,
                hashes=line.hashes if line else (),
                origin=line.origin if line else "",
                files=package.wheels,
            )
        )
    return pins


def _diagnose(
    failure: CompileFailure, attempt: CompileRequest, runtime: RuntimeContext, request: _Request
) -> None:
    """Raise RuntimeConflictError when the protected pins are what made uv fail.

    Resolves once more without them: protected packages that this moves off the
    runtime's version are the conflicts, with their chains (:mod:`.depgraph`).
    """
    free = request.work / "diagnose"
    free.mkdir(exist_ok=True)
    user = [c.text for c in request.constraints]
    constraints = None
    if user:
        constraints = free / "constraints.txt"
        constraints.write_text("\n".join(user) + "\n", "utf-8")
    unpinned = replace(
        attempt,
        output=free / "pylock.toml",
        constraints=constraints,
        seed=tuple(runtime.preference_lines()),
    )
    result = request.resolver.compile(
        unpinned, what="resolving without the runtime's pins (to explain a conflict)"
    )
    if not isinstance(result, Lock):
        return  # it fails without the pins too: not (only) a runtime conflict
    conflicts = find_conflicts(
        request.graph_of(result),
        runtime,
        requirements=request.requirements,
        constraints=request.constraints,
        local_wheels=request.local_wheels,
        origins=request.origins,
    )
    if conflicts:
        raise conflict_error(conflicts, failure.error.output) from failure.error


def _explain(failure: CompileFailure, request: _Request) -> ResolutionError:
    """uv's reason, who asks for the packages it names, and the fix."""
    reason = "\n".join(
        line
        for line in failure.error.output.splitlines()
        if line.strip() and not line.startswith("warning:") and "cause: Request failed" not in line
    ).strip()
    mentioned = failure.mentioned
    sources: list[str] = []
    for line in request.requirements:
        if canonicalize_name(line.requirement.name) in mentioned:
            sources.append(f"  {line.origin} requires {line.text}")
    for path, info in request.local_wheels.items():
        origin = request.origins.get(info.name, path.name)
        for text in info.requires:
            if canonicalize_name(Requirement(text).name) in mentioned:
                sources.append(f"  {origin} ({info.name} {info.version}) requires {text}")
    message = f"cannot resolve the requirements for {request.target.description}:\n{reason}"
    absent = sorted(failure.missing)
    if sources:
        what = "who asks for them" if absent else "where the conflicting requirements come from"
        message += f"\n{what}:\n" + "\n".join(sources)
    if absent:
        return ResolutionError(
            redact(message + "\n" + _missing_fix(absent, request.index)), fix=_MISSING_FIX
        )
    return ResolutionError(
        redact(message),
        fix="relax or align the version constraints above, or check that the index "
        "holds the packages for this target",
    )


def _missing_fix(absent: Sequence[str], index: IndexSettings) -> str:
    """Name the missing packages, close names the index has, and where they were looked for
    (the fix for a missing name is :data:`_MISSING_FIX`)."""
    close = close_names(absent, index)
    named = []
    for name in absent:
        near = close.get(name) or []
        named.append(f"{name} (did you mean {' or '.join(near)}?)" if near else name)
    message = f"missing (not on the index or find-links): {', '.join(named)}"
    return message + f"\nlooked in: {index.shown()}"


_MISSING_FIX = (
    "check the spelling of each name above in your requirements; if the package is private, "
    "add the index or folder that holds it (index_url= / --extra-index-url / --find-links)"
)
