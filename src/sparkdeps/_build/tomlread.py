"""Reading TOML (lock files, pyproject.toml): ``tomllib``, or ``tomli`` on Python 3.10."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .._core.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the build extra asks for tomli there
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["load_toml", "read_toml"]


def load_toml(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(text)
    return data


def read_toml(path: Path, *, origin: str) -> dict[str, Any]:
    """Parse ``path``; InputError naming ``origin`` and the fix when it is not TOML."""
    try:
        return load_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            f"{origin}: cannot read it as TOML ({exc}); regenerate it with the tool that wrote it"
        ) from exc
