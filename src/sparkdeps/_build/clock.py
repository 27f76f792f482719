"""Seconds per build phase: :class:`Clock` (``build`` and ``check`` time the same phases)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .._core.timing import timed

__all__ = ["Clock"]

logger = logging.getLogger(__name__)

_PHASES = ("input", "resolve", "download", "build", "wheelhouse", "publish")


@dataclass
class Clock:
    """Seconds per build phase (``check`` shares the phases up to resolution)."""

    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PHASES, 0.0))

    @contextmanager
    def phase(self, name: str, *, log: bool = True) -> Iterator[None]:
        """Time a phase; a phase that runs twice (``build``) adds up.

        ``log=False`` for a phase with nothing to do (no ``build: 0.00s``) or one
        that reports its own progress (``download``)."""
        with timed(self.timings, name, add=True) as timer:
            yield
        if log:
            logger.info("%s: %.2fs", name, timer.seconds)
