"""Fetching a wheelhouse on this node: its bytes, its digest and its manifest, as cheaply
as possible, and the ref files that let a warm load read nothing at all.

The wheelhouse is opened once; hashing, checking and extracting all read that one
open file (``/proc/self/fd/<n>``, else a private copy), so a file replaced mid-load
cannot be installed under the first one's digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from .._core.errors import InputError, IntegrityError, StorageError
from .._core.hashing import CHUNK, DIGEST, sha256_file
from .._core.paths import WHEELHOUSE_NAME
from .._core.private import private_dir
from .._core.redaction import redact
from .._core.storage import storage_for
from .._core.timing import timed

if TYPE_CHECKING:
    from .._core.manifest import Manifest

__all__ = [
    "COMPLETE_MARKER",
    "Prepared",
    "Stamp",
    "fetch_wheelhouse",
    "installed_marker",
    "write_ref",
]

logger = logging.getLogger(__name__)

COMPLETE_MARKER = ".sparkdeps-install.json"
"""Written last into an install folder: the folder is complete only with it."""
_PROC_FD = Path("/proc/self/fd")

Stamp = tuple[str, int, int, int, int]
"""(absolute path, size, mtime_ns, inode, ctime_ns): a file replaced in place, even with
the same size and mtime, gets a new inode or ctime, which no user can set back."""


def installed_marker(folder: Path) -> dict[str, Any] | None:
    """The install marker of a complete folder; None when missing or damaged (redo it)."""
    try:
        data = json.loads((folder / COMPLETE_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("wheels", []), list):
        return None
    return data


@dataclass(frozen=True)
class Prepared:
    """A wheelhouse ready to check and install: a local zip, its digest and manifest.

    Holds an open file and maybe a downloaded copy: use it as a context manager
    (``with fetch_wheelhouse(...) as prepared:``), which releases both at the end.
    """

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

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Leaving the block releases the open file and the download: :meth:`discard`."""
        self.discard()


def _ref_path(node_cache: Path, uri: str) -> Path:
    return node_cache / "refs" / f"{hashlib.sha256(uri.encode('utf-8')).hexdigest()[:32]}.json"


def _stamp(path: Path, info: os.stat_result) -> Stamp:
    return (os.fspath(path), info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


def _read_ref(node_cache: Path, stamp: Stamp) -> str | None:
    try:
        data = json.loads(_ref_path(node_cache, stamp[0]).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != list(stamp):
        return None
    digest = data.get("digest")
    # the digest names a folder under installs/: only a sha256 may
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


def write_ref(node_cache: Path, stamp: Stamp, digest: str) -> None:
    path = _ref_path(node_cache, stamp[0])
    try:
        private_dir(path.parent)
        temporary = path.with_name(f".{path.name}.{os.urandom(16).hex()}")
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
            f"the build's was {expected[:16]}...; it was replaced after the build. Nothing was "
            "installed.",
            fix="run the build again (or pass the path the new build printed)",
        )


def fetch_wheelhouse(
    uri: str, node_cache: Path, *, warm: bool = True, expected: str | None = None
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
    if node_cache.exists():  # a cache someone else can write is refused before it is read
        private_dir(node_cache)
    with timed(timings, "fetch"):
        got = _fetch(uri, node_cache, warm)
    # from here on the URI is a label (logs, markers, results): a presigned URL's
    # query string is a credential, so it goes
    got = got._replace(uri=redact(got.uri))
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
        from .._core.wheelhouse import read_manifest  # noqa: PLC0415

        manifest = read_manifest(got.zip_path, origin=got.uri)
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


def _private_copy_path(node_cache: Path) -> Path:
    """A fresh ``wheelhouse.zip`` path in a private folder under ``node_cache/downloads``."""
    import tempfile  # noqa: PLC0415

    downloads = private_dir(node_cache / "downloads")
    return Path(tempfile.mkdtemp(prefix="fetch-", dir=downloads)) / WHEELHOUSE_NAME


def _fetch(uri: str, node_cache: Path, warm: bool) -> _Fetched:
    storage = storage_for(uri)
    local = storage.local_path(uri)
    if local is None:  # dbfs: through dbutils, object storage, the Files API
        try:
            entry = storage.stat(uri)
        except StorageError:  # a presigned URL may refuse HEAD: the download will tell
            entry = None
        if entry is not None and entry.is_dir:  # a run folder: its wheelhouse.zip
            uri = f"{uri.rstrip('/')}/{WHEELHOUSE_NAME}"
        copy = _private_copy_path(node_cache)
        try:
            storage.download(uri, copy)
        except BaseException:
            shutil.rmtree(copy.parent, ignore_errors=True)
            raise
        return _Fetched(uri, copy, copy)
    uri, local = _local_file(uri, local)
    handle = _open_pinned(uri, local)
    try:
        # Keyed by the absolute path: a relative URI means different files in different cwds.
        stamp = _stamp(local, os.fstat(handle.fileno()))
        known = _read_ref(node_cache, stamp) if warm else None
        if known is not None and installed_marker(node_cache / "installs" / known) is not None:
            handle.close()
            return _Fetched(uri, local, known=known)
        zip_path, temporary = _pinned_path(handle, node_cache)
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
            f"wheelhouse {uri} does not exist", fix="check the path handed from the build task"
        ) from exc
    except OSError as exc:
        raise StorageError(f"cannot read wheelhouse {uri}: {exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        inside = local / WHEELHOUSE_NAME
        if not inside.is_file():
            raise InputError(
                f"{uri} is a folder without a {WHEELHOUSE_NAME}",
                fix="pass the wheelhouse.zip a build published (or the run folder that holds it)",
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


def _pinned_path(handle: IO[bytes], node_cache: Path) -> tuple[Path, Path | None]:
    """A path that reads ``handle``'s file whatever happens to its name: (path, copy or None)."""
    if _PROC_FD.is_dir():
        return _PROC_FD / str(handle.fileno()), None
    copy = _private_copy_path(node_cache)
    with copy.open("wb") as out:
        shutil.copyfileobj(handle, out, CHUNK)
    return copy, copy
