"""Live holders of an executor payload: who still serves ``<payloads>/<digest>.wheels/``.

Payloads are shared by digest (two runs whose builds hit the build cache have one
digest), and Spark keeps serving an added archive for the application's whole life:
a replacement executor fetches it again (docs/facts.md, fact 2). So a process that
delivers a payload *holds* it until it exits: a file under
``<digest>.wheels/.holders/`` that it keeps ``flock``-ed (shared). The kernel drops
the lock when the process ends, however it ends (a SIGKILL too), so a holder file
whose lock can be taken exclusively belongs to a dead process.

Cleanup removes a payload only under the digest's lock (``<payloads>/.<digest>.lock``,
which delivery takes too) and only when no live holder remains; otherwise it keeps it
and says so. Lock files are never removed: removing a lock file another process
waits on would let two processes hold "the" lock at once.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from .._core.locking import file_lock

__all__ = ["HOLDERS", "hold", "live_holders", "payload_lock"]

logger = logging.getLogger(__name__)

HOLDERS = ".holders"
_held: dict[str, tuple[Path, IO[bytes]]] = {}
"""Payload folder -> this process's holder file and its open, locked handle (kept until exit)."""


def payload_lock(payloads: Path, digest: str) -> AbstractContextManager[None]:
    """The digest's lock in ``payloads``: delivery and cleanup of one payload, one at a time."""
    return file_lock(
        payloads / f".{digest}.lock",
        waiting=f"another process is delivering or removing payload {digest[:16]}; waiting",
    )


def hold(folder: Path) -> None:
    """Record this process as a live holder of the payload ``folder`` (once per process)."""
    import fcntl  # noqa: PLC0415

    os.utime(folder)  # the last delivery: cleanup sweeps only payloads unused for a while
    key = os.fspath(folder)
    if key in _held and _held[key][0].exists():
        return
    holders = folder / HOLDERS
    holders.mkdir(mode=0o700, exist_ok=True)
    path = holders / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.hold"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    handle = os.fdopen(os.open(path, flags, 0o600), "wb")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    except OSError as exc:  # a file system without locks: cleanup will not see this holder
        logger.warning("cannot hold %s (%s): a cleanup may remove it while in use", folder, exc)
        handle.close()
        path.unlink(missing_ok=True)
        return
    handle.write(f"pid={os.getpid()}\n".encode())
    handle.flush()
    _held[key] = (path, handle)


def live_holders(folder: Path) -> int:
    """How many live processes hold ``folder``; the files of dead holders are removed."""
    import fcntl  # noqa: PLC0415

    mine = _held.get(os.fspath(folder))
    live = 0
    for path in sorted((folder / HOLDERS).glob("*.hold")):
        if mine is not None and path == mine[0]:
            live += 1  # this process still serves it (its session may be running)
            continue
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue  # gone meanwhile, or not a plain file: not a holder
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live += 1
        else:
            logger.debug("removing %s: its process has ended", path)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return live
