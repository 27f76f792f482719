"""``_core/private``: node-cache folders only this user can write."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sparkdeps._core.errors import StorageError
from sparkdeps._core.private import on_databricks_mount, private_dir


def test_a_missing_folder_is_made_private(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b")
    assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize("mode", [0o775, 0o757], ids=["group-writable", "world-writable"])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(StorageError, match="can be written by other users") as caught:
        private_dir(folder, fix="use another folder")
    assert str(caught.value).endswith("use another folder")


def test_a_file_where_the_folder_belongs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="is a file"):
        private_dir(tmp_path / "file" / "cache")


def test_a_link_of_ours_to_a_private_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert private_dir(tmp_path / "link") == tmp_path / "link"


@pytest.mark.parametrize(
    ("path", "mounted"),
    [
        ("/Volumes/cat/sch/vol/x", True),
        ("/dbfs/tmp/x", True),
        ("/Workspace/Users/u/x", True),
        ("/Volumesx/y", False),
        ("/tmp/dbfs/x", False),
    ],
    ids=["volumes", "dbfs", "workspace", "prefix-only", "inside-another"],
)
def test_databricks_mounts(path: str, mounted: bool) -> None:
    assert on_databricks_mount(Path(path)) is mounted
