"""Fetching the exact pinned wheels for the target, every file's hash checked here.

Each pin from the resolver carries its lock's wheels (URL and sha256,
:mod:`.backend`); the one with the target's best tag is fetched. With ``--hash``
lines in the input, only a file whose digest is listed may be chosen: the lock's
sha256 tells before anything is downloaded, and the bytes are checked again after.
Pins read from an input lock have no URLs: pip finds them by name and version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from .._core.errors import CommandError, ResolutionError
from .._core.hashing import CHUNK
from .._core.manifest import same_version
from .._core.progress import Tracker
from .._core.runner import redact
from .._core.target import Target
from .backend import Fetcher, FetchRequest, LockedFile, PipFetcher
from .fetch_http import DirectFetcher, FileCache
from .fetch_progress import settle
from .index import IndexSettings, is_unreachable, unreachable_error
from .resolve import Pin

__all__ = ["choose_file", "download", "verify"]

_FIX = (
    "correct the --hash value(s) in the requirements file; if the package on the index "
    "changed, find out why before trusting the new file"
)


def download(
    pins: Iterable[Pin],
    target: Target,
    index: IndexSettings,
    dest: Path,
    *,
    cache_dir: Path | None = None,
    fetcher: Fetcher | None = None,
) -> list[Path]:
    """Fetch the exact pinned wheels for ``target`` into ``dest`` (no dependencies).

    The lock's files are fetched by sparkdeps itself (:class:`.fetch_http.DirectFetcher`,
    through the sha256-addressed cache beside ``cache_dir``); pins without a URL (read
    from an input lock) by ``pip download``, its HTTP cache in ``cache_dir`` rather than
    in ``~/.cache/pip``. ``fetcher`` replaces both (benchmarks, tests).
    """
    pins = list(pins)
    if not pins:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    chosen = {pin: choose_file(pin, target) for pin in pins}
    files = tuple(file for file in chosen.values() if file is not None)
    sizes = [file.size for file in files if file.size is not None]
    known = len(sizes) == len(pins)  # the index gave every size (PEP 700): a byte total
    tracker = Tracker("download", total=len(pins), bytes_total=sum(sizes) if known else None)
    request = FetchRequest(dest, target, index, files=files, cache_dir=cache_dir)
    specs = FetchRequest(
        dest,
        target,
        index,
        specs=tuple(pin.spec for pin, file in chosen.items() if file is None),
        cache_dir=cache_dir,
    )
    cache = FileCache(cache_dir.parent / "files" if cache_dir else dest.parent / "files")
    try:
        if fetcher is not None:
            fetcher.fetch(replace(request, specs=specs.specs), tracker)
        else:  # the lock's files directly (benchmarks/RESULTS.md), pip for pins without URLs
            DirectFetcher(cache).fetch(request, tracker)
            if specs.specs:
                PipFetcher(cache).fetch(specs, tracker)
    except CommandError as exc:
        if is_unreachable(exc.output):
            raise unreachable_error(exc, index) from exc
        raise
    wheels = verify(chosen, dest)
    settle(tracker, wheels)
    return sorted(wheels)


def choose_file(pin: Pin, target: Target) -> LockedFile | None:
    """The lock's wheel for ``pin`` that pip would pick (the target's best tag), among
    those whose sha256 the input's ``--hash`` lines allow; None: pip looks it up."""
    ranks = {tag: rank for rank, tag in enumerate(target.tags)}
    ranked: list[tuple[int, LockedFile]] = []
    for file in pin.files:
        try:
            tags = parse_wheel_filename(file.filename)[3]
        except InvalidWheelFilename:
            continue
        rank = min((ranks[tag] for tag in tags if tag in ranks), default=None)
        if rank is not None:
            ranked.append((rank, file))
    ranked.sort(key=lambda item: (item[0], item[1].filename))
    allowed = _allowed(pin).get("sha256")
    if allowed and ranked:
        hashed = [(rank, file) for rank, file in ranked if file.sha256 in allowed]
        if not hashed:
            best = ranked[0][1]
            listed = [f"sha256:{value}" for value in allowed]
            got = f"sha256:{best.sha256}"
            raise hash_mismatch_error(pin, best.filename, listed, got, where="the index lists")
        ranked = hashed
    return ranked[0][1] if ranked else None


def _allowed(pin: Pin) -> dict[str, set[str]]:
    """The input's ``--hash`` values by algorithm."""
    allowed: dict[str, set[str]] = {}
    for text in pin.hashes:
        algorithm, _, value = text.partition(":")
        allowed.setdefault(algorithm.lower(), set()).add(value.lower())
    return allowed


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(chosen: Mapping[Pin, LockedFile | None], dest: Path) -> list[Path]:
    """Each pin's file in ``dest``, its bytes checked against the lock's sha256 and the
    input's ``--hash`` values; a file that fails is removed and named in the error."""
    found: list[Path] = []
    for pin, file in chosen.items():
        path = dest / file.filename if file is not None else _by_name(dest, pin)
        if path is None or not path.is_file():
            raise ResolutionError(
                f"{pin.spec} was not downloaded",
                fix="check that the index holds a wheel of it for the target",
            )
        checks = _allowed(pin)
        if file is not None and file.sha256:
            got = _digest(path, "sha256")
            if got != file.sha256:
                path.unlink()
                raise _changed_error(pin, file, got)
        digests = {algorithm: _digest(path, algorithm) for algorithm in checks}
        if checks and not any(digests[a] in allowed for a, allowed in checks.items()):
            path.unlink()
            algorithm = "sha256" if "sha256" in checks else next(iter(checks))
            shown = f"{algorithm}:{digests[algorithm]}"
            listed = [f"{algorithm}:{value}" for value in checks[algorithm]]
            raise hash_mismatch_error(pin, path.name, listed, shown, where="downloaded")
        found.append(path)
    return found


def _by_name(dest: Path, pin: Pin) -> Path | None:
    for path in dest.glob("*.whl"):
        try:
            name, version = parse_wheel_filename(path.name)[:2]
        except InvalidWheelFilename:
            continue
        if canonicalize_name(name) == pin.name and same_version(str(version), pin.version):
            return path
    return None


def hash_mismatch_error(
    pin: Pin, filename: str, expected: Iterable[str], got: str, *, where: str
) -> ResolutionError:
    """The input's ``--hash`` does not match the file: name the line, the file, both digests."""
    origin = pin.origin or "requirement"
    listed = ", ".join(sorted(expected))
    return ResolutionError(
        redact(
            f"hash mismatch for {origin}: {pin.spec}: {filename} ({where}) has {got}, but the "
            f"--hash given is {listed}"
        ),
        fix=_FIX,
    )


def _changed_error(pin: Pin, file: LockedFile, got: str) -> ResolutionError:
    return ResolutionError(
        redact(
            f"{file.filename} ({pin.spec}) from {file.url} does not match the sha256 the index "
            f"lists for it: expected {file.sha256}, got {got}; the file was not kept"
        ),
        fix="build again; if it happens again the index (or a proxy before it) serves "
        "another file than it lists: find out why before trusting it",
    )
