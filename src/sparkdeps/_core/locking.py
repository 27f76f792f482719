"""An exclusive advisory lock on a file, for work that one process on a node does once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["file_lock"]

logger = logging.getLogger(__name__)


@contextmanager
def file_lock(path: Path, *, waiting: str | None = None) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (created with its folder) for the block.

    ``waiting`` is logged (INFO) when another process holds the lock and we wait.
    """
    import fcntl  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                logger.info("%s", waiting)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
