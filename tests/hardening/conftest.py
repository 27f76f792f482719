"""Fixtures for the hardening tests: the corpus resources and the shared test wheels."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.hardening.corpus import Resources, make_resources


@pytest.fixture(scope="session")
def hardening_resources(tmp_path_factory: pytest.TempPathFactory) -> Resources:
    """A find-links folder with ``sdhard-dep`` (-> ``sdhard-leaf``) and ``sdhard-leaf``."""
    return make_resources(tmp_path_factory.mktemp("hardening-packages"))


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """load() puts folders first on sys.path: undo it, and forget imported test modules."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    for name in [name for name in sys.modules if name.startswith(("sdhard", "sdpipe"))]:
        del sys.modules[name]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
