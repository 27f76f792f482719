"""A driver install that finishes after ``load()`` returns; the first import waits for it.

A fresh classic load serves the executors from the checked manifest while the driver
installs (:func:`.driver.install_beside`); a ``shared`` one serves them the folder's
name, and their first import waits for the folder (:func:`.bootstrap.site_folder`).
``load()`` used to wait for that install: about 2 s for a wheelhouse of 2,000 files,
during which the job could not submit its first UDF (benchmarks/RESULTS.md, issue 25,
round 4). Now ``load()`` returns once the executors are served, and this module stands
on ``sys.meta_path`` in front of the path finder until the install is whole:

* the first import of one of the wheelhouse's top-level names, and the first
  ``importlib.metadata`` lookup, wait for the install, put its folder first on
  ``sys.path``, and go on as if ``load()`` had waited;
* an install that failed raises its error there, and at every later such import;
* the next ``load()`` and ``cleanup()`` wait first (:func:`finish_driver_install`), so do
  ``os.fork()`` (a child has no thread to wait for) and the interpreter's exit (the
  install thread is not a daemon): the node cache is never left half-made.

Every wheel was checked before ``load()`` returned; what can still fail here is the
disk (space, permissions).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .._core.errors import SparkdepsError, StorageError
from .install import InstallResult, activate

__all__ = ["PendingInstall", "finish_driver_install", "pending_install"]

logger = logging.getLogger(__name__)

_NICE = 19
_THREAD_PREFIX = "sparkdeps-"
"""sparkdeps' own threads (the install and its extraction helpers) never wait here."""


class PendingInstall:
    """The driver's install running on its own thread, and the finder that waits for it."""

    def __init__(
        self, source: str, folder: Path, top_level: Sequence[str], work: Callable[[], InstallResult]
    ) -> None:
        self.source = source
        self.folder = folder
        self.top_level = frozenset(top_level)
        self._work = work
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: InstallResult | None = None
        self._error: BaseException | None = None
        self._finished = False
        self.thread = threading.Thread(target=self._run, name=f"{_THREAD_PREFIX}install")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        # below the job's own work: the executors' start and first tasks on a small
        # driver node, the job's driver code (the extraction helpers inherit it; Linux)
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)
        try:
            self._result = self._work()
        except BaseException as exc:  # raised at the first import that needs the install
            self._error = exc if isinstance(exc, SparkdepsError) else self._failed(exc)
            logger.error("%s", self._error)
        finally:
            self._done.set()

    def _failed(self, exc: BaseException) -> StorageError:
        error = StorageError(
            f"the driver's install of {self.source} into {self.folder} failed after load() "
            f"returned ({type(exc).__name__}: {exc}); the wheelhouse's packages cannot be "
            "imported on the driver",
            fix="check that the wheelhouse was not replaced or emptied while the job ran, and "
            "load it again (nothing half-made is left: the folder appears only once whole)",
        )
        error.__cause__ = exc
        return error

    def finish(self) -> InstallResult:
        """Wait for the install; once, make its folder active (on the calling thread, so
        ``sys.path`` changes only between imports); the install's error, if any."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        with self._lock:
            if not self._finished:
                self._finished = True
                _leave(self)
                activate(self._result.folder)
        return self._result

    def abandon(self) -> None:
        """Wait for the install and stand aside, leaving its folder inactive (the load
        failed: nothing of it stays on this driver's path)."""
        self._done.wait()
        _leave(self)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the install is whole (or failed); ``timeout`` in seconds."""
        return self._done.wait(timeout)

    # ---------------------------------------------------- sys.meta_path finder and loader

    def _needs_install(self) -> bool:
        if threading.current_thread().name.startswith(_THREAD_PREFIX):
            return False  # the install itself importing: waiting would deadlock
        return not self._finished

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """A spec whose loading waits: never here, where Python holds its global import
        lock (3.10-3.13) and the install thread could not import anything."""
        if path is None and fullname in self.top_level and self._needs_install():
            loader: Any = self  # a loader by protocol (create_module, exec_module)
            return importlib.util.spec_from_loader(fullname, loader)
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Wait for the install, then import the real module in the placeholder's place
        (the import system hands out what ``sys.modules`` holds once this returns)."""
        name = module.__name__
        self.finish()
        del sys.modules[name]
        sys.modules[name] = importlib.import_module(name)

    def find_distributions(self, *_args: Any, **_kwargs: Any) -> Iterator[Any]:
        if self._needs_install():
            self.finish()
        return iter(())

    def invalidate_caches(self) -> None:
        return None


_pending: list[PendingInstall] = []


def pending_install(
    source: str, folder: Path, top_level: Sequence[str], work: Callable[[], InstallResult]
) -> PendingInstall:
    """Start ``work`` (the install into ``folder``) on its own thread; until it is finished,
    imports of ``top_level`` names and metadata lookups wait for it."""
    finish_driver_install(drop_failed=True)  # one at a time; a failed one is installed anew
    pending = PendingInstall(source, folder, top_level, work)
    _pending.append(pending)
    sys.meta_path = [pending, *sys.meta_path]  # a new list: see _leave
    pending.start()
    return pending


def finish_driver_install(*, drop_failed: bool = False) -> None:
    """Wait for a driver install still running from an earlier ``load()``, and raise its
    error if it failed (``drop_failed``: forget it instead, for a load that installs
    again); nothing when there is none."""
    for pending in list(_pending):
        try:
            pending.finish()
        except Exception:
            if not drop_failed:
                raise
            _leave(pending)


def _before_fork() -> None:
    """A forked child has no install thread to wait for: the parent forks once the
    install is whole (a few seconds at most), so the child's first import finds it."""
    for pending in list(_pending):
        pending.wait()


os.register_at_fork(before=_before_fork)


def _leave(pending: PendingInstall) -> None:
    if pending in _pending:
        _pending.remove(pending)
    if pending in sys.meta_path:
        # a new list, not one changed in place: an import on another thread walks the
        # list it started with, and would skip the finder after a removed one
        sys.meta_path = [finder for finder in sys.meta_path if finder is not pending]
