from __future__ import annotations

from pathlib import Path

import pytest

import sparkdeps

DEPS = Path(__file__).resolve().parent.parent / "deps"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The job's dependencies as a wheelhouse, built once per test run.

    ``deps/`` is vendored code, so no package index is needed (no_index=True).
    """
    result = sparkdeps.build(DEPS, dest=tmp_path_factory.mktemp("runs"), no_index=True)
    return result.uri
