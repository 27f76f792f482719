"""Safe extraction: nothing lands outside the work folder, bombs are stopped."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from sparkdeps._build.archive import ArchiveLimits, copy_tree, extract_zip
from sparkdeps._build.inputs import prepare_input
from sparkdeps._core.errors import InputError, UnsafeArchiveError


def _zip(path: Path, entries: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compress) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_extracts_files_and_folders(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "a.zip", {"pkg/__init__.py": b"X = 1\n", "pkg/sub/": b"", "./top.py": b"Y = 2\n"}
    )
    written = extract_zip(archive, tmp_path / "out", ArchiveLimits())
    assert sorted(written) == ["pkg/__init__.py", "top.py"]
    assert (tmp_path / "out" / "pkg" / "__init__.py").read_bytes() == b"X = 1\n"
    assert (tmp_path / "out" / "pkg" / "sub").is_dir()


@pytest.mark.parametrize(
    "name",
    ["../escape.py", "a/../../escape.py", "/abs/escape.py", "C:/win/escape.py", "..\\escape.py"],
    ids=["dotdot", "inner-dotdot", "absolute", "drive", "backslash"],
)
def test_escaping_entries_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "evil.zip", {"fine.py": b"", name: b"bad"})
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_zip(archive, tmp_path / "out", ArchiveLimits())
    assert "evil.zip" in str(caught.value)
    assert not (tmp_path / "escape.py").exists()
    assert not Path("/abs/escape.py").exists()


def test_symlink_entry_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as out:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        out.writestr(info, "../../etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits())


def test_ratio_bomb_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"\0" * (20 << 20)})
    assert archive.stat().st_size < 100_000
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits())
    assert not (tmp_path / "out" / "zeros.txt").exists()


def test_total_size_limit(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "big.zip",
        {"a.bin": os.urandom(300_000), "b.bin": os.urandom(300_000)},
        zipfile.ZIP_STORED,
    )
    with pytest.raises(UnsafeArchiveError, match="max_total_size"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_total_size=500_000))
    extract_zip(archive, tmp_path / "ok", ArchiveLimits(max_total_size=700_000))


def test_entry_limit(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", {f"m{i}.py": b"" for i in range(20)})
    with pytest.raises(UnsafeArchiveError, match="max_entries"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_entries=10))


def test_lying_header_stopped(tmp_path: Path) -> None:
    """A header that claims a small size must not let more bytes out."""
    archive = _zip(tmp_path / "liar.zip", {"a.txt": b"A" * 5000}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as opened:
        info = opened.infolist()[0]
    # patch the central directory's uncompressed size (offset 24 in the record) to 10
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    assert info.file_size == 5000
    with pytest.raises((UnsafeArchiveError, InputError)):
        extract_zip(archive, tmp_path / "out", ArchiveLimits())


def test_corrupt_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="corrupt"):
        extract_zip(bad, tmp_path / "out", ArchiveLimits())


def test_inner_archive_depth(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "level3.zip", {"mod.py": b"X = 1\n"})
    for level in (2, 1):
        inner = _zip(tmp_path / f"level{level}.zip", {inner.name: inner.read_bytes()})
    outer = _zip(tmp_path / "outer.zip", {inner.name: inner.read_bytes()})
    with pytest.raises(UnsafeArchiveError, match="max_depth"):
        prepare_input(outer, tmp_path / "work1", ArchiveLimits(max_depth=2))
    layout = prepare_input(outer, tmp_path / "work2", ArchiveLimits(max_depth=3))
    assert layout.format == "nested"
    assert layout.inner_archives == ("level1.zip", "level1/level2.zip", "level1/level2/level3.zip")
    assert layout.modules == ("level1/level2/level3/mod.py",)


def test_inner_archives_share_the_size_budget(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", {"a.bin": os.urandom(400_000)}, zipfile.ZIP_STORED)
    outer = _zip(
        tmp_path / "outer.zip", {"inner.zip": inner.read_bytes(), "m.py": b""}, zipfile.ZIP_STORED
    )
    with pytest.raises(UnsafeArchiveError, match="max_total_size"):
        prepare_input(outer, tmp_path / "work", ArchiveLimits(max_total_size=600_000))


def test_folder_symlink_outside_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "mod.py").write_text("X = 1\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (source / "leak.txt").symlink_to(secret)
    with pytest.raises(UnsafeArchiveError, match="outside"):
        copy_tree(source, tmp_path / "out")


def test_folder_copy_skips_vcs_and_caches(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / ".git").mkdir(parents=True)
    (source / ".git" / "config").write_text("x")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
    (source / "m.py").write_text("X = 1\n")
    (source / "inside.py").symlink_to(source / "m.py")
    written = copy_tree(source, tmp_path / "out")
    assert sorted(written) == ["inside.py", "m.py"]
