"""Resolution for the target: ``uv pip compile`` for pins, ``pip download --no-deps`` for files.

pip evaluates environment markers for the host even with ``--python-version``
(docs/facts.md, fact 5), so the resolver is uv, asked for the target's Python and
platform with wheels only. Local wheels (provided, built from projects, the
generated one) enter the same compile as ``name @ file://`` references, so a
conflict between a requirement and a project's dependency comes out of uv.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from .._core.errors import (
    CommandError,
    IncompatibleWheelError,
    ResolutionError,
    ResolveCommandError,
)
from .._core.manifest import WheelInfo
from .fetch_progress import DownloadWatch
from .requirements import RequirementLine
from .._core.progress import plural
from .runtime_conflict import conflict_error, find_conflicts
from .runtime_plan import RuntimeContext
from .._core.runner import clean_env, pip_command, redact, run, uv_command
from .._core.target import Target

__all__ = [
    "IndexSettings",
    "Pin",
    "Resolution",
    "check_closure",
    "check_tags",
    "download",
    "resolve",
]

logger = logging.getLogger(__name__)
_NO_WHEEL = re.compile(r"Wheels are required for `([^`]+)`")
_NOT_FOUND = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*) was not found in the")
_MAX_SDIST_ROUNDS = 5
_UNREACHABLE = re.compile(
    r"Connection refused|timed out|error sending request|Failed to establish a new connection|"
    r"Name or service not known|dns error|Read timed out",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from. The same settings go to uv, pip and build's pip."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    timeout: float = 30.0
    """Seconds without an answer from the index before a request fails (pip and uv)."""
    retries: int = 2
    """Retries of a failed request: an index that is down fails in seconds, not minutes."""

    def args(self) -> list[str]:
        """Options understood by both pip and uv."""
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        else:
            if self.index_url:
                out += ["--index-url", self.index_url]
            for url in self.extra_index_urls:
                out += ["--extra-index-url", url]
        for link in self.find_links:
            out += ["--find-links", link]
        return out

    def pip_env(self) -> dict[str, str]:
        """The same settings as ``PIP_*`` variables, for pip inside build's isolated env."""
        import os

        env = {"PIP_CONFIG_FILE": os.devnull}  # the machine's pip.conf must not leak in
        if self.no_index:
            env["PIP_NO_INDEX"] = "1"
        else:
            if self.index_url:
                env["PIP_INDEX_URL"] = self.index_url
            if self.extra_index_urls:
                env["PIP_EXTRA_INDEX_URL"] = " ".join(self.extra_index_urls)
        if self.find_links:
            env["PIP_FIND_LINKS"] = " ".join(self.find_links)
        env["PIP_TIMEOUT"] = f"{self.timeout:g}"
        env["PIP_RETRIES"] = str(self.retries)
        return env

    def pip_network_args(self) -> list[str]:
        return ["--timeout", f"{self.timeout:g}", "--retries", str(self.retries)]

    def uv_env(self) -> dict[str, str]:
        # uv takes whole seconds; round up so a small timeout never becomes 0 (= no limit)
        return {
            "UV_HTTP_TIMEOUT": str(max(1, math.ceil(self.timeout))),
            "UV_HTTP_RETRIES": str(self.retries),
        }

    def shown(self) -> str:
        """Where packages come from, credentials redacted (for messages)."""
        places = [] if self.no_index else [self.index_url or "https://pypi.org/simple"]
        places += [] if self.no_index else list(self.extra_index_urls)
        places += list(self.find_links)
        return redact(", ".join(places) or "nowhere (no_index and no find_links)")

    def fingerprint(self) -> str:
        """A hash of the settings: usable in cache keys without writing credentials."""
        data = json.dumps(
            [self.index_url, list(self.extra_index_urls), list(self.find_links), self.no_index]
        )
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def merged(self, other: IndexSettings) -> IndexSettings:
        return IndexSettings(
            index_url=self.index_url or other.index_url,
            extra_index_urls=tuple(dict.fromkeys(self.extra_index_urls + other.extra_index_urls)),
            find_links=tuple(dict.fromkeys(self.find_links + other.find_links)),
            no_index=self.no_index or other.no_index,
            timeout=self.timeout,
            retries=self.retries,
        )


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

    @property
    def remote(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.local is None and not pin.sdist_only)

    @property
    def sdists(self) -> tuple[Pin, ...]:
        return tuple(pin for pin in self.pins if pin.sdist_only)


def _uv_base(target: Target, cache_dir: Path) -> list[str]:
    command = [*uv_command(), "pip", "compile", "--no-config", "--no-header", "--no-annotate"]
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
    With ``runtime``, protected packages are pinned to the runtime's versions and
    the runtime's other versions are preferred (docs/runtime-aware.md); a conflict
    with a protected package raises :class:`RuntimeConflictError`.
    """
    lines = [f"{info.name} @ {path.absolute().as_uri()}" for path, info in local_wheels.items()]
    lines += [line.text for line in requirements]
    requirements_in = work / "requirements.in"
    requirements_in.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [*_uv_base(target, cache_dir), "--only-binary", ":all:", *index.args()]
    user_constraints = [c.text for c in constraints]
    pinned = runtime.constraint_lines() if runtime is not None else []
    if user_constraints or pinned:
        constraints_file = work / "constraints.txt"
        constraints_file.write_text("\n".join(user_constraints + pinned) + "\n", "utf-8")
        command += ["--constraint", str(constraints_file)]
    output = work / "pins.txt"
    if runtime is not None:
        # uv keeps a pin already in its output file unless a requirement excludes it
        output.write_text("\n".join(runtime.preference_lines()) + "\n", "utf-8")
    sdist_only: list[str] = []
    for _round in range(_MAX_SDIST_ROUNDS):
        attempt = list(command)
        for name in sdist_only:
            attempt += ["--no-binary", name]  # only this package may come as an sdist
        attempt += ["-o", str(output), str(requirements_in)]
        try:
            run(
                attempt,
                what="resolving with uv",
                env=clean_env(index.uv_env()),
                error=ResolveCommandError,
            )
            break
        except CommandError as exc:
            if _UNREACHABLE.search(exc.output):
                raise _unreachable(exc, index) from exc
            missing = [canonicalize_name(n) for n in _NO_WHEEL.findall(exc.output)]
            fresh = [n for n in missing if n not in sdist_only]
            if fresh:
                logger.info("no wheel for %s: retrying with its sdist", ", ".join(fresh))
                sdist_only.extend(fresh)
                continue
            if pinned and runtime is not None:
                _diagnose(
                    exc,
                    attempt,
                    runtime,
                    requirements,
                    constraints,
                    local_wheels,
                    origins,
                    work,
                    clean_env(index.uv_env()),
                )
            raise _explain(exc, requirements, local_wheels, target, origins or {}, index) from exc
    else:
        raise ResolutionError(f"could not resolve for {target.description}: too many sdist rounds")
    hashes: dict[str, tuple[str, ...]] = {}
    hash_origins: dict[str, str] = {}
    for line in requirements:
        if line.hashes:
            hashes[canonicalize_name(line.requirement.name)] = line.hashes
            hash_origins[canonicalize_name(line.requirement.name)] = line.origin
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
        version = str(next(iter(requirement.specifier)).version)
        pins.append(
            Pin(
                name,
                version,
                sdist_only=name in sdist_only,
                hashes=hashes.get(name, ()),
                origin=hash_origins.get(name, ""),
            )
        )
    logger.info("resolved %s for %s", plural(len(pins), "package"), target.description)
    return Resolution(tuple(sorted(pins, key=lambda p: p.name)))


def _diagnose(
    exc: CommandError,
    attempt: Sequence[str],
    runtime: RuntimeContext,
    requirements: Sequence[RequirementLine],
    constraints: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    origins: Mapping[str, str] | None,
    work: Path,
    env: dict[str, str],
) -> None:
    """Raise RuntimeConflictError when the protected pins are what made uv fail.

    Resolves once more without them (and with ``# via`` annotations): protected
    packages that this moves off the runtime's version are the conflicts.
    """
    free = work / "diagnose"
    free.mkdir(exist_ok=True)
    user = [c.text for c in constraints]
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
        requirements=requirements,
        constraints=constraints,
        local_wheels=local_wheels,
        origins=origins or {},
        uv_output=exc.output,
    )
    if conflicts:
        raise conflict_error(conflicts, exc.output) from exc


def _unreachable(exc: CommandError, index: IndexSettings) -> ResolutionError:
    lines = exc.output.splitlines()
    causes = [line.strip() for line in lines if "cause:" in line or "rror" in line]
    detail = "\n  ".join(causes[-4:]) or exc.output.strip()[-500:]
    return ResolutionError(
        redact(
            f"cannot reach the package index {index.shown()} (each request waits at most "
            f"{index.timeout:g}s, {index.retries} retries):\n  {detail}\n"
            "fix: check the index URL and that the index is up and reachable from this machine; "
            "for a slow index raise index_timeout= / --index-timeout"
        )
    )


def _explain(
    exc: CommandError,
    requirements: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    target: Target,
    origins: Mapping[str, str],
    index: IndexSettings,
) -> ResolutionError:
    reason = "\n".join(
        line
        for line in exc.output.splitlines()
        if line.strip() and not line.startswith("warning:") and "cause: Request failed" not in line
    ).strip()
    mentioned = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", reason.lower()))
    sources: list[str] = []
    for line in requirements:
        if canonicalize_name(line.requirement.name) in mentioned:
            sources.append(f"  {line.origin} requires {line.text}")
    for path, info in local_wheels.items():
        origin = origins.get(info.name, path.name)
        for text in info.requires:
            if canonicalize_name(Requirement(text).name) in mentioned:
                sources.append(f"  {origin} ({info.name} {info.version}) requires {text}")
    message = f"cannot resolve the requirements for {target.description}:\n{reason}"
    absent = sorted({canonicalize_name(n) for n in _NOT_FOUND.findall(reason)})
    if sources:
        what = "who asks for them" if absent else "where the conflicting requirements come from"
        message += f"\n{what}:\n" + "\n".join(sources)
    if absent:
        return ResolutionError(redact(message + "\n" + _missing_fix(absent, index)))
    message += (
        "\nfix: relax or align the version constraints above, or check that the index "
        "holds the packages for this target"
    )
    return ResolutionError(redact(message))


def _missing_fix(absent: Sequence[str], index: IndexSettings) -> str:
    """Name the missing packages, close names the index has, and the fix for a missing name."""
    from .suggest import close_names  # only on this failure path

    close = close_names(absent, index)
    named = []
    for name in absent:
        near = close.get(name) or []
        named.append(f"{name} (did you mean {' or '.join(near)}?)" if near else name)
    message = f"missing (not on the index or find-links): {', '.join(named)}"
    message += f"\nlooked in: {index.shown()}"
    return (
        message + "\nfix: check the spelling of each name above in your requirements; if the "
        "package is private, add the index or folder that holds it (index_url= / "
        "--extra-index-url / --find-links)"
    )


def download(
    pins: Iterable[Pin],
    target: Target,
    index: IndexSettings,
    dest: Path,
    *,
    cache_dir: Path | None = None,
) -> list[Path]:
    """Fetch the exact pinned wheels for ``target`` into ``dest`` (pip, no dependencies).

    ``cache_dir`` keeps pip's HTTP cache under sparkdeps' cache root rather than in
    ``~/.cache/pip`` (``--isolated`` ignores ``PIP_CACHE_DIR``).
    """
    pins = list(pins)
    if not pins:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    base = [*pip_command(), "download", "--no-deps", "--only-binary=:all:"]
    base += ["--implementation", "cp"]
    base += ["--python-version", target.python_version, "--abi", target.abi]
    base += ["--abi", "abi3", "--abi", "none"]
    for platform in target.platforms:
        base += ["--platform", platform]
    base += ["--dest", str(dest), "--progress-bar", "off", *index.args()]
    base += index.pip_network_args()
    base += ["--cache-dir", str(cache_dir)] if cache_dir is not None else ["--no-cache-dir"]
    env = clean_env({"PIP_CONFIG_FILE": "/dev/null"})
    watch = DownloadWatch(len(pins))
    # pip's --require-hashes mode is all-or-nothing: hashed pins go in their own call
    groups = [[p for p in pins if p.hashes], [p for p in pins if not p.hashes]]
    for number, group in enumerate(groups):
        if not group:
            continue
        listing = dest.parent / f"download-{number}.txt"
        listing.write_text(
            "".join(p.spec + "".join(f" --hash={h}" for h in p.hashes) + "\n" for p in group),
            encoding="utf-8",
        )
        try:
            run(
                [*base, "-r", str(listing)],
                what="downloading wheels with pip",
                env=env,
                error=ResolveCommandError,
                hint="fix: check that the index holds wheels of these exact versions for "
                f"{target.description}",
                on_line=watch.on_line,
            )
        except CommandError as exc:
            if "DO NOT MATCH THE HASHES" in exc.output:
                raise _hash_mismatch(group, exc.output) from exc
            if _UNREACHABLE.search(exc.output):
                raise _unreachable(exc, index) from exc
            raise
    watch.finish(dest)
    return sorted(p for p in dest.iterdir() if p.suffix == ".whl")


def _hash_mismatch(pins: Sequence[Pin], output: str) -> ResolutionError:
    # pip names the package, then "Expected sha256 ..." and "Got ..." lines
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "DO NOT MATCH THE HASHES" in line), 0)
    detail = [
        line.strip()
        for line in lines[start + 1 :]
        if "==" in line or "Expected" in line or line.strip().startswith("Got")
    ]
    named = {canonicalize_name(n) for n in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", output)}
    culprits = [pin for pin in pins if pin.name in named] or list(pins)
    where = "; ".join(f"{pin.origin or 'requirement'}: {pin.spec}" for pin in culprits)
    return ResolutionError(
        redact(
            f"hash mismatch for {where}: the downloaded file does not match the --hash given\n  "
            + "\n  ".join(detail)
            + "\nfix: correct the --hash value(s) in the requirements file; if the package on "
            "the index changed, find out why before trusting the new file"
        )
    )


def check_tags(wheels: Iterable[WheelInfo], target: Target) -> None:
    """Every wheel must fit the target; else IncompatibleWheelError naming it."""
    for wheel in wheels:
        if not target.accepts(wheel.tag_set):
            raise IncompatibleWheelError(
                f"{wheel.filename} (tags {', '.join(wheel.tags)}) does not fit the target "
                f"{target.description} (accepts e.g. {target.abi}/abi3/none on "
                f"{target.platforms[0]}); fix: provide a wheel built for the target, or "
                "choose the target that matches the wheel"
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


def check_closure(
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
            f"{target.description}:\n  "
            + "\n  ".join(missing)
            + "\nfix: make them available (index_url=, find_links=, or add their wheels to the "
            "input)"
        )
