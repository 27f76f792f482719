"""Driver install: a wheelhouse unpacked into a node-local cache folder keyed by its digest.

Layout under the cache root (``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` ->
``~/.cache/sparkdeps``)::

    node/refs/<sha256(uri)>.json      (path, size, mtime, inode, ctime) -> digest: a warm load
                                      hashes nothing
    node/installs/<digest>/           exists only when complete (renamed from a partial folder)
    node/installs/.<digest>.<uuid>.partial/
    node/locks/<digest>.lock          one flock per digest: one process installs, others wait
    node/install.log                  one line per real install (evidence for tests and people)

The node cache's folders are private (``_core/private.py``). The wheelhouse is
opened once; hashing, checking and extracting all read that one open file
(``/proc/self/fd/<n>``, else a private copy), so a file replaced mid-load
cannot be installed under the first one's digest. Every wheel's tags, sha256
and contents are checked *before* anything is written. Wheels
are read straight out of ``wheelhouse.zip`` (they are stored, not compressed,
so a slice of the file is a wheel) and extracted in parallel, streaming, in
constant memory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .._core.errors import IncompatibleWheelError, InputError, IntegrityError, StorageError
from .._core.hashing import CHUNK, sha256_file, sha256_stream
from .._core.locking import file_lock
from .._core.manifest import MANIFEST_NAME, Manifest, WheelInfo
from .._core.paths import WHEELHOUSE_NAME, cache_root, node_dir
from .._core.private import private_dir
from .._core.progress import Tracker, plural
from .._core.runmarker import DIGEST
from .._core.runner import pip_command, run
from .._core.stdlib import ALLOW_ENV, shadowing
from .._core.storage import storage_for
from .._core.target import running_interpreter_tags
from .._core.timing import timed
from .._core.wheelhouse import open_wheelhouse
from .extract import check_wheel_contents, extract_wheel, open_stored_wheel

__all__ = [
    "COMPLETE_MARKER",
    "InstallResult",
    "Prepared",
    "cache_root",
    "check_tags",
    "check_wheels",
    "install",
    "node_dir",
    "pip_install",
    "prepare",
]

logger = logging.getLogger(__name__)

COMPLETE_MARKER = ".sparkdeps-install.json"
_PROC_FD = Path("/proc/self/fd")

Stamp = tuple[str, int, int, int, int]
"""(absolute path, size, mtime_ns, inode, ctime_ns): a file replaced in place, even with
the same size and mtime, gets a new inode or ctime, which no user can set back."""


# --------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Prepared:
    """A wheelhouse ready to check and install: a local zip, its digest and manifest."""

    uri: str
    zip_path: Path
    digest: str
    manifest: Manifest | None
    """None when the digest came from the ref file and the install folder is complete."""
    temporary: Path | None = None
    """A downloaded copy to remove once installed (dbfs: through dbutils)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    stamp: Stamp | None = None
    """The :data:`Stamp` of a POSIX wheelhouse, remembered once installed."""
    handle: IO[bytes] | None = None
    """The one open file every read goes through (``zip_path`` is its /proc/self/fd name)."""

    def discard(self) -> None:
        """Close the pinned file and remove the downloaded copy, if any."""
        if self.handle is not None:
            self.handle.close()
        if self.temporary is not None:
            shutil.rmtree(self.temporary.parent, ignore_errors=True)


def _ref_path(node: Path, uri: str) -> Path:
    return node / "refs" / f"{hashlib.sha256(uri.encode('utf-8')).hexdigest()[:32]}.json"


def _stamp(path: Path, info: os.stat_result) -> Stamp:
    return (os.fspath(path), info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


def _read_ref(node: Path, stamp: Stamp) -> str | None:
    try:
        data = json.loads(_ref_path(node, stamp[0]).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != list(stamp):
        return None
    digest = data.get("digest")
    # the digest names a folder under installs/: only a sha256 may
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


def _write_ref(node: Path, stamp: Stamp, digest: str) -> None:
    path = _ref_path(node, stamp[0])
    try:
        private_dir(path.parent)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        temporary.write_text(json.dumps({"stamp": list(stamp), "digest": digest}), "utf-8")
        os.replace(temporary, path)
    except StorageError as exc:
        logger.debug("not writing the ref file %s: %s", path, exc)
    except OSError as exc:  # only a speed-up: never fail a load for it
        logger.debug("could not write the ref file %s: %s", path, exc)


def _check_pin(uri: str, digest: str, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise IntegrityError(
            f"{uri} is not the wheelhouse the build published: its sha256 is {digest[:16]}..., "
            f"the build's was {expected[:16]}...; it was replaced after the build. Run the "
            "build again (or pass the path the new build printed). Nothing was installed."
        )


def prepare(
    uri: str, node: Path, *, warm: bool = True, expected: str | None = None
) -> Prepared:
    """Find the wheelhouse's bytes on this node and its digest, as cheaply as possible.

    A POSIX path (local, ``file:``, ``/Volumes``, ``/dbfs``) is opened once and
    every later read goes through that open file; a ``dbfs:`` URI through dbutils
    is downloaded to a private temporary file first. When the ref file knows the
    file's :data:`Stamp` and the install folder is complete, nothing is read at
    all (unless ``warm`` is False: then the manifest is always read). ``expected``
    is the digest the build published (``#sha256=``): any other file is refused.
    """
    timings: dict[str, float] = {}
    if node.exists():  # a cache someone else can write is refused before it is read
        private_dir(node)
    with timed(timings, "fetch"):
        got = _fetch(uri, node, warm)
    if got.known is not None:
        _check_pin(got.uri, got.known, expected)
        return Prepared(got.uri, got.zip_path, got.known, None, None, timings)
    prepared = Prepared(
        got.uri, got.zip_path, "", None, got.temporary, timings, got.stamp, got.handle
    )
    try:
        with timed(timings, "hash"):
            digest = sha256_file(got.zip_path)
        _check_pin(got.uri, digest, expected)
        manifest = open_wheelhouse(got.zip_path, origin=got.uri).manifest
    except BaseException:
        prepared.discard()
        raise
    # The ref file is written only after a successful install: nothing is written
    # before every wheel has been checked.
    return Prepared(
        got.uri, got.zip_path, digest, manifest, got.temporary, timings, got.stamp, got.handle
    )


class _Fetched(NamedTuple):
    uri: str
    """A run folder's URI becomes its wheelhouse.zip's."""
    zip_path: Path
    temporary: Path | None = None
    stamp: Stamp | None = None
    known: str | None = None
    """The digest the ref file knows (the install is complete: nothing else is read)."""
    handle: IO[bytes] | None = None


def _fetch(uri: str, node: Path, warm: bool) -> _Fetched:
    storage = storage_for(uri)
    local = storage.local_path(uri)
    if local is None:
        downloads = private_dir(node / "downloads")
        copy = Path(tempfile.mkdtemp(prefix="fetch-", dir=downloads)) / WHEELHOUSE_NAME
        storage.download(uri, copy)
        return _Fetched(uri, copy, copy)
    uri, local = _local_file(uri, local)
    handle = _open_pinned(uri, local)
    try:
        # Keyed by the absolute path: a relative URI means different files in different cwds.
        stamp = _stamp(local, os.fstat(handle.fileno()))
        known = _read_ref(node, stamp) if warm else None
        if known is not None and _complete(node / "installs" / known) is not None:
            handle.close()
            return _Fetched(uri, local, known=known)
        zip_path, temporary = _pinned_path(handle, node)
    except BaseException:
        handle.close()
        raise
    return _Fetched(uri, zip_path, temporary, stamp, None, handle)


def _local_file(uri: str, local: Path) -> tuple[str, Path]:
    """The wheelhouse file for a POSIX ``uri``: a run folder gives its ``wheelhouse.zip``."""
    try:
        info = local.stat()
    except FileNotFoundError as exc:
        raise StorageError(
            f"wheelhouse {uri} does not exist; check the path handed from the build task"
        ) from exc
    except OSError as exc:
        raise StorageError(f"cannot read wheelhouse {uri}: {exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        inside = local / WHEELHOUSE_NAME
        if not inside.is_file():
            raise InputError(
                f"{uri} is a folder without a {WHEELHOUSE_NAME}; pass the wheelhouse.zip a "
                "build published (or the run folder that holds it)"
            )
        return f"{uri.rstrip('/')}/{WHEELHOUSE_NAME}", inside
    return uri, local


def _open_pinned(uri: str, local: Path) -> IO[bytes]:
    """``local`` opened once, refused unless it is a regular file; never blocks on a FIFO."""
    try:
        fd = os.open(local, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise StorageError(f"cannot read wheelhouse {uri}: {exc}") from exc
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise IntegrityError(
            f"{uri} is not a regular file (a FIFO, a device?); pass the wheelhouse.zip a "
            "build published. Nothing was installed."
        )
    return handle


def _pinned_path(handle: IO[bytes], node: Path) -> tuple[Path, Path | None]:
    """A path that reads ``handle``'s file whatever happens to its name: (path, copy or None)."""
    if _PROC_FD.is_dir():
        return _PROC_FD / str(handle.fileno()), None
    downloads = private_dir(node / "downloads")
    copy = Path(tempfile.mkdtemp(prefix="fetch-", dir=downloads)) / WHEELHOUSE_NAME
    with copy.open("wb") as out:
        shutil.copyfileobj(handle, out, CHUNK)
    return copy, copy


# --------------------------------------------------------------------------- checks


@functools.lru_cache(maxsize=1)
def _interpreter_tags() -> frozenset[Tag]:
    return running_interpreter_tags()  # ~5 ms: once per process keeps warm loads fast


def check_tags(
    uri: str,
    filenames: tuple[str, ...] | list[str],
    built_for: Mapping[str, Any],
    tags: frozenset[Tag] | None = None,
) -> None:
    """Every wheel's tags against the running interpreter (file names only: no I/O)."""
    accepted = tags if tags is not None else _interpreter_tags()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = str(built_for.get("python_version", "?"))
    platforms = built_for.get("platforms") or ["?"]
    for filename in filenames:
        try:
            _name, _version, _build, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise IntegrityError(f"{uri}: {filename} is not a wheel name") from exc
        if not wheel_tags & accepted:
            raise IncompatibleWheelError(
                f"{filename} in {uri} does not fit the running interpreter: the wheelhouse "
                f"was built for Python {python} ({platforms[0]}) but this is Python {running} "
                f"({sys.platform}); rebuild it for this cluster (`sparkdeps build "
                f"--python-version {running}` or the right --profile), or run the job on a "
                f"Python {python} runtime. Nothing was installed."
            )


def check_wheels(prepared: Prepared, tags: frozenset[Tag] | None = None) -> None:
    """Tags, then each wheel's sha256 and contents against the manifest. Writes nothing."""
    manifest = prepared.manifest
    if manifest is None:
        raise IntegrityError("internal: check_wheels needs the manifest")
    check_tags(prepared.uri, [wheel.filename for wheel in manifest.wheels], manifest.target, tags)
    shadowed = shadowing(manifest.top_level)
    if shadowed:
        raise IntegrityError(
            f"{prepared.uri} carries top-level {', '.join(shadowed)}, which would shadow the "
            f"standard library once first on sys.path; rebuild without them, or set "
            f"{ALLOW_ENV}={','.join(shadowed)} if you really mean it. Nothing was installed."
        )
    for wheel in manifest.wheels:
        with open_stored_wheel(prepared.zip_path, wheel.filename) as handle:
            digest = sha256_stream(handle)
            if digest != wheel.sha256:
                raise IntegrityError(
                    f"{wheel.filename} in {prepared.uri} does not match its manifest "
                    f"(sha256 {digest[:16]}..., expected {wheel.sha256[:16]}...): the "
                    "wheelhouse was changed after it was built; rebuild it, nothing was installed"
                )
            handle.seek(0)
            check_wheel_contents(handle, wheel, prepared.uri)


# --------------------------------------------------------------------------- extraction


_BIG_WHEEL = 4 << 20


def _extract_all(prepared: Prepared, folder: Path) -> int:
    """Big wheels on a background thread, small ones on this one, side by side.

    Measured on 2 cores: big wheels spend their time in zlib and writes, which
    release the GIL, so one helper thread nearly halves a 25 MB wheelhouse; many
    small files are bound by Python overhead under the GIL, and more threads only
    add contention (a tzdata-sized wheelhouse was 3x slower with a pool of 4).
    """
    assert prepared.manifest is not None
    wheels = sorted(prepared.manifest.wheels, key=lambda wheel: -wheel.size)
    tracker = Tracker(
        "install",
        total=len(wheels),
        bytes_total=sum(wheel.size for wheel in wheels),
        item_level=logging.DEBUG,  # hundreds of wheels: one INFO line at the end
    )

    def one(wheel: WheelInfo) -> int:
        tracker.start(wheel.filename)
        written = extract_wheel(prepared.zip_path, wheel.filename, folder)
        tracker.item_done(wheel.filename, wheel.size)
        return written

    big = [wheel for wheel in wheels if wheel.size >= _BIG_WHEEL]
    small = [wheel for wheel in wheels if wheel.size < _BIG_WHEEL]
    helpers = min(len(big), 4, max(1, (os.cpu_count() or 1) - 1))
    if not big or (os.cpu_count() or 1) < 2:
        written = sum(one(w) for w in wheels)
    else:
        with ThreadPoolExecutor(helpers, thread_name_prefix="sparkdeps-extract") as pool:
            futures = [pool.submit(one, w) for w in big]
            written = sum(one(w) for w in small)
            written += sum(future.result() for future in futures)
    tracker.finish()
    return written


# --------------------------------------------------------------------------- install


@dataclass(frozen=True)
class InstallResult:
    folder: Path
    digest: str
    reused: bool
    wheels: tuple[str, ...]
    top_level: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] | None = None
    """The manifest's ``runtime`` section (runtime-aware wheelhouses only)."""


def _digest_lock(node: Path, digest: str) -> AbstractContextManager[None]:
    return file_lock(
        private_dir(node / "locks") / f"{digest}.lock",
        waiting=f"another process is installing wheelhouse {digest[:16]}; waiting",
    )


def _complete(folder: Path) -> dict[str, Any] | None:
    """The install marker of a complete folder; None when missing or damaged (redo it)."""
    try:
        data = json.loads((folder / COMPLETE_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("wheels", []), list):
        return None
    return data


def _reused(
    folder: Path, digest: str, timings: dict[str, float], marker: dict[str, Any]
) -> InstallResult:
    return InstallResult(
        folder=folder,
        digest=digest,
        reused=True,
        wheels=tuple(str(name) for name in marker.get("wheels", ())),
        top_level=tuple(marker.get("top_level", ())),
        timings=timings,
        target=dict(marker.get("target", {})),
        runtime=marker.get("runtime") if isinstance(marker.get("runtime"), dict) else None,
    )


def _remember(node: Path, prepared: Prepared) -> None:
    if prepared.stamp is not None and prepared.manifest is not None:
        _write_ref(node, prepared.stamp, prepared.digest)


def _clear_leftovers(installs: Path, digest: str) -> None:
    """Under the digest's lock: whatever is there without a marker was left by a killed load."""
    folder = installs / digest
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():  # no valid marker: not ours to trust
        logger.warning("re-installing %s: its install marker is missing or damaged", folder)
        shutil.rmtree(folder)
    for leftover in installs.glob(f".{digest}.*.partial"):
        logger.info("removing %s, left by an interrupted load", leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)


def _install_into(prepared: Prepared, installs: Path, folder: Path) -> int:
    """Extract into a partial folder, write the markers, rename: bytes written."""
    manifest = prepared.manifest
    assert manifest is not None
    partial = installs / f".{prepared.digest}.{uuid.uuid4().hex}.partial"
    partial.mkdir()
    try:
        size = _extract_all(prepared, partial)
        marker = {
            "uri": prepared.uri,
            "digest": prepared.digest,
            "wheels": [wheel.filename for wheel in manifest.wheels],
            "top_level": list(manifest.top_level),
            "target": dict(manifest.target),
            **({"runtime": dict(manifest.runtime)} if manifest.runtime is not None else {}),
            "pid": os.getpid(),
            "installed": time.time(),
            "bytes": size,
        }
        (partial / MANIFEST_NAME).write_bytes(manifest.to_json())
        (partial / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1), "utf-8")
        partial.rename(folder)  # atomic: the folder exists only when complete
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return size


def install(prepared: Prepared, node: Path) -> InstallResult:
    """Install into ``node/installs/<digest>/`` unless it is already complete there.

    The caller has run :func:`check_wheels` when ``prepared.manifest`` is set.
    """
    timings = dict(prepared.timings)
    installs = node / "installs"
    folder = installs / prepared.digest
    marker = _complete(folder)
    if marker is not None:
        _remember(node, prepared)
        return _reused(folder, prepared.digest, timings, marker)
    if prepared.manifest is None:
        raise IntegrityError(
            f"the install of {prepared.uri} in {folder} was removed or damaged during this "
            "load; load it again (it will be installed afresh)"
        )
    private_dir(installs)
    with ExitStack() as held:
        with timed(timings, "lock"):
            held.enter_context(_digest_lock(node, prepared.digest))
        marker = _complete(folder)
        if marker is not None:  # another process finished while we waited
            _remember(node, prepared)
            return _reused(folder, prepared.digest, timings, marker)
        _clear_leftovers(installs, prepared.digest)
        with timed(timings, "install"):
            size = _install_into(prepared, installs, folder)
        _remember(node, prepared)
        with (node / "install.log").open("a", encoding="utf-8") as log:
            log.write(
                f"{time.time():.3f} pid={os.getpid()} installed {prepared.digest} {prepared.uri}\n"
            )
    manifest = prepared.manifest
    logger.info(
        "installed %s (%.1f MB) into %s in %.2fs",
        plural(len(manifest.wheels), "wheel"),
        size / 1e6,
        folder,
        timings["install"],
    )
    return InstallResult(
        folder=folder,
        digest=prepared.digest,
        reused=False,
        wheels=tuple(wheel.filename for wheel in manifest.wheels),
        top_level=tuple(manifest.top_level),
        timings=timings,
        target=dict(manifest.target),
        runtime=dict(manifest.runtime) if manifest.runtime is not None else None,
    )


def pip_install(prepared: Prepared) -> None:
    """``pip install --no-index --no-deps`` of the (checked) wheels into this environment."""
    assert prepared.manifest is not None
    with tempfile.TemporaryDirectory(prefix="sparkdeps-pip-") as work:
        folder = Path(work)
        paths = []
        for wheel in prepared.manifest.wheels:
            destination = folder / wheel.filename
            with (
                open_stored_wheel(prepared.zip_path, wheel.filename) as source,
                destination.open("wb") as out,
            ):
                shutil.copyfileobj(source, out, CHUNK)
            paths.append(destination)
        run(
            [*pip_command(), "install", "--no-index", "--no-deps", "--no-input", *paths],
            what=f"pip install of {prepared.uri}",
            hint="mode='pip' installs into the running environment; use the default mode='cache' "
            "if that environment is read-only",
        )


def activate(folder: Path) -> None:
    """Put ``folder`` first on ``sys.path`` (once) and drop stale import caches."""
    import importlib

    entry = os.fspath(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
