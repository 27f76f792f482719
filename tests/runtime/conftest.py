"""Fixtures the runtime tests share: the load tests' wheels and a wheelhouse of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The load tests' wheels (pure, compiled, with data), built once per test module."""
    return load_test_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def wheelhouse(wheels: list[Path], tmp_path: Path) -> Path:
    """A published wheelhouse of :func:`wheels`, fresh for each test."""
    return make_wheelhouse(tmp_path / "runs", wheels)
