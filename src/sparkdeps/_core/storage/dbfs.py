"""``dbfs:/`` through ``dbutils.fs`` on a Databricks cluster.

Publishing copies to a temporary name and moves it into place. dbutils has no
exclusive create: an exclusive publish checks first, which narrows the race
between two publishers of one run id but cannot close it (docs/storage.md).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..databricks import Dbutils
from ..errors import StorageError
from .base import Entry, PublishConflict

__all__ = ["DbfsStorage"]

logger = logging.getLogger(__name__)


class DbfsStorage:
    """``dbfs:/`` through ``dbutils.fs`` (cp to a temporary name, then mv)."""

    via = "dbutils.fs"

    def __init__(self, dbutils: Dbutils) -> None:
        self._fs = dbutils.fs

    def local_path(self, uri: str) -> Path | None:
        return None

    def check_writable(self, uri: str) -> None:
        """Nothing to probe cheaply: publishing says what went wrong."""

    def stat(self, uri: str) -> Entry | None:
        parent, _, name = uri.rstrip("/").rpartition("/")
        for entry in self.list_dir(parent):
            if entry.name == name:
                return entry
        return None

    def exists(self, uri: str) -> bool:
        return self.stat(uri) is not None

    def executor_url(self, uri: str) -> str | None:
        return None  # executors reach DBFS through the driver's copy

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
