"""What a person sees on stderr: log lines, and a live progress line on a terminal.

The library reports progress as :class:`~sparkdeps._core.progress.Step` values
and log lines; only the command line decides how to show them. On a terminal a
single line is redrawn in place (at most ten times a second) with the phase,
the item count, the current package and the bytes so far; the per-item log
lines it replaces are dropped. Anywhere else (a log file, CI) the plain log
lines go through unchanged.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from .._core.progress import Step, human_bytes, listening

__all__ = ["ConsoleHandler", "LiveLine", "live_progress"]

_PROGRESS_LOGGER = "sparkdeps._core.progress"
_INTERVAL = 0.1


class LiveLine:
    """A tqdm-style line redrawn with ``\\r``: ``download 3/21 numpy-2.2.1 (16.4 MB)  40.2 MB``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self._last = 0.0

    def __call__(self, step: Step) -> None:
        if step.finished:
            self.clear()
            return
        now = time.monotonic()
        if now - self._last < _INTERVAL:
            return
        self._last = now
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = self.render(step)
        self.stream.write("\r" + text[:width] + "\x1b[K")
        self.stream.flush()
        self.shown = True

    @staticmethod
    def render(step: Step) -> str:
        count = f"{step.done}/{step.total}" if step.total is not None else str(step.done)
        text = f"{step.phase} {count}"
        if step.bytes_done:
            text += f"  {human_bytes(step.bytes_done)}"
            if step.seconds > 0.5:
                text += f" ({human_bytes(step.bytes_done / step.seconds)}/s)"
        if step.current:
            text += f"  {step.current}"
        return text + f"  {step.seconds:.0f}s"

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log lines to stderr; with a live line, clears it first and drops per-item lines."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.live: LiveLine | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.live is not None:
            if record.name == _PROGRESS_LOGGER and not getattr(record, "phase_end", False):
                return  # the live line shows it
            self.live.clear()
        super().emit(record)


@contextmanager
def live_progress(handler: ConsoleHandler, stream: TextIO, *, enabled: bool) -> Iterator[None]:
    """Draw progress live on ``stream`` when ``enabled`` and it is a terminal."""
    isatty = getattr(stream, "isatty", None)
    if not enabled or isatty is None or not isatty():
        yield
        return
    line = LiveLine(stream)
    handler.live = line
    try:
        with listening(line):
            yield
    finally:
        line.clear()
        handler.live = None
