"""The one storage interface (:class:`Storage`), and the helpers every backend shares.

Every backend keeps the same promises (docs/storage.md says how each one does):

- **atomic publish**: a reader sees a whole file or none;
- **one winner**: of several ``publish(..., exclusive=True)`` calls for one name, at
  most one succeeds, the others raise :class:`PublishConflict`;
- **cleanup and garbage collection**: ``remove_tree`` and ``list_dir`` (with
  modification times) are all ``cleanup``/``cleanup_older_than`` need.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import StorageError

__all__ = [
    "Entry",
    "PublishConflict",
    "Storage",
    "download_copy",
    "join_uri",
    "local_file",
]


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    mtime: float
    size: int


class PublishConflict(StorageError, FileExistsError):
    """An exclusive publish found its name taken: another publisher won."""


class Storage(Protocol):
    """The operations sparkdeps needs from a place that holds run folders."""

    @property
    def via(self) -> str:
        """How files get there, for messages: ``"the local file system"``, ``"s3fs"``..."""
        ...

    def exists(self, uri: str) -> bool: ...

    def stat(self, uri: str) -> Entry | None: ...

    def download(self, uri: str, local: Path) -> None: ...

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        """Copy ``local`` to ``uri`` so that a reader never sees a partial file.

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

    def executor_url(self, uri: str) -> str | None:
        """An http(s) URL executors can fetch ``uri`` from themselves (a presigned URL);
        None: they fetch it from the driver. The URL is a credential: never shown."""
        ...

    def check_writable(self, uri: str) -> None:
        """Raise :class:`StorageError` (with the fix) when ``uri`` cannot take run folders.

        Called before a build does any work: a bad dest must not cost a whole build.
        """
        ...


def join_uri(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def parent_and_name(uri: str) -> tuple[str, str]:
    """(``a/b``, ``c``) for ``a/b/c`` (a trailing slash ignored)."""
    parent, _, name = uri.rstrip("/").rpartition("/")
    return parent, name


def download_copy(storage: Storage, uri: str, into: Path | None = None) -> Path:
    """Download ``uri`` into a new temporary folder (under ``into``) and return the copy.

    The caller removes the copy's parent folder when done.
    """
    if into is not None:
        into.mkdir(parents=True, exist_ok=True)
    import tempfile  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="sparkdeps-copy-", dir=into))
    # never a query string in a file name: a presigned URL's is a credential
    copy = folder / (parent_and_name(uri.partition("?")[0])[1] or "file")
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
