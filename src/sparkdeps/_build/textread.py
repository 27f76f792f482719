"""Reading the input's text files (locks, requirements, pyproject.toml) with a size cap.

A lock file is parsed whole (TOML cannot be streamed), and parsing takes 6 to 10 times
the file's size in memory: an 83 MB ``poetry.lock`` peaked at 555 MB. Real locks are
under 2 MB (a few hundred packages with every wheel's hash); :data:`MAX_TEXT_BYTES`
is eight times that, so no real input meets it and parsing the largest file it lets
through stays far below the build's memory budget (docs/locks-and-export.md).
"""

from __future__ import annotations

from pathlib import Path

from .._core.errors import InputError

__all__ = ["MAX_TEXT_BYTES", "read_text"]

MAX_TEXT_BYTES = 16 << 20


def _too_big(origin: str, size: str, fix: str) -> InputError:
    return InputError(
        f"{origin} is {size}, over sparkdeps' {MAX_TEXT_BYTES >> 20} MB limit for lock, "
        "requirements and pyproject files (real ones are under 2 MB)",
        fix=f"hand in the file you meant, or {fix}",
    )


def read_text(path: Path, *, origin: str, fix: str) -> str:
    """The UTF-8 text of ``path``; InputError naming ``origin`` and ``fix`` when it is
    larger than :data:`MAX_TEXT_BYTES` (checked before reading, and while reading), or
    unreadable."""
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            if size > MAX_TEXT_BYTES:
                raise _too_big(origin, f"{size / (1 << 20):.0f} MB", fix)
            data = handle.read(MAX_TEXT_BYTES + 1)  # a file that grew since: never past the cap
        if len(data) > MAX_TEXT_BYTES:
            raise _too_big(origin, f"over {MAX_TEXT_BYTES >> 20} MB", fix)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{origin}: cannot read it as UTF-8 text ({exc})", fix=fix) from exc
