"""Bytecode for a shared install, compiled in the background once the folder is in place.

Every executor imports a shared install (``delivery="shared"``) from the same folder;
without ``.pyc`` each compiles the modules it imports again, or, where it may not
write, on every import. So one process compiles them all, once, beside the folder:
``compileall -j 0`` (one process per core) in a fresh interpreter (no fork of the
driver and its threads), started after the complete folder is renamed into place
and not waited for. ``load`` returns right after extraction, while Spark starts its
first job (about 4 s on ``local-cluster``: benchmarks/RESULTS.md, issue 25).

Compiling in place while executors import is safe: ``compileall`` writes each file
through ``py_compile``, which on Python 3.10 to 3.13 (and since 3.4) writes the
``.pyc`` through importlib's own atomic write (a temporary file in ``__pycache__``,
then ``os.replace``). An importer meanwhile reads a whole ``.pyc`` or none (then
compiles in memory, and may write its own, also atomically).

The child writes :func:`.install.bytecode_marker` when ``compileall`` has gone
through every module, so an orphaned compile (the driver ended first) still records
its end; a warm load that finds no marker (the compile was killed) starts it again,
and ``compileall`` skips what is up to date. One compile per folder at a time: the
starting process holds a lock file until its child ends; a second process skips.
Its outcome is logged, never raised: the install is complete and correct without
bytecode (the executors compile what they import, as before).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .._core.private import private_dir
from .install import bytecode_marker

__all__ = ["BackgroundCompile", "compile_in_background", "running_compile"]

logger = logging.getLogger(__name__)

# In the child: compileall over the folder, named as itself (``-d``); the marker last,
# atomically, whether or not every module compiled (one in bad syntax never will: pip
# leaves it as it is too, and importing it fails either way).
_CHILD = """\
import compileall, json, os, sys, time
folder, marker = sys.argv[1], sys.argv[2]
start = time.monotonic()
ok = compileall.compile_dir(folder, ddir=folder, quiet=1, workers=0)
with open(marker + ".partial", "w", encoding="utf-8") as out:
    json.dump({"all_compiled": ok, "seconds": round(time.monotonic() - start, 3)}, out)
os.replace(marker + ".partial", marker)
sys.exit(0 if ok else 1)
"""
_OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class BackgroundCompile:
    """A compile started by this process: the child and the thread that reaps it."""

    folder: Path
    command: tuple[str, ...]
    process: subprocess.Popen[bytes]
    reaper: threading.Thread

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child and its outcome's log line; its exit code (None: still running)."""
        self.reaper.join(timeout)
        return None if self.reaper.is_alive() else self.process.returncode


_running: dict[Path, BackgroundCompile] = {}


def running_compile(folder: Path) -> BackgroundCompile | None:
    """The last compile this process started for ``folder`` (running or ended)."""
    return _running.get(folder)


def compile_in_background(folder: Path, locks: Path) -> BackgroundCompile | None:
    """Start compiling ``folder`` (complete, in place) unless it is compiled already or
    another process is compiling it (its lock in ``locks``); never waits for it."""
    marker = bytecode_marker(folder)
    if marker is None:  # an interpreter without bytecode caching
        return None
    try:
        lock = _try_lock(private_dir(locks) / f"{folder.name}.bytecode.lock")
    except OSError as exc:
        logger.warning("not compiling the shared install %s in the background: %s", folder, exc)
        return None
    if lock is None:
        logger.debug("another process is compiling %s; not starting a second compile", folder)
        return None
    output: IO[bytes] | None = None
    try:
        if marker.exists():  # finished while this load went through the folder
            lock.close()
            return None
        command = (sys.executable, "-I", "-c", _CHILD, os.fspath(folder), os.fspath(marker))
        # A file, not a pipe: an orphaned child (the driver ended) writes on safely.
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the reaper)
        started = time.monotonic()
        # Its own session: the driver's terminal signals do not cut it short, and killing
        # its process group stops its workers too (killed alone, they would wait forever).
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:  # no interpreter to start (out of memory, processes)
        lock.close()
        if output is not None:
            output.close()
        logger.warning("not compiling the shared install %s in the background: %s", folder, exc)
        return None
    reaper = threading.Thread(
        target=_reap,
        args=(folder, command, process, (output, lock), started),
        name="sparkdeps-bytecode",
        daemon=True,  # the driver may end first: the child then finishes on its own
    )
    job = BackgroundCompile(folder, command, process, reaper)
    # started before another thread can find it: joining a thread not yet started raises
    # (load's install thread starts the compile while the caller may already ask for it)
    reaper.start()
    _running[folder] = job
    logger.debug("compiling %s in the background (pid %d)", folder, process.pid)
    return job


def _try_lock(path: Path) -> IO[bytes] | None:
    """The lock file, held (``flock``); None when another process holds it. Where the
    storage has no locks, the compile runs unlocked: its writes are atomic anyway."""
    handle = path.open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except OSError as exc:
        logger.debug("no lock on %s (%s): compiling without it", path, exc)
    return handle


def _reap(
    folder: Path,
    command: tuple[str, ...],
    process: subprocess.Popen[bytes],
    files: tuple[IO[bytes], IO[bytes]],
    started: float,
) -> None:
    """Wait for the child (no zombie), release the lock, log how it went."""
    output, lock = files
    try:
        code = process.wait()
        output.seek(0)
        text = output.read().decode("utf-8", "replace")[-_OUTPUT_TAIL:]
    finally:
        output.close()
        with contextlib.suppress(OSError):
            lock.close()
    elapsed = time.monotonic() - started
    if code == 0:
        logger.info("compiled the shared install %s in the background in %.1fs", folder, elapsed)
    elif code == 1:  # compileall went through; some module does not compile
        logger.info(
            "compiled the shared install %s in the background in %.1fs; some modules do not "
            "compile (importing them fails the same way):\n%s",
            folder, elapsed, text.strip(),
        )  # fmt: skip
    else:
        logger.warning(
            "compiling the shared install %s in the background failed after %.1fs (exit code "
            "%d; the executors compile what they import instead; the next load tries again)"
            "\ncommand: %s\n%s",
            folder, elapsed, code, " ".join((*command[:3], "<script>", *command[4:])),
            text.strip(),
        )  # fmt: skip
