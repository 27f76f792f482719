"""``_core/plain``: dataclasses as JSON-ready dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import pytest

from sparkdeps._core.plain import fields_dict, plain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Path("/a/b"), "/a/b"),
        (PurePosixPath("x/y"), "x/y"),
        ((1, (2, Path("/p"))), [1, [2, "/p"]]),
        (MappingProxyType({"k": (Path("/v"),)}), {"k": ["/v"]}),
        ({"n": None, "f": 1.5, "s": "t"}, {"n": None, "f": 1.5, "s": "t"}),
        ("text", "text"),
    ],
    ids=["path", "pure-path", "nested-tuples", "mapping-proxy", "scalars", "string"],
)
def test_plain(value: Any, expected: Any) -> None:
    out = plain(value)
    assert out == expected
    json.dumps(out)  # JSON-ready


@dataclass(frozen=True)
class _Sample:
    name: str
    where: Path
    tags: tuple[str, ...] = ()
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def test_fields_dict_keeps_order_and_drops_only_optional_nones() -> None:
    sample = _Sample("x", Path("/w"), ("a", "b"))
    assert list(fields_dict(sample)) == ["name", "where", "tags", "note", "extra"]
    assert fields_dict(sample, optional=("note",)) == {
        "name": "x",
        "where": "/w",
        "tags": ["a", "b"],
        "extra": {},
    }
    noted = _Sample("x", Path("/w"), note="kept")
    assert fields_dict(noted, optional=("note",))["note"] == "kept"
