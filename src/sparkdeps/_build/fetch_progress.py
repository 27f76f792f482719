"""Progress of ``pip download``, read from pip's own output lines as they come.

pip (23.x, as on the runtimes; ``--progress-bar off``) prints ``Collecting
name==1.0`` when it turns to a package and ``Downloading file.whl (16.4 MB)``
(or ``Using cached ...``) when it fetches one; those lines drive a
:class:`~sparkdeps._core.progress.Tracker`. The files in the destination are
counted at the end, so the final numbers are exact whatever pip printed.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._core.progress import Tracker

__all__ = ["DownloadWatch", "parse_size"]

_COLLECTING = re.compile(r"^\s*Collecting (\S+)")
_FETCHING = re.compile(
    r"^\s*(?:Downloading|Using cached) (?P<file>\S+?)(?<!\.metadata) \((?P<size>[\d.]+ ?\w+)\)"
)
_UNITS = {"bytes": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def parse_size(text: str) -> int:
    """pip's ``16.4 MB`` / ``11 kB`` / ``532 bytes`` -> bytes (0 when unreadable)."""
    match = re.fullmatch(r"([\d.]+) ?(\w+)", text.strip())
    if match is None:
        return 0
    try:
        return round(float(match.group(1)) * _UNITS.get(match.group(2).lower(), 0))
    except ValueError:
        return 0


class DownloadWatch:
    """Feed it pip's lines (``on_line``); call :meth:`finish` with the folder at the end."""

    def __init__(self, total: int) -> None:
        self.tracker = Tracker("download", total=total)
        self._pending: tuple[str, int] | None = None

    def on_line(self, line: str) -> None:
        fetching = _FETCHING.match(line)
        if fetching is not None:
            self._close_pending()
            name = fetching.group("file").rsplit("/", 1)[-1]
            size = parse_size(fetching.group("size"))
            self._pending = (name, size)
            self.tracker.start(f"{name} ({fetching.group('size')})")
            return
        collecting = _COLLECTING.match(line)
        if collecting is not None:
            self.tracker.start(collecting.group(1))

    def _close_pending(self) -> None:
        if self._pending is not None:
            name, size = self._pending
            self._pending = None
            self.tracker.item_done(name, size)

    def finish(self, folder: Path) -> float:
        """Settle the counts on what is really in ``folder``; report the phase's end."""
        self._close_pending()
        wheels = (
            [path for path in folder.glob("*.whl") if path.is_file()] if folder.is_dir() else []
        )
        self.tracker.done = len(wheels)
        self.tracker.bytes_done = sum(path.stat().st_size for path in wheels)
        return self.tracker.finish()
