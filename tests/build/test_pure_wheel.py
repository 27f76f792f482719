"""``make_pure_wheel``: loose modules as one ``py3-none-any`` wheel, written with wheel's
``WheelFile`` (RECORD) and packaging's metadata, the same bytes for the same files."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from packaging.metadata import Metadata

from sparkdeps._build.wheels import check_record, make_pure_wheel
from sparkdeps._core.manifest import inspect_wheel


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "sub" / "m.py").write_text("Y = 2\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (root / "single.py").write_text("Z = 3\n")
    return root


def test_the_wheel_is_complete_and_checked(modules: Path, tmp_path: Path) -> None:
    wheel = make_pure_wheel(modules, ["pkg", "single.py"], "My.Modules", tmp_path / "out")
    check_record(wheel)  # every member in RECORD with its sha256, and nothing else
    info = inspect_wheel(wheel)
    assert (info.name, info.tags, info.top_level) == (
        "my-modules",
        ("py3-none-any",),
        ("pkg", "single"),
    )
    assert wheel.name == f"my_modules-{info.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"my_modules-{info.version}.dist-info"
        metadata = Metadata.from_email(archive.read(f"{dist_info}/METADATA"))
        wheel_file = archive.read(f"{dist_info}/WHEEL").decode()
    assert names[-1] == f"{dist_info}/RECORD"  # last, as the wheel spec recommends
    assert "pkg/__pycache__/m.cpython-311.pyc" not in names
    assert (metadata.name, str(metadata.version)) == ("my-modules", info.version)
    assert "Root-Is-Purelib: true" in wheel_file and "Tag: py3-none-any" in wheel_file


def test_same_files_same_bytes_whatever_the_clock(
    modules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = make_pure_wheel(modules, ["pkg", "single.py"], "mods", tmp_path / "a")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # 2033: another zip date
    second = make_pure_wheel(modules, ["pkg", "single.py"], "mods", tmp_path / "b")
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(second) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_changed_file_gives_a_new_version(modules: Path, tmp_path: Path) -> None:
    before = make_pure_wheel(modules, ["single.py"], "mods", tmp_path / "a")
    (modules / "single.py").write_text("Z = 4\n")
    after = make_pure_wheel(modules, ["single.py"], "mods", tmp_path / "b")
    assert before.name != after.name
    assert inspect_wheel(before).version.startswith("0.0.0+")
