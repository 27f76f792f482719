"""Progress of fetching the pinned files, from what sparkdeps knows it fetches.

The lock names every file (and its size, where the index tells): a fetcher reports
each file as it lands in the destination folder. pip's output is not read: while
pip runs, each line it prints is only a moment to look at the folder (pip moves a
file there once it is whole). The counts are settled on the folder at the end, so
the final numbers are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .._core.progress import Tracker

__all__ = ["FolderWatch", "settle"]


class FolderWatch:
    """Reports each wheel that appears in ``folder`` once (``look`` may run often)."""

    def __init__(self, folder: Path, tracker: Tracker, sizes: Mapping[str, int | None]) -> None:
        self.folder, self.tracker, self.sizes = folder, tracker, sizes
        self.seen: set[str] = {path.name for path in folder.glob("*.whl")}

    def look(self, _line: str = "") -> None:
        for path in sorted(self.folder.glob("*.whl")):
            if path.name not in self.seen:
                self.seen.add(path.name)
                size = self.sizes.get(path.name)
                self.tracker.item_done(path.name, size if size is not None else _size(path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def settle(tracker: Tracker, wheels: Iterable[Path]) -> float:
    """Set the counts to the files really fetched; report the phase's end (its seconds)."""
    files = [path for path in wheels if path.is_file()]
    tracker.done = len(files)
    tracker.bytes_done = sum(path.stat().st_size for path in files)
    return tracker.finish()
