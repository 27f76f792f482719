"""``timed()``: how long a block took, into a timings dict and/or read back."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

__all__ = ["Timer", "timed"]


class Timer:
    """Seconds since the block began; frozen when it ends."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self._stopped: float | None = None

    @property
    def seconds(self) -> float:
        end = self._stopped if self._stopped is not None else time.perf_counter()
        return end - self._started

    def stop(self) -> float:
        if self._stopped is None:
            self._stopped = time.perf_counter()
        return self.seconds


@contextmanager
def timed(
    timings: MutableMapping[str, float] | None = None, key: str = "", *, add: bool = False
) -> Iterator[Timer]:
    """Time the block; store the seconds under ``timings[key]`` (summed with ``add=True``).

    The time is stored also when the block raises or returns early.
    """
    timer = Timer()
    try:
        yield timer
    finally:
        seconds = timer.stop()
        if timings is not None:
            timings[key] = timings.get(key, 0.0) + seconds if add else seconds
