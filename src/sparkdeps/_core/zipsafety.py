"""What a zip may hold: the one rule for member names and the one set of size limits.

Used for the user's input archives (``_build.archive``), for every wheel at build and
at load (``wheellisting``), and when a wheel is extracted on the driver
(``_runtime.extract``). The executors' copy of the name rule lives in
``_runtime/bootstrap.py``, which runs from source without sparkdeps; a test keeps the
two in agreement.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ESCAPING",
    "WHEEL_LIMITS",
    "WHY",
    "ArchiveLimits",
    "MemberProblem",
    "member_parts",
    "member_problem",
]

_MIB = 1 << 20
_GIB = 1 << 30
_NAME_MAX = 255
"""Bytes in one path component on every file system a cluster uses."""

MemberProblem = Literal["empty", "absolute", "backslash", "parent", "control", "long"]
ESCAPING: frozenset[MemberProblem] = frozenset({"absolute", "backslash", "parent"})
"""The problems that would write outside the destination folder."""
WHY: dict[MemberProblem, str] = {
    "empty": "an empty name",
    "absolute": "an absolute path or a drive",
    "backslash": "a backslash",
    "parent": "a '..' part",
    "control": "invisible or control characters",
    "long": f"a name part over {_NAME_MAX} bytes, which no file system can hold",
}


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what a zip may expand to: the whole input (inner archives included), or
    one wheel (:data:`WHEEL_LIMITS`)."""

    max_total_size: int = 2 * _GIB
    """Total uncompressed bytes."""
    max_ratio: float = 200.0
    """Uncompressed / compressed size of one zip, checked once past ``ratio_floor`` bytes
    (below it a high ratio does no harm)."""
    max_entries: int = 100_000
    max_depth: int = 3
    """How many levels of ``.zip`` inside ``.zip`` are opened (input archives)."""
    ratio_floor: int = _MIB

    def too_dense(self, expanded: int, compressed: int) -> bool:
        """``expanded`` bytes from ``compressed`` is past the ratio limit."""
        return expanded > self.ratio_floor and expanded > self.max_ratio * max(compressed, 1)


WHEEL_LIMITS = ArchiveLimits(max_total_size=8 * _GIB)
"""One wheel: the biggest CUDA wheels expand to about 4 GiB."""


def member_problem(name: str) -> MemberProblem | None:
    """Why the zip member ``name`` must not be written, or None when it may.

    Parts are split on ``/`` as zip names are; ``""`` and ``.`` parts are harmless. A
    ``:`` in the first part is refused as a drive letter, a backslash as a separator
    some tools honour. Callers that accept Windows-made archives replace backslashes
    with ``/`` first.
    """
    parts = name.split("/")
    if name.startswith("/") or ":" in parts[0]:
        return "absolute"
    if "\\" in name:
        return "backslash"
    if ".." in parts:
        return "parent"
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        return "control"  # bidi overrides and zero-width characters make a name read as another
    if any(len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX for part in parts):
        return "long"
    if not member_parts(name):
        return "empty"
    return None


def member_parts(name: str) -> tuple[str, ...]:
    """The path parts of a member name whose :func:`member_problem` is None."""
    return tuple(part for part in name.split("/") if part not in ("", "."))
