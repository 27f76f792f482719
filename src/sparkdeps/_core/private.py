"""Cache folders only this user can write: what is installed from there runs in every job.

An install planted in a node cache before the first load would be reused as if
sparkdeps had made it, so the folders of the node cache are created ``0700``
and, when they exist already, must be folders owned by this user that nobody
else can write. A symbolic link made by another user (a ``.sparkdeps`` planted
beside a shared wheelhouse, say) is refused before anything is written through
it. A file where a folder belongs (``SPARKDEPS_CACHE_DIR`` pointing at a file,
``installs`` being a file) is a clear error, not a traceback.

Databricks storage (``/Volumes``, ``/dbfs``, ``/Workspace``) is the exception:
its FUSE mounts show every file with one owner and open modes, and who may
write there is Unity Catalog's to say, not POSIX's (docs/security.md). There a
folder must still be a folder and not a link, but owner and mode are not judged.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import StorageError

__all__ = ["DATABRICKS_MOUNTS", "on_databricks_mount", "own_file", "private_dir"]

_FIX = "set SPARKDEPS_CACHE_DIR (or cache_dir=) to a folder only you can write"
DATABRICKS_MOUNTS = ("/Volumes/", "/dbfs/", "/Workspace/")
"""Where access is Unity Catalog's (or the workspace's), not the file mode's."""


def on_databricks_mount(path: Path) -> bool:
    """True for a path on Databricks storage, where POSIX owners and modes mean nothing."""
    return os.fspath(path.absolute()).startswith(DATABRICKS_MOUNTS)


def _uid(info: os.stat_result) -> int:
    return getattr(os, "geteuid", lambda: info.st_uid)()


def own_file(path: Path) -> bool:
    """Is ``path`` a regular file of this user, not a link (one sparkdeps may reuse)?"""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == _uid(info)


def private_dir(path: Path, *, fix: str = _FIX, what: str = "the cache folder") -> Path:
    """``path``, created ``0700`` if missing; refused if it is not a private folder of ours.

    ``fix`` is every refusal's fix (what the user can do); ``what`` names the folder's role.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        link = path.lstat()
        info = path.stat()
    except (FileExistsError, NotADirectoryError) as exc:
        raise StorageError(f"{path} (or a folder above it) is a file", fix=fix) from exc
    except OSError as exc:
        raise StorageError(f"cannot create {what} {path}: {exc}", fix=fix) from exc
    owner = _uid(info)
    if stat.S_ISLNK(link.st_mode) and link.st_uid != owner:
        raise StorageError(
            f"{what} {path} is a symbolic link made by another user (uid {link.st_uid}) to "
            f"{os.path.realpath(path)}: what sparkdeps writes there would land where they "
            "chose",
            fix=f"remove the link, or {fix}",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise StorageError(f"{path} is not a folder", fix=fix)
    if on_databricks_mount(path):
        if stat.S_ISLNK(link.st_mode):
            raise StorageError(f"{what} {path} is a symbolic link", fix=f"remove it, or {fix}")
        return path
    if info.st_uid != owner or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StorageError(
            f"{what} {path} can be written by other users (owner uid {info.st_uid}, "
            f"mode {stat.S_IMODE(info.st_mode):o}): an install planted there would be trusted",
            fix=f"make it private (chmod 700 {path}) or {fix}",
        )
    return path
