"""Reading TOML (lock files, pyproject.toml): ``tomllib``, or ``tomli`` on Python 3.10."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .._core.errors import InputError
from .textread import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # the build extra asks for tomli there
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["load_toml", "read_toml"]


def load_toml(text: str) -> dict[str, Any]:
    """Parse ``text``; ValueError (``TOMLDecodeError`` is one) when it is not TOML, or is
    nested too deeply for the parser (a RecursionError in tomllib)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply (arrays or tables within each other)") from exc
    return data


def read_toml(path: Path, *, origin: str) -> dict[str, Any]:
    """Parse ``path``; InputError naming ``origin`` and the fix when it is not TOML."""
    fix = "regenerate it with the tool that wrote it"
    text = read_text(path, origin=origin, fix=fix)
    try:
        return load_toml(text)
    except ValueError as exc:
        raise InputError(f"{origin}: cannot read it as TOML ({exc}); {fix}") from exc
