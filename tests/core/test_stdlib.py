"""``_core/stdlib``: names that would shadow the standard library, unless allowed."""

from __future__ import annotations

import pytest

from sparkdeps._core.stdlib import ALLOW_ENV, shadowing


@pytest.mark.parametrize(
    ("names", "allowed", "shadows"),
    [
        (["typing", "argparse", "six"], "", ["argparse", "typing"]),
        (["typing", "argparse"], "typing, other", ["argparse"]),
        (["test", "tests", "mypkg"], "", []),  # old wheels ship a top-level test package
        (["json", "json"], "", ["json"]),
        ([], "typing", []),
    ],
    ids=["refused", "allowed-by-env", "test-is-harmless", "once", "nothing"],
)
def test_shadowing(
    names: list[str], allowed: str, shadows: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, allowed)
    assert shadowing(names) == shadows
