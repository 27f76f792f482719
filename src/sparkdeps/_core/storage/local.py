"""POSIX storage: local disk, ``file:`` URIs, and on a cluster the ``/Volumes``,
``/Workspace`` and ``/dbfs`` mounts.

Publishing writes a temporary name and renames it, so a reader never sees a
partial file; an exclusive publish hard-links the temporary name to the final one,
which fails when the name is taken: one winner.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import StorageError
from .base import Entry, PublishConflict

__all__ = ["DBFS_MOUNT", "LocalStorage", "MountedDbfs", "as_path"]

DBFS_MOUNT = Path("/dbfs")


def as_path(uri: str) -> Path:
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

    via = "the local file system"

    def local_path(self, uri: str) -> Path:
        return as_path(uri).absolute()

    def exists(self, uri: str) -> bool:
        return self.local_path(uri).exists()

    def executor_url(self, uri: str) -> str | None:
        return None  # every node mounting the path is ``delivery="shared"``'s case

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

    def check_writable(self, uri: str) -> None:
        """The dest is a folder (or can become one) that this process can write to.

        Probes with a temporary file in the dest, or in its nearest existing parent
        when the dest does not exist yet, and removes it: nothing is left behind.
        """
        path = self.local_path(uri)
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            what = "is a file" if existing == path else f"is below {existing}, which is a file"
            raise StorageError(
                f"dest {uri} {what}, not a folder",
                fix="pass a folder for --dest/dest= (run folders are created inside it)",
            )
        import tempfile  # noqa: PLC0415

        try:
            handle, probe = tempfile.mkstemp(prefix=".sparkdeps-probe-", dir=existing)
            os.close(handle)
            Path(probe).unlink()
        except OSError as exc:
            raise StorageError(
                f"cannot write to dest {uri} ({existing}: {exc.strerror or exc})",
                fix="pass a --dest/dest= folder this user can write to, or fix its permissions "
                "or mount",
            ) from exc


class MountedDbfs(LocalStorage):
    """``dbfs:/x`` read as ``/dbfs/x`` where the FUSE mount exists."""

    via = "the /dbfs mount"

    def local_path(self, uri: str) -> Path:
        rest = uri[len("dbfs:") :].lstrip("/")
        return DBFS_MOUNT / rest
