"""uv and pip behind one backend: commands from frozen requests, results as data.

The resolver is uv (pip evaluates markers for the host, docs/facts.md fact 5). It
writes a PEP 751 lock (``uv pip compile --format pylock.toml``), read with
``packaging.pylock`` into a :class:`Lock`: every pin with its files' URLs and
sha256, no text to scrape. A failed compile is a :class:`CompileFailure` whose
``kind`` is one of :data:`FailureKind`; uv 0.13 has no machine-readable error output,
so :func:`classify` is the one place that reads its message. Fetching the pinned
files is a :class:`Fetcher`: :class:`PipFetcher` (``pip download`` of the exact
files) or :class:`DirectFetcher` (sparkdeps' own HTTP GETs, :mod:`.fetch_http`);
either way :mod:`.download` checks every file's sha256 itself.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from .._core.errors import CommandError, ResolutionError, ResolveCommandError
from .._core.progress import Tracker
from .._core.runner import clean_env, pip_command, run, uv_command
from .._core.target import Target
from .fetch_progress import FolderWatch
from .index import IndexSettings, is_unreachable
from .tomlread import load_toml

if TYPE_CHECKING:
    from .fetch_http import FileCache

__all__ = [
    "CompileFailure",
    "CompileRequest",
    "FailureKind",
    "FetchRequest",
    "Fetcher",
    "Lock",
    "LockedFile",
    "LockedPackage",
    "PipFetcher",
    "Resolver",
    "UvResolver",
    "classify",
    "seed_text",
]

logger = logging.getLogger(__name__)

FailureKind = Literal["unreachable", "no-wheel", "not-found", "unsatisfiable"]
"""Why a compile failed: the index could not be reached; a package has no wheel for the
target (an sdist may do); a name is on no index; the requirements contradict each other."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_NO_WHEEL = re.compile(r"Wheels are required for `([^`]+)`")
# a hard-pinned version whose wheels are all for other tags (the runtime built its own)
_NO_MATCHING = re.compile(rf"({_NAME})==\S+ has no wheels with a matching")
_NOT_FOUND = re.compile(rf"({_NAME}) was not found in the")


@dataclass(frozen=True)
class LockedFile:
    """One file of a lock: where it is, its name and its sha256 (as the index gave them)."""

    url: str
    """An ``http(s)://`` or ``file://`` URL."""
    filename: str
    sha256: str
    size: int | None = None

    @property
    def path(self) -> Path | None:
        """The file on this machine, for a ``file://`` URL."""
        parts = urlsplit(self.url)
        return Path(unquote(parts.path)) if parts.scheme == "file" else None


@dataclass(frozen=True)
class LockedPackage:
    name: NormalizedName
    version: str
    wheels: tuple[LockedFile, ...] = ()
    """The wheels the resolver found for the target (one or more tags)."""
    sdist: LockedFile | None = None


@dataclass(frozen=True)
class Lock:
    """A PEP 751 lock as uv wrote it for one target."""

    packages: tuple[LockedPackage, ...]

    def versions(self) -> dict[str, str]:
        return {package.name: package.version for package in self.packages}

    def get(self, name: str) -> LockedPackage | None:
        wanted = canonicalize_name(name)
        return next((p for p in self.packages if p.name == wanted), None)

    @classmethod
    def read(cls, path: Path) -> Lock:
        """Read and validate ``path`` (``packaging.pylock``); a bad file is a ResolutionError."""
        from packaging.pylock import Pylock, PylockValidationError  # noqa: PLC0415

        try:
            pylock = Pylock.from_dict(load_toml(path.read_text("utf-8")))
        except (OSError, ValueError, PylockValidationError) as exc:
            raise ResolutionError(
                f"uv wrote a lock sparkdeps cannot read ({path}: {exc})",
                fix="install a uv that writes PEP 751 locks (pip install 'sparkdeps[build]')",
            ) from exc
        base = path.parent  # PEP 751: a relative path is relative to the lock's folder
        packages: list[LockedPackage] = []
        for package in pylock.packages:
            files = [_file(base, wheel, wheel.name) for wheel in package.wheels or ()]
            if package.archive is not None:  # ``name @ file://x.whl``: a local wheel
                files.append(_file(base, package.archive, None))
            sdist = package.sdist
            packages.append(
                LockedPackage(
                    canonicalize_name(package.name),
                    str(package.version or ""),
                    tuple(files),
                    _file(base, sdist, sdist.name) if sdist is not None else None,
                )
            )
        return cls(tuple(packages))


class _Entry(Protocol):
    """What a lock says of one file (a wheel, an sdist, an archive)."""

    @property
    def url(self) -> str | None: ...
    @property
    def path(self) -> str | None: ...
    @property
    def hashes(self) -> Mapping[str, str]: ...
    @property
    def size(self) -> int | None: ...


def _file(base: Path, entry: _Entry, name: str | None) -> LockedFile:
    url = entry.url or (base / (entry.path or "")).absolute().as_uri()
    filename = name or unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    return LockedFile(url, filename, entry.hashes.get("sha256", ""), entry.size)


def seed_text(lines: Sequence[str]) -> str:
    """``name==version`` preferences as a minimal lock: uv keeps a pin of an existing
    output file where the requirements allow it."""
    out = ['lock-version = "1.0"', 'created-by = "sparkdeps"']
    for line in lines:
        name, _, version = line.partition("==")
        out += ["", "[[packages]]", f'name = "{name.strip()}"', f'version = "{version.strip()}"']
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CompileRequest:
    """One ``uv pip compile`` for a target. :meth:`argv` builds the command from it; a
    variant is ``dataclasses.replace(request, ...)``, never a sliced command."""

    source: Path
    """The requirements file (``requirements.in``)."""
    output: Path
    """Where the lock goes: ``pylock.toml`` or ``pylock.<name>.toml`` (PEP 751 names)."""
    target: Target
    index: IndexSettings
    cache_dir: Path
    constraints: Path | None = None
    find_links: tuple[Path, ...] = ()
    """Extra local folders (the runtime's stand-in wheels)."""
    sdist_only: tuple[str, ...] = ()
    """Packages that may come as sdists (all others: wheels only)."""
    seed: tuple[str, ...] = ()
    """``name==version`` preferences, kept where the requirements allow."""

    def argv(self, uv: Sequence[str]) -> list[str]:
        command = [*uv, "pip", "compile", "--no-config", "--no-header", "--format", "pylock.toml"]
        # uv must never fetch a managed Python from the internet: use the running one
        command += ["--no-python-downloads", "--python", sys.executable]
        command += ["--cache-dir", str(self.cache_dir), "--only-binary", ":all:"]
        host = f"{sys.version_info[0]}.{sys.version_info[1]}"
        target = self.target
        if not (target.native and target.python_version == host):
            command += ["--python-version", target.python_full_version or target.python_version]
            command += ["--python-platform", target.uv_platform]
        command += self.index.args()
        for folder in self.find_links:
            command += ["--find-links", str(folder)]
        if self.constraints is not None:
            command += ["--constraint", str(self.constraints)]
        for name in self.sdist_only:
            command += ["--no-binary", name]  # only this package may come as an sdist
        return [*command, "-o", str(self.output), str(self.source)]


@dataclass(frozen=True)
class CompileFailure:
    """A compile uv could not do, read once (:func:`classify`)."""

    kind: FailureKind
    error: CommandError
    """uv's command, exit code and output."""
    no_wheel: tuple[NormalizedName, ...] = ()
    """Packages with no wheel for the target."""
    no_matching: tuple[NormalizedName, ...] = ()
    """Hard-pinned versions whose wheels are all for other tags."""
    missing: tuple[NormalizedName, ...] = ()
    """Names no index or find-links folder has."""
    mentioned: frozenset[str] = frozenset()
    """Every name-like word of uv's message (lower case): whose lines to show beside it."""


def classify(error: CommandError) -> CompileFailure:
    """What uv's failure means; uv writes no machine-readable error, so its text is read
    here and only here."""
    output = error.output

    def names(pattern: re.Pattern[str]) -> tuple[NormalizedName, ...]:
        return tuple(dict.fromkeys(canonicalize_name(n) for n in pattern.findall(output)))

    no_wheel, no_matching, missing = names(_NO_WHEEL), names(_NO_MATCHING), names(_NOT_FOUND)
    kind: FailureKind = "unsatisfiable"
    if is_unreachable(output):
        kind = "unreachable"
    elif no_wheel or no_matching:
        kind = "no-wheel"
    elif missing:
        kind = "not-found"
    mentioned = frozenset(re.findall(_NAME, output.lower()))
    return CompileFailure(kind, error, no_wheel, no_matching, missing, mentioned)


class Resolver(Protocol):
    def compile(self, request: CompileRequest, *, what: str) -> Lock | CompileFailure: ...


class UvResolver:
    """``uv pip compile --format pylock.toml``."""

    def compile(self, request: CompileRequest, *, what: str) -> Lock | CompileFailure:
        request.output.unlink(missing_ok=True)
        if request.seed:  # an empty file is not a lock: write one only with preferences
            request.output.write_text(seed_text(request.seed), "utf-8")
        env = clean_env(request.index.uv_env())
        try:
            run(request.argv(uv_command()), what=what, env=env, error=ResolveCommandError)
        except CommandError as exc:
            return classify(exc)
        return Lock.read(request.output)


@dataclass(frozen=True)
class FetchRequest:
    """Files to fetch into ``dest``: exact files of a lock, or ``name==version`` specs
    (a lock read from the input, without URLs) that pip finds for the target."""

    dest: Path
    target: Target
    index: IndexSettings
    files: tuple[LockedFile, ...] = ()
    specs: tuple[str, ...] = ()
    cache_dir: Path | None = None
    """pip's HTTP cache (``--isolated`` ignores ``PIP_CACHE_DIR``)."""

    def pip_argv(self, listing: Path) -> list[str]:
        command = [*pip_command(), "download", "--no-deps", "--only-binary=:all:"]
        command += ["--implementation", "cp", "--python-version", self.target.python_version]
        command += ["--abi", self.target.abi, "--abi", "abi3", "--abi", "none"]
        for platform in self.target.platforms:
            command += ["--platform", platform]
        command += ["--dest", str(self.dest), "--progress-bar", "off", *self.index.args()]
        command += self.index.pip_network_args()
        cache = self.cache_dir
        command += ["--cache-dir", str(cache)] if cache is not None else ["--no-cache-dir"]
        return [*command, "-r", str(listing)]


class Fetcher(Protocol):
    def fetch(self, request: FetchRequest, tracker: Tracker) -> None:
        """Put every file of ``request`` into ``request.dest`` (hashes are checked after)."""


class PipFetcher:
    """``pip download --no-deps`` of the exact URLs (and of specs without one); files
    already in ``cache`` (read for their metadata) are taken from there."""

    def __init__(self, cache: FileCache | None = None) -> None:
        self.cache = cache

    def fetch(self, request: FetchRequest, tracker: Tracker) -> None:
        sizes = {file.filename: file.size for file in request.files}
        watch = FolderWatch(request.dest, tracker, sizes)
        remote: list[str] = []
        for file in request.files:
            if file.path is not None:  # find-links wheels: already on this machine
                shutil.copyfile(file.path, request.dest / file.filename)
            elif self.cache is None or not self.cache.place(file, request.dest / file.filename):
                remote.append(file.url)
        watch.look()
        if not remote and not request.specs:
            return
        listing = request.dest.parent / "download.txt"
        listing.write_text("".join(f"{line}\n" for line in [*remote, *request.specs]), "utf-8")
        run(
            request.pip_argv(listing),
            what="downloading wheels with pip",
            env=clean_env({"PIP_CONFIG_FILE": "/dev/null"}),
            error=ResolveCommandError,
            fix="check that the index holds wheels of these exact versions for "
            f"{request.target.description}",
            on_line=watch.look,
        )
        watch.look()
