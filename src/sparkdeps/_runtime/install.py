"""Driver install: a wheelhouse unpacked into a node-local cache folder keyed by its digest.

Layout under the cache root (``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` ->
``~/.cache/sparkdeps``)::

    node/refs/<sha256(uri)>.json      (uri, size, mtime_ns) -> digest: a warm load hashes nothing
    node/installs/<digest>/           exists only when complete (renamed from a partial folder)
    node/installs/.<digest>.<uuid>.partial/
    node/locks/<digest>.lock          one flock per digest: one process installs, others wait
    node/install.log                  one line per real install (evidence for tests and people)

Every wheel's tags and sha256 are checked *before* anything is written. Wheels
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
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .._core.errors import IncompatibleWheelError, IntegrityError, StorageError
from .._core.hashing import CHUNK, sha256_file, sha256_stream
from .._core.locking import file_lock
from .._core.manifest import MANIFEST_NAME, Manifest
from .._core.paths import WHEELHOUSE_NAME, cache_root, node_dir
from .._core.runner import pip_command, run
from .._core.storage import storage_for
from .._core.target import running_interpreter_tags
from .._core.timing import timed
from .._core.wheelhouse import open_wheelhouse
from .extract import extract_wheel, open_stored_wheel

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
    stamp: tuple[str, int, int] | None = None
    """(absolute path, size, mtime_ns) of a POSIX wheelhouse, remembered once installed."""

    def discard(self) -> None:
        """Remove the downloaded copy, if any."""
        if self.temporary is not None:
            shutil.rmtree(self.temporary.parent, ignore_errors=True)


def _ref_path(node: Path, uri: str) -> Path:
    return node / "refs" / f"{hashlib.sha256(uri.encode('utf-8')).hexdigest()[:32]}.json"


def _read_ref(node: Path, uri: str, size: int, mtime_ns: int) -> str | None:
    try:
        data = json.loads(_ref_path(node, uri).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("uri") == uri and data.get("size") == size and data.get("mtime_ns") == mtime_ns:
        digest = data.get("digest")
        return digest if isinstance(digest, str) else None
    return None


def _write_ref(node: Path, uri: str, size: int, mtime_ns: int, digest: str) -> None:
    path = _ref_path(node, uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        temporary.write_text(
            json.dumps({"uri": uri, "size": size, "mtime_ns": mtime_ns, "digest": digest}), "utf-8"
        )
        os.replace(temporary, path)
    except OSError as exc:  # only a speed-up: never fail a load for it
        logger.debug("could not write the ref file %s: %s", path, exc)


def prepare(uri: str, node: Path, *, warm: bool = True) -> Prepared:
    """Find the wheelhouse's bytes on this node and its digest, as cheaply as possible.

    A POSIX path (local, ``file:``, ``/Volumes``, ``/dbfs``) is read in place; a
    ``dbfs:`` URI through dbutils is downloaded to a temporary file first. When
    the ref file knows (uri, size, mtime_ns) and the install folder is complete,
    nothing is read at all (unless ``warm`` is False: then the manifest is always read).
    """
    timings: dict[str, float] = {}
    with timed(timings, "fetch"):
        zip_path, temporary, stamp, known = _fetch(uri, node, warm)
    if known is not None:
        return Prepared(uri, zip_path, known, None, None, timings)
    with timed(timings, "hash"):
        digest = sha256_file(zip_path)
    try:
        manifest = open_wheelhouse(zip_path, origin=uri).manifest
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary.parent, ignore_errors=True)
        raise
    # The ref file is written only after a successful install: nothing is written
    # before every wheel has been checked.
    return Prepared(uri, zip_path, digest, manifest, temporary, timings, stamp)


def _fetch(
    uri: str, node: Path, warm: bool
) -> tuple[Path, Path | None, tuple[str, int, int] | None, str | None]:
    """(local zip, downloaded copy or None, POSIX stamp or None, digest known from the ref)."""
    storage = storage_for(uri)
    local = storage.local_path(uri)
    if local is not None:
        try:
            info = local.stat()
        except FileNotFoundError as exc:
            raise StorageError(
                f"wheelhouse {uri} does not exist; check the path handed from the build task"
            ) from exc
        except OSError as exc:
            raise StorageError(f"cannot read wheelhouse {uri}: {exc}") from exc
        # Keyed by the absolute path: a relative URI means different files in different cwds.
        known = (
            None if not warm else _read_ref(node, os.fspath(local), info.st_size, info.st_mtime_ns)
        )
        if known is not None and (node / "installs" / known / COMPLETE_MARKER).is_file():
            return local, None, None, known
        return local, None, (os.fspath(local), info.st_size, info.st_mtime_ns), None
    downloads = node / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix="fetch-", dir=downloads)) / WHEELHOUSE_NAME
    storage.download(uri, temporary)
    return temporary, temporary, None, None


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
    """Tags against the running interpreter, then sha256 against the manifest. Writes nothing."""
    manifest = prepared.manifest
    if manifest is None:
        raise IntegrityError("internal: check_wheels needs the manifest")
    check_tags(prepared.uri, [wheel.filename for wheel in manifest.wheels], manifest.target, tags)
    for wheel in manifest.wheels:
        with open_stored_wheel(prepared.zip_path, wheel.filename) as handle:
            digest = sha256_stream(handle)
        if digest != wheel.sha256:
            raise IntegrityError(
                f"{wheel.filename} in {prepared.uri} does not match its manifest "
                f"(sha256 {digest[:16]}..., expected {wheel.sha256[:16]}...): the "
                "wheelhouse was changed after it was built; rebuild it, nothing was installed"
            )


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
    big = [wheel for wheel in wheels if wheel.size >= _BIG_WHEEL]
    small = [wheel for wheel in wheels if wheel.size < _BIG_WHEEL]
    helpers = min(len(big), 4, max(1, (os.cpu_count() or 1) - 1))
    if not big or (os.cpu_count() or 1) < 2:
        return sum(extract_wheel(prepared.zip_path, w.filename, folder) for w in wheels)
    with ThreadPoolExecutor(helpers, thread_name_prefix="sparkdeps-extract") as pool:
        futures = [pool.submit(extract_wheel, prepared.zip_path, w.filename, folder) for w in big]
        written = sum(extract_wheel(prepared.zip_path, w.filename, folder) for w in small)
        return written + sum(future.result() for future in futures)


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


def _digest_lock(node: Path, digest: str) -> AbstractContextManager[None]:
    return file_lock(
        node / "locks" / f"{digest}.lock",
        waiting=f"another process is installing wheelhouse {digest[:16]}; waiting",
    )


def _read_marker(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / COMPLETE_MARKER).read_text("utf-8"))
    return data if isinstance(data, dict) else {}


def _reused(folder: Path, digest: str, timings: dict[str, float]) -> InstallResult:
    marker = _read_marker(folder)
    return InstallResult(
        folder=folder,
        digest=digest,
        reused=True,
        wheels=tuple(str(name) for name in marker.get("wheels", ())),
        top_level=tuple(marker.get("top_level", ())),
        timings=timings,
        target=dict(marker.get("target", {})),
    )


def _remember(node: Path, prepared: Prepared) -> None:
    if prepared.stamp is not None and prepared.manifest is not None:
        _write_ref(node, *prepared.stamp, prepared.digest)


def _clear_leftovers(installs: Path, digest: str) -> None:
    """Under the digest's lock: whatever is there without a marker was left by a killed load."""
    folder = installs / digest
    if folder.exists():  # no marker: not ours to trust (should not happen)
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
    if (folder / COMPLETE_MARKER).is_file():
        _remember(node, prepared)
        return _reused(folder, prepared.digest, timings)
    if prepared.manifest is None:
        raise IntegrityError(f"internal: no manifest for a cold install of {prepared.uri}")
    installs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        with timed(timings, "lock"):
            held.enter_context(_digest_lock(node, prepared.digest))
        if (folder / COMPLETE_MARKER).is_file():  # another process finished while we waited
            _remember(node, prepared)
            return _reused(folder, prepared.digest, timings)
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
        "installed %d wheels (%.1f MB) into %s in %.2fs",
        len(manifest.wheels),
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
