"""Local storage (``_core/storage``'s POSIX backend): which storage serves a URI, and what
publishing, listing and removing do on a local folder. Other backends have their own tests."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from sparkdeps._core.errors import StorageError
from sparkdeps._core.storage import (
    LocalStorage,
    PublishConflict,
    join_uri,
    local_file,
    storage_for,
)


@pytest.mark.parametrize(
    ("base", "parts", "joined"),
    [
        ("/base", ("run", "wheelhouse.zip"), "/base/run/wheelhouse.zip"),
        ("/base/", ("/run/",), "/base/run"),
        ("dbfs:/deps", ("r1",), "dbfs:/deps/r1"),
        ("/base", (), "/base"),
    ],
    ids=["parts", "slashes", "dbfs", "nothing"],
)
def test_join_uri(base: str, parts: tuple[str, ...], joined: str) -> None:
    assert join_uri(base, *parts) == joined


@pytest.mark.parametrize(
    "uri",
    ["/tmp/x", "relative/x", "file:///tmp/x", "C:/x"],
    ids=["absolute", "relative", "file-uri", "drive-letter"],
)
def test_posix_uris_are_local(uri: str) -> None:
    # /Volumes paths are local only where the Volume is mounted; elsewhere they go through
    # the Files API (tests/core/test_remote_storage.py), as fsspec protocols (ftp, s3...) do
    assert isinstance(storage_for(uri), LocalStorage)


@pytest.mark.parametrize("uri", ["s3x://bucket/x", "nosuchfs://host/x"], ids=["unknown", "made-up"])
def test_unknown_schemes_are_refused(uri: str) -> None:
    with pytest.raises(StorageError, match="unsupported scheme"):
        storage_for(uri)


@pytest.mark.parametrize(
    ("uri", "path"),
    [("file:///tmp/a%20b", "/tmp/a b"), ("file://localhost/tmp/x", "/tmp/x"), ("/tmp/y", "/tmp/y")],
    ids=["quoted", "localhost", "path"],
)
def test_local_path(uri: str, path: str) -> None:
    assert LocalStorage().local_path(uri) == Path(path)


def test_a_file_uri_on_another_host_is_refused() -> None:
    with pytest.raises(StorageError, match="local path"):
        LocalStorage().local_path("file://server/share/x")


def test_publish_creates_folders_and_leaves_no_partial(tmp_path: Path) -> None:
    source = tmp_path / "built.zip"
    source.write_bytes(b"zip bytes")
    final = tmp_path / "dest" / "run1" / "wheelhouse.zip"
    LocalStorage().publish(source, str(final))
    assert final.read_bytes() == b"zip bytes"
    assert sorted(p.name for p in final.parent.iterdir()) == ["wheelhouse.zip"]
    assert source.exists()  # copied, not moved


def test_publish_replaces_unless_exclusive(tmp_path: Path) -> None:
    storage, final = LocalStorage(), tmp_path / "out.zip"
    for content in (b"one", b"two"):
        source = tmp_path / f"{content.decode()}.zip"
        source.write_bytes(content)
        storage.publish(source, str(final))
    assert final.read_bytes() == b"two"
    with pytest.raises(PublishConflict):
        storage.publish(tmp_path / "one.zip", str(final), exclusive=True)
    assert final.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.zip", "out.zip", "two.zip"]


def test_exclusive_publish_has_one_winner(tmp_path: Path) -> None:
    final = tmp_path / "race" / "wheelhouse.zip"
    results: list[str] = []

    def publish(index: int) -> None:
        source = tmp_path / f"s{index}.zip"
        source.write_bytes(str(index).encode())
        try:
            LocalStorage().publish(source, str(final), exclusive=True)
            results.append(f"won {index}")
        except PublishConflict:
            results.append("lost")

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("lost") == 7
    assert final.read_bytes() == winners[0].split()[1].encode()


def test_a_read_only_source_is_hard_linked(tmp_path: Path) -> None:
    source = tmp_path / "entry.zip"
    source.write_bytes(b"cached")
    source.chmod(stat.S_IRUSR | stat.S_IRGRP)
    final = tmp_path / "dest" / "wheelhouse.zip"
    LocalStorage().publish(source, str(final))
    assert os.stat(final).st_ino == os.stat(source).st_ino


def test_a_writable_source_is_copied(tmp_path: Path) -> None:
    source = tmp_path / "work.zip"
    source.write_bytes(b"mine")
    final = tmp_path / "dest.zip"
    LocalStorage().publish(source, str(final))
    assert os.stat(final).st_ino != os.stat(source).st_ino


def test_stat_list_and_remove(tmp_path: Path) -> None:
    storage = LocalStorage()
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "wheelhouse.zip").write_bytes(b"12345")
    (tmp_path / "loose.txt").write_text("x")
    entry = storage.stat(str(tmp_path / "run1" / "wheelhouse.zip"))
    assert entry is not None and (entry.name, entry.is_dir, entry.size) == (
        "wheelhouse.zip",
        False,
        5,
    )
    assert storage.stat(str(tmp_path / "absent")) is None
    listed = {e.name: e.is_dir for e in storage.list_dir(str(tmp_path))}
    assert listed == {"run1": True, "loose.txt": False}
    assert storage.list_dir(str(tmp_path / "absent")) == []
    assert storage.remove_tree(str(tmp_path / "run1")) is True
    assert storage.remove_tree(str(tmp_path / "run1")) is False
    assert storage.remove_tree(str(tmp_path / "loose.txt")) is True
    assert not storage.exists(str(tmp_path / "loose.txt"))


def test_remove_tree_removes_a_symlink_not_its_target(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "kept")
    assert LocalStorage().remove_tree(str(tmp_path / "link")) is True
    assert (tmp_path / "kept" / "f").exists()


def test_download_copies_and_names_a_missing_file(tmp_path: Path) -> None:
    storage = LocalStorage()
    (tmp_path / "a.zip").write_bytes(b"a")
    storage.download(str(tmp_path / "a.zip"), tmp_path / "copy.zip")
    assert (tmp_path / "copy.zip").read_bytes() == b"a"
    with pytest.raises(StorageError, match="does not exist"):
        storage.download(str(tmp_path / "absent.zip"), tmp_path / "c2.zip")


def test_local_file_is_the_file_itself_on_posix_storage(tmp_path: Path) -> None:
    (tmp_path / "w.zip").write_bytes(b"w")
    with local_file(LocalStorage(), str(tmp_path / "w.zip")) as path:
        assert path == tmp_path / "w.zip"
    assert (tmp_path / "w.zip").exists()
