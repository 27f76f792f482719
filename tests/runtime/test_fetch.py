"""``fetch_wheelhouse`` hands back a :class:`Prepared` that is a context manager: leaving
the block closes the one open file and removes a downloaded copy, on error too."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.dbutils_standin import StandinDbutils

from sparkdeps._core import databricks as _databricks
from sparkdeps._runtime.fetch import fetch_wheelhouse


@pytest.fixture
def standin_dbfs(wheelhouse: Path, tmp_path: Path) -> Iterator[str]:
    """``dbfs:/deps/run1/wheelhouse.zip`` through a stand-in for dbutils.fs (not Databricks)."""
    root = tmp_path / "dbfs"
    (root / "deps" / "run1").mkdir(parents=True)
    (root / "deps" / "run1" / "wheelhouse.zip").write_bytes(wheelhouse.read_bytes())
    _databricks.set_dbutils(StandinDbutils(root))
    try:
        yield "dbfs:/deps/run1/wheelhouse.zip"
    finally:
        _databricks.set_dbutils(None)


def test_a_local_wheelhouse_is_read_through_one_file_closed_at_the_end(
    wheelhouse: Path, tmp_path: Path
) -> None:
    with fetch_wheelhouse(str(wheelhouse), tmp_path / "node") as prepared:
        assert prepared.handle is not None and not prepared.handle.closed
        assert prepared.digest == hashlib.sha256(wheelhouse.read_bytes()).hexdigest()
        assert prepared.manifest is not None
    assert prepared.handle.closed


def test_a_downloaded_copy_is_removed_even_when_the_block_fails(
    standin_dbfs: str, tmp_path: Path
) -> None:
    node = tmp_path / "node"
    seen: list[Path] = []
    with (
        pytest.raises(RuntimeError, match="install failed"),
        fetch_wheelhouse(standin_dbfs, node) as prepared,
    ):
        assert prepared.temporary is not None and prepared.temporary.is_file()
        seen.append(prepared.temporary)
        raise RuntimeError("install failed")
    assert seen and not seen[0].exists()
    assert not any((node / "downloads").iterdir())
