"""Where wheelhouses live: local paths, ``file:`` URIs, ``/Volumes``, ``dbfs:``.

One small :class:`Storage` protocol with two implementations: POSIX paths
(local disk, ``file:``, Unity Catalog Volumes and the ``/dbfs`` mount, which are
POSIX on a cluster) and ``dbfs:/`` through ``dbutils.fs``. Publishing writes a
temporary name and renames it, so a reader never sees a partial file.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from .databricks import Dbutils, get_dbutils
from .errors import StorageError

__all__ = [
    "DbfsStorage",
    "Entry",
    "LocalStorage",
    "PublishConflict",
    "Storage",
    "download_copy",
    "join_uri",
    "local_file",
    "storage_for",
]

logger = logging.getLogger(__name__)
_DBFS_MOUNT = Path("/dbfs")


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    mtime: float
    size: int


class Storage(Protocol):
    """The operations sparkdeps needs from a place that holds run folders."""

    def exists(self, uri: str) -> bool: ...

    def stat(self, uri: str) -> Entry | None: ...

    def download(self, uri: str, local: Path) -> None: ...

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        """Copy ``local`` to ``uri`` atomically (temporary name, then rename).

        With ``exclusive``, fail with :class:`PublishConflict` when ``uri`` exists
        (or appears meanwhile): of several publishers, exactly one wins.
        """
        ...

    def remove_tree(self, uri: str) -> bool:
        """Remove a file or folder; False if it was not there."""
        ...

    def list_dir(self, uri: str) -> list[Entry]: ...

    def local_path(self, uri: str) -> Path | None:
        """A POSIX path for ``uri`` if the driver can open it directly."""
        ...


def join_uri(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def _as_path(uri: str) -> Path:
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"{uri}: file: URIs must name a local path")
        return Path(unquote(parsed.path))
    return Path(uri).expanduser()


def _linked(source: Path, link: Path) -> bool:
    if source.stat().st_mode & 0o222:
        return False  # writable: someone may still change it, so it is copied
    try:
        os.link(source, link)
    except OSError:  # another file system, or links refused (FUSE mounts such as /Volumes)
        return False
    return True


class PublishConflict(StorageError, FileExistsError):
    """An exclusive publish found its name taken: another publisher won."""


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS}


def _link_exclusive(temporary: Path, final: Path, uri: str) -> None:
    """``final`` becomes ``temporary``'s bytes only if it does not exist: one winner.

    A hard link is atomic and fails when the name is taken. Where the file system
    has no hard links (some FUSE mounts), the name is claimed with ``O_EXCL`` and
    then filled: still one winner, though a reader may see it grow.
    """
    try:
        os.link(temporary, final)
        return
    except FileExistsError as exc:
        raise PublishConflict(f"{uri} already exists") from exc
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as exc:
        raise PublishConflict(f"{uri} already exists") from exc
    with os.fdopen(fd, "wb") as out, temporary.open("rb") as source:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


class LocalStorage:
    """POSIX paths: local folders, ``file:`` URIs, ``/Volumes/...``, ``/dbfs/...``."""

    def local_path(self, uri: str) -> Path:
        return _as_path(uri).absolute()

    def exists(self, uri: str) -> bool:
        return self.local_path(uri).exists()

    def stat(self, uri: str) -> Entry | None:
        path = self.local_path(uri)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc
        return Entry(path.name, path.is_dir(), info.st_mtime, info.st_size)

    def download(self, uri: str, local: Path) -> None:
        source = self.local_path(uri)
        try:
            shutil.copyfile(source, local)
        except FileNotFoundError as exc:
            raise StorageError(f"{uri} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"cannot copy {uri} to {local}: {exc}") from exc

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        """Copy ``local`` to ``uri`` atomically; a read-only ``local`` (a build cache entry,
        which guards itself against edits) is hard-linked when on the same file system."""
        final = self.local_path(uri)
        temporary = final.with_name(f".{final.name}.{os.urandom(16).hex()}.partial")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if not _linked(local, temporary):
                shutil.copyfile(local, temporary)
                with temporary.open("rb") as handle:
                    os.fsync(handle.fileno())
            if exclusive:
                _link_exclusive(temporary, final, uri)
            else:
                os.replace(temporary, final)
        except PublishConflict:
            raise
        except OSError as exc:
            raise StorageError(f"cannot publish {uri}: {exc}") from exc
        finally:
            temporary.unlink(missing_ok=True)

    def remove_tree(self, uri: str) -> bool:
        path = self.local_path(uri)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot remove {uri}: {exc}") from exc
        return True

    def list_dir(self, uri: str) -> list[Entry]:
        path = self.local_path(uri)
        entries: list[Entry] = []
        try:
            children = list(path.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {uri}: {exc}") from exc
        for child in children:
            try:
                info = child.stat()
            except FileNotFoundError:
                continue  # removed while we looked: another cleanup
            entries.append(Entry(child.name, child.is_dir(), info.st_mtime, info.st_size))
        return entries


class DbfsStorage:
    """``dbfs:/`` through ``dbutils.fs`` (cp to a temporary name, then mv)."""

    def __init__(self, dbutils: Dbutils) -> None:
        self._fs = dbutils.fs

    def local_path(self, uri: str) -> Path | None:
        return None

    def stat(self, uri: str) -> Entry | None:
        parent, _, name = uri.rstrip("/").rpartition("/")
        for entry in self.list_dir(parent):
            if entry.name == name:
                return entry
        return None

    def exists(self, uri: str) -> bool:
        return self.stat(uri) is not None

    def download(self, uri: str, local: Path) -> None:
        try:
            self._fs.cp(uri, local.absolute().as_uri())
        except Exception as exc:
            raise StorageError(f"cannot copy {uri} to {local}: {exc}") from exc

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        parent, _, name = uri.rstrip("/").rpartition("/")
        temporary = f"{parent}/.{name}.{os.urandom(16).hex()}.partial"
        # dbutils.fs has no exclusive create: the check narrows the race, it cannot close it
        if exclusive and self.exists(uri):
            raise PublishConflict(f"{uri} already exists")
        try:
            self._fs.mkdirs(parent)
            self._fs.cp(local.absolute().as_uri(), temporary)
            self._fs.mv(temporary, uri)
        except Exception as exc:
            try:
                self._fs.rm(temporary)
            except Exception:
                logger.debug("could not remove %s", temporary, exc_info=True)
            raise StorageError(f"cannot publish {uri}: {exc}") from exc

    def remove_tree(self, uri: str) -> bool:
        if not self.exists(uri):
            return False
        try:
            self._fs.rm(uri, True)
        except Exception as exc:
            raise StorageError(f"cannot remove {uri}: {exc}") from exc
        return True

    def list_dir(self, uri: str) -> list[Entry]:
        try:
            infos = self._fs.ls(uri)
        except Exception as exc:
            if "FileNotFound" in repr(exc) or "does not exist" in str(exc):
                return []
            raise StorageError(f"cannot list {uri}: {exc}") from exc
        entries = []
        for info in infos:
            name = str(info.name).rstrip("/")
            is_dir = str(info.name).endswith("/") or str(info.path).endswith("/")
            mtime = float(getattr(info, "modificationTime", 0) or 0) / 1000.0 or time.time()
            entries.append(Entry(name, is_dir, mtime, int(getattr(info, "size", 0) or 0)))
        return entries


def storage_for(uri: str, *, dbutils: Dbutils | None = None) -> Storage:
    """The storage that serves ``uri``.

    ``dbfs:/`` goes through dbutils when present, else through the ``/dbfs``
    mount, else it is an error (there is no other way to reach DBFS).
    """
    if uri.startswith("dbfs:"):
        utils = dbutils or get_dbutils()
        if utils is not None:
            return DbfsStorage(utils)
        if _DBFS_MOUNT.is_dir():
            return _MountedDbfs()
        raise StorageError(
            f"{uri}: dbfs: paths need dbutils or the /dbfs mount, and neither is here; "
            "use a local path or a /Volumes/... path, or run on Databricks"
        )
    scheme = urlparse(uri).scheme
    if scheme not in ("", "file") and len(scheme) > 1:  # one letter: a Windows drive
        raise StorageError(
            f"{uri}: unsupported scheme {scheme!r} (use a path, file:, /Volumes or dbfs:)"
        )
    return LocalStorage()


class _MountedDbfs(LocalStorage):
    """``dbfs:/x`` read as ``/dbfs/x`` where the FUSE mount exists."""

    def local_path(self, uri: str) -> Path:
        rest = uri[len("dbfs:") :].lstrip("/")
        return _DBFS_MOUNT / rest


def download_copy(storage: Storage, uri: str, into: Path | None = None) -> Path:
    """Download ``uri`` into a new temporary folder (under ``into``) and return the copy.

    The caller removes the copy's parent folder when done.
    """
    if into is not None:
        into.mkdir(parents=True, exist_ok=True)
    import tempfile  # noqa: PLC0415 (only a copy needs it; keeps a warm load light)

    folder = Path(tempfile.mkdtemp(prefix="sparkdeps-copy-", dir=into))
    copy = folder / (uri.rstrip("/").rpartition("/")[2] or "file")
    try:
        storage.download(uri, copy)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return copy


@contextmanager
def local_file(storage: Storage, uri: str) -> Iterator[Path]:
    """``uri`` as a local file: in place on POSIX storage, else a copy removed afterwards."""
    local = storage.local_path(uri)
    if local is not None:
        yield local
        return
    copy = download_copy(storage, uri)
    try:
        yield copy
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
