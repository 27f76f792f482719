"""Cache folders only this user can write: what is installed from there runs in every job.

An install planted in a node cache before the first load would be reused as if
sparkdeps had made it, so the folders of the node cache are created ``0700``
and, when they exist already, must be folders owned by this user that nobody
else can write. A file where a folder belongs (``SPARKDEPS_CACHE_DIR`` pointing
at a file, ``installs`` being a file) is a clear error, not a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import StorageError

__all__ = ["private_dir"]

_FIX = "set SPARKDEPS_CACHE_DIR (or cache_dir=) to a folder only you can write"


def private_dir(path: Path) -> Path:
    """``path``, created ``0700`` if missing; refused if it is not a private folder of ours."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except (FileExistsError, NotADirectoryError) as exc:
        raise StorageError(f"{path} (or a folder above it) is a file; {_FIX}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create the cache folder {path}: {exc}; {_FIX}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StorageError(f"{path} is not a folder; {_FIX}")
    owner = getattr(os, "geteuid", lambda: info.st_uid)()
    if info.st_uid != owner or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StorageError(
            f"the cache folder {path} can be written by other users (owner uid {info.st_uid}, "
            f"mode {stat.S_IMODE(info.st_mode):o}): an install planted there would be trusted; "
            f"make it private (chmod 700 {path}) or {_FIX}"
        )
    return path
