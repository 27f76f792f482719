"""Fixtures for the hardening tests: the corpus resources and the shared test wheels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.hardening.corpus import Resources, make_resources
from tests.support.wheelhouses import restored_imports


@pytest.fixture(scope="session")
def hardening_resources(tmp_path_factory: pytest.TempPathFactory) -> Resources:
    """A find-links folder with ``sdhard-dep`` (-> ``sdhard-leaf``) and ``sdhard-leaf``."""
    return make_resources(tmp_path_factory.mktemp("hardening-packages"))


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    with restored_imports("sdhard", "sdpipe"):
        yield


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
