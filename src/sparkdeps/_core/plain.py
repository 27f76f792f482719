"""Frozen dataclasses as plain JSON-ready dicts: one rule for every ``to_dict``."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
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


def fields_dict(obj: Any, *, optional: Collection[str] = ()) -> dict[str, Any]:
    """Every field of the dataclass ``obj``, in declaration order, made plain; the
    ``optional`` ones only when they are not None."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if value is not None or field.name not in optional:
            out[field.name] = plain(value)
    return out
