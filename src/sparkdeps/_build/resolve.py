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

import logging
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .._core.errors import CommandError, ResolutionError, ResolveCommandError
from .._core.manifest import WheelInfo
from .._core.progress import plural
from .._core.runner import clean_env, redact, run, uv_command
from .._core.target import Target
from .index import IndexSettings, is_unreachable, unreachable_error
from .requirements import RequirementLine
from .runtime_conflict import conflict_error, find_conflicts
from .runtime_first import NoWheel, Unmet, resolve_runtime_first
from .runtime_plan import RuntimeContext
from .runtime_relax import Relaxation
from .suggest import close_names

__all__ = ["IndexSettings", "Pin", "Resolution", "resolve"]

logger = logging.getLogger(__name__)
_NO_WHEEL = re.compile(r"Wheels are required for `([^`]+)`")
# a hard-pinned version whose wheels are all for other tags (the runtime built its own)
_NO_MATCHING = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ has no wheels with a matching")
_NOT_FOUND = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*) was not found in the")
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

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]
    relaxed: tuple[Relaxation, ...] = ()
    """Runtime packages the input moves off the runtime's version, and why."""
    via: str = ""
    """uv's annotated pins (``# via`` lines) of a runtime-aware resolution."""

    @property
    def remote(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.local is None and not pin.sdist_only)

    @property
    def sdists(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.sdist_only)


def _uv_base(target: Target, cache_dir: Path, *, annotate: bool = False) -> list[str]:
    command = [*uv_command(), "pip", "compile", "--no-config", "--no-header"]
    command.append("--annotate" if annotate else "--no-annotate")
    # uv must never fetch a managed Python from the internet: use the running one to build
    command += ["--no-python-downloads", "--python", sys.executable]
    command += ["--cache-dir", str(cache_dir)]
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not (target.native and target.python_version == host):
        command += ["--python-version", target.python_full_version or target.python_version]
        command += ["--python-platform", target.uv_platform]
    return command


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
) -> Resolution:
    """Pin every package for ``target``; local wheels are part of the same resolution.

    ``origins`` names where each local wheel came from (for conflict messages).
    With ``runtime``, the input is resolved runtime-first (docs/runtime-aware.md):
    the runtime's packages as they are, relaxing the fewest where the input cannot
    be met so; a conflict with a protected package raises :class:`RuntimeConflictError`.
    """
    request = _Request(
        requirements, constraints, local_wheels, target, index, work, origins or {}, runtime
    )
    lines = [f"{info.name} @ {path.absolute().as_uri()}" for path, info in local_wheels.items()]
    lines += [line.text for line in requirements]
    (work / "requirements.in").write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = [*_uv_base(target, cache_dir, annotate=runtime is not None), "--only-binary", ":all:"]
    base += index.args()
    user = [c.text for c in constraints]
    relaxed: tuple[Relaxation, ...] = ()
    if runtime is None:
        output, sdist_only = _pass(request, base, user, name="pins")
    else:

        def compile_pass(constraint_lines: Sequence[str], **options: Any) -> tuple[Path, list[str]]:
            return _pass(request, base, constraint_lines, **options)

        output, sdist_only, relaxed = resolve_runtime_first(
            compile_pass,
            user=user,
            runtime=runtime,
            requirements=requirements,
            local_lines=lines[: len(local_wheels)],
            stubs_root=cache_dir.parent / "runtime-stubs",
            target=target,
        )
    pins = _read_pins(output, requirements, local_wheels, sdist_only)
    logger.info("resolved %s for %s", plural(len(pins), "package"), target.description)
    via = output.read_text("utf-8") if runtime is not None else ""
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)), relaxed, via)


def _pass(
    request: _Request,
    base: Sequence[str],
    constraint_lines: Sequence[str],
    *,
    name: str,
    seed: Sequence[str] = (),
    stubs: Path | None = None,
    strict: bool = True,
    requirement_lines: Sequence[str] | None = None,
    stand_in_for: Collection[str] = (),
) -> tuple[Path, list[str]]:
    """One ``uv pip compile``: (its pins file, the packages that come as sdists).

    ``seed`` pre-fills the output file (uv keeps those pins where it can); ``stubs`` is
    a folder of runtime stand-ins; ``strict=False`` raises :class:`Unmet` instead of
    explaining a failure.
    """
    command = list(base)
    if stubs is not None:
        command += ["--find-links", str(stubs)]
    if constraint_lines:
        constraints_file = request.work / f"{name}-constraints.txt"
        constraints_file.write_text("\n".join(constraint_lines) + "\n", "utf-8")
        command += ["--constraint", str(constraints_file)]
    output = request.work / f"{name}.txt"
    output.write_text("".join(line + "\n" for line in seed), "utf-8")
    source = request.work / "requirements.in"
    if requirement_lines is not None:  # another input than the user's (runtime_first)
        source = request.work / f"{name}.in"
        source.write_text("".join(line + "\n" for line in requirement_lines), "utf-8")
    files = ["-o", str(output), str(source)]
    return output, _compile(request, command, files, strict=strict, stand_in_for=stand_in_for)


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


def _compile(
    request: _Request,
    command: Sequence[str],
    files: Sequence[str],
    *,
    strict: bool = True,
    stand_in_for: Collection[str] = (),
) -> list[str]:
    """Run uv; a package with no wheel for the target is retried as the one sdist allowed.

    Returns the packages that come as sdists; any other failure is explained (or,
    with ``strict=False``, raised as :class:`Unmet`). A package of ``stand_in_for``
    with no wheel raises :class:`NoWheel`: the runtime's own copy can stand in.
    """
    sdist_only: list[str] = []
    env = clean_env(request.index.uv_env())
    for _round in range(_MAX_SDIST_ROUNDS):
        attempt = list(command)
        for name in sdist_only:
            attempt += ["--no-binary", name]  # only this package may come as an sdist
        attempt += files
        try:
            run(attempt, what="resolving with uv", env=env, error=ResolveCommandError)
        except CommandError as exc:
            if is_unreachable(exc.output):
                raise unreachable_error(exc, request.index) from exc
            missing = [canonicalize_name(n) for n in _NO_WHEEL.findall(exc.output)]
            fresh = [n for n in missing if n not in sdist_only]
            foreign = [canonicalize_name(n) for n in _NO_MATCHING.findall(exc.output)]
            standing = [n for n in dict.fromkeys(fresh + foreign) if n in stand_in_for]
            if standing:
                raise NoWheel(exc, standing) from exc
            if not fresh:
                if not strict:
                    raise Unmet(exc) from exc
                _fail(request, exc, attempt, env)
            logger.info("no wheel for %s: retrying with its sdist", ", ".join(fresh))
            sdist_only.extend(fresh)
            continue
        return sdist_only
    target = request.target
    raise ResolutionError(f"could not resolve for {target.description}: too many sdist rounds")


def _fail(
    request: _Request, exc: CommandError, attempt: list[str], env: dict[str, str]
) -> NoReturn:
    """A runtime conflict when the runtime's pins caused it, else uv's reason explained."""
    runtime = request.runtime
    if runtime is not None and runtime.constraint_lines():
        _diagnose(exc, attempt, runtime, request, env)
    raise _explain(exc, request) from exc


def _read_pins(
    output: Path,
    requirements: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    sdist_only: Sequence[str],
) -> list[Pin]:
    """uv's pins file as :class:`Pin` s: local wheels by path, hashes from the requirements."""
    hashed = {
        canonicalize_name(line.requirement.name): line for line in requirements if line.hashes
    }
    by_uri = {path.absolute().as_uri(): path for path in local_wheels}
    by_name = {info.name: path for path, info in local_wheels.items()}
    pins: list[Pin] = []
    for raw in output.read_text(encoding="utf-8").splitlines():
        text = raw.split("#", 1)[0].strip() if " @ " not in raw else raw.strip()
        if not text or text.startswith("-"):
            continue
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if requirement.url:
            path = by_uri.get(requirement.url) or by_name.get(name)
            if path is None:
                raise ResolutionError(f"uv returned an unexpected reference {redact(text)}")
            pins.append(Pin(name, local_wheels[path].version, local=path))
            continue
        line = hashed.get(name)
        pins.append(
            Pin(
                name,
                str(next(iter(requirement.specifier)).version),
                sdist_only=name in sdist_only,
                hashes=line.hashes if line else (),
                origin=line.origin if line else "",
            )
        )
    return pins


def _diagnose(
    exc: CommandError,
    attempt: Sequence[str],
    runtime: RuntimeContext,
    request: _Request,
    env: dict[str, str],
) -> None:
    """Raise RuntimeConflictError when the protected pins are what made uv fail.

    Resolves once more without them (and with ``# via`` annotations): protected
    packages that this moves off the runtime's version are the conflicts.
    """
    free = request.work / "diagnose"
    free.mkdir(exist_ok=True)
    user = [c.text for c in request.constraints]
    command = [arg if arg != "--no-annotate" else "--annotate" for arg in attempt[:-3]]
    if "--constraint" in command:
        at = command.index("--constraint")
        del command[at : at + 2]
    if user:
        (free / "constraints.txt").write_text("\n".join(user) + "\n", "utf-8")
        command += ["--constraint", str(free / "constraints.txt")]
    out = free / "pins.txt"
    out.write_text("\n".join(runtime.preference_lines()) + "\n", "utf-8")
    try:
        run(
            [*command, "-o", str(out), attempt[-1]],
            what="resolving without the runtime's pins (to explain a conflict)",
            env=env,
            error=ResolveCommandError,
        )
    except CommandError:
        return  # it fails without the pins too: not (only) a runtime conflict
    conflicts = find_conflicts(
        out.read_text("utf-8"),
        runtime,
        requirements=request.requirements,
        constraints=request.constraints,
        local_wheels=request.local_wheels,
        origins=request.origins,
        uv_output=exc.output,
    )
    if conflicts:
        raise conflict_error(conflicts, exc.output) from exc


def _explain(exc: CommandError, request: _Request) -> ResolutionError:
    """uv's reason, who asks for the packages it names, and the fix."""
    reason = "\n".join(
        line
        for line in exc.output.splitlines()
        if line.strip() and not line.startswith("warning:") and "cause: Request failed" not in line
    ).strip()
    mentioned = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", reason.lower()))
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
    absent = sorted({canonicalize_name(n) for n in _NOT_FOUND.findall(reason)})
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
