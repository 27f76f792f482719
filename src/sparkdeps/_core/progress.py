"""Progress of long work (download, driver install, twin creation), for whoever shows it.

The library never prints. Long phases report :class:`Step` values through
:func:`report`: each goes to the listeners registered with :func:`listening`
(the CLI draws a live line on a terminal; a notebook could draw a bar) and, as
plain log lines, to the ``sparkdeps._core.progress`` logger (one line per
finished item and per finished phase), which is what logs and CI see.

A phase reports through a :class:`Tracker`::

    tracker = Tracker("twin", total=len(packages))
    for package in packages:
        tracker.start(package)
        ...
        tracker.item_done(package, size)
    tracker.finish()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Listener",
    "Step",
    "Tracker",
    "human_bytes",
    "listening",
    "plural",
    "report",
]

logger = logging.getLogger(__name__)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 wheel``, ``2 wheels``; ``many`` for irregular words (``1 was``/``2 were``)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def human_bytes(size: float) -> str:
    """``532 B``, ``12.3 kB``, ``133.0 MB``, ``1.20 GB`` (powers of 1000, as pip shows)."""
    if size < 1000:
        return f"{int(size)} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.2f} GB"


@dataclass(frozen=True)
class Step:
    """Where a phase stands. ``finished`` marks its last report, with ``seconds``."""

    phase: str
    """``download``, ``install``, ``twin``, ..."""
    done: int = 0
    """Items (packages, wheels) finished so far."""
    total: int | None = None
    current: str = ""
    """The item in progress, or the one just finished."""
    bytes_done: int = 0
    bytes_total: int | None = None
    finished: bool = False
    seconds: float = 0.0
    """Time since the phase started."""

    def summary(self) -> str:
        """``download 3/21 numpy-2.2.1 (40.2 MB of 133.0 MB)``: one plain line."""
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        text = f"{self.phase} {count}"
        if self.current:
            text += f" {self.current}"
        if self.bytes_done or self.bytes_total:
            total = f" of {human_bytes(self.bytes_total)}" if self.bytes_total else ""
            text += f" ({human_bytes(self.bytes_done)}{total})"
        return text


class Listener(Protocol):
    """Anything that wants every :class:`Step` (called on the reporting thread)."""

    def __call__(self, step: Step) -> None: ...


_lock = threading.Lock()
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every :class:`Step` reported inside the block to ``listener`` too."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def report(step: Step, *, log: bool = True, level: int = logging.INFO) -> None:
    """Hand ``step`` to the listeners, and log it when ``log`` (item and phase ends).

    Phase ends are logged at INFO; items at ``level``."""
    if log:
        if step.finished:
            # "phase_end" lets a live display keep this line and drop the per-item ones
            logger.info("%s done in %.2fs", step.summary(), step.seconds, extra={"phase_end": True})
        else:
            logger.log(level, "%s", step.summary())
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(step)
        except Exception:  # a display must never break the work it shows
            logger.debug("progress listener failed", exc_info=True)


class Tracker:
    """Counts items and bytes of one phase and reports them; safe across threads."""

    def __init__(
        self,
        phase: str,
        *,
        total: int | None = None,
        bytes_total: int | None = None,
        item_level: int = logging.INFO,
    ) -> None:
        """``item_level``: how each finished item is logged (DEBUG for hundreds of them)."""
        self.phase = phase
        self.item_level = item_level
        self.total = total
        self.bytes_total = bytes_total
        self.done = 0
        self.bytes_done = 0
        self.current = ""
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def _step(self, *, finished: bool = False) -> Step:
        return Step(
            phase=self.phase,
            done=self.done,
            total=self.total,
            current=self.current,
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            finished=finished,
            seconds=time.perf_counter() - self._started,
        )

    def start(self, item: str) -> None:
        """``item`` is now in progress (shown live, not logged)."""
        with self._lock:
            self.current = item
            step = self._step()
        report(step, log=False)

    def add_bytes(self, count: int) -> None:
        """``count`` more bytes of the current item (shown live, not logged)."""
        with self._lock:
            self.bytes_done += count
            step = self._step()
        report(step, log=False)

    def item_done(self, item: str, size: int = 0, *, counted: int = 0) -> None:
        """``item`` finished; ``size`` bytes in all, of which ``counted`` were already added."""
        with self._lock:
            self.done += 1
            self.current = item
            self.bytes_done += max(0, size - counted)
            step = self._step()
        report(step, level=self.item_level)

    def finish(self) -> float:
        """Report the end of the phase; returns its seconds."""
        with self._lock:
            self.current = ""
            step = self._step(finished=True)
        report(step)
        return step.seconds
