"""Frozen dataclasses as plain JSON-ready dicts: one rule for every ``to_dict``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["fields_dict", "plain"]


def plain(value: Any) -> Any:
    """Paths as strings, tuples as lists, mappings as dicts, the rest as it is."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


def fields_dict(obj: Any) -> dict[str, Any]:
    """Every field of the dataclass ``obj``, in declaration order, made plain."""
    return {field.name: plain(getattr(obj, field.name)) for field in dataclasses.fields(obj)}
