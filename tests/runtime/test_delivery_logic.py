"""Executor delivery's pure parts, without a JVM: the Connect archives made from an
install folder, the classic archive, and the verify probe run in this process."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import zipfile
from pathlib import Path

import pytest

from sparkdeps._runtime.delivery import archive_name, classic_payload, connect_payloads
from sparkdeps._runtime.verify import make_probe

DIGEST = "0123456789abcdef" + "f" * 48
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An install folder as extraction leaves it."""
    root = tmp_path / "install"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "sub" / "m.py").write_text("")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
    (root / "pkg-1.0.dist-info").mkdir()
    (root / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\n")
    (root / "single.py").write_text("Y = 2\n")
    (root / f"fast{EXT}").write_bytes(b"\x7fELF")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / ".sparkdeps-install.json").write_text("{}")
    (root / "odd#name").mkdir()
    (root / "notes.txt").write_text("not importable")
    return root


def test_connect_payloads_one_archive_per_top_level_folder(folder: Path, tmp_path: Path) -> None:
    archives, pyfile = connect_payloads(folder, DIGEST, tmp_path / "payloads")
    names = [path.name for path in archives]
    # bin/ and dot files never ship; '#' cannot pass through "<path>#<name>"
    assert names == sorted(["fast.zip", "pkg-1.0.dist-info.zip", "pkg.zip"])
    with zipfile.ZipFile(archives[names.index("pkg.zip")]) as archive:
        assert sorted(archive.namelist()) == ["__init__.py", "sub/m.py"]  # no __pycache__
    with zipfile.ZipFile(archives[names.index("fast.zip")]) as archive:
        assert archive.namelist() == [f"__init__{EXT}"]  # imported as `fast`
    assert pyfile is not None
    assert pyfile.name == f"sparkdeps_{DIGEST[:16]}_modules.zip"
    with zipfile.ZipFile(pyfile) as archive:
        assert archive.namelist() == ["single.py"]


def test_connect_payloads_are_made_once_per_digest(folder: Path, tmp_path: Path) -> None:
    first, _ = connect_payloads(folder, DIGEST, tmp_path / "payloads")
    stamp = first[0].stat().st_mtime_ns
    (folder / "late").mkdir()  # a second call must not look at the folder again
    second, _ = connect_payloads(folder, DIGEST, tmp_path / "payloads")
    assert second == first
    assert second[0].stat().st_mtime_ns == stamp


def test_connect_payloads_without_single_modules_have_no_pyfile(tmp_path: Path) -> None:
    root = tmp_path / "install"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    archives, pyfile = connect_payloads(root, DIGEST, tmp_path / "payloads")
    assert [path.name for path in archives] == ["pkg.zip"]
    assert pyfile is None


def test_classic_payload_zips_the_folder_without_bin(folder: Path, tmp_path: Path) -> None:
    payload = classic_payload(folder, DIGEST, tmp_path / "payloads")
    assert payload == tmp_path / "payloads" / f"{DIGEST}.zip"
    with zipfile.ZipFile(payload) as archive:
        names = set(archive.namelist())
    assert "pkg/__init__.py" in names and "single.py" in names and f"fast{EXT}" in names
    assert not any(name.startswith("bin/") or "__pycache__" in name for name in names)
    assert archive_name(DIGEST) == "sparkdeps_0123456789abcdef"


def test_probe_reports_where_each_module_came_from(tmp_path: Path) -> None:
    (tmp_path / "sdprobe_ok.py").write_text("")
    (tmp_path / "sdprobe_bad.py").write_text("raise ValueError('broken on import')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        report = json.loads(make_probe(["sdprobe_ok", "sdprobe_bad", "sdprobe_absent"])(None))
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("sdprobe_ok", "sdprobe_bad"):
            sys.modules.pop(name, None)
    assert report["python"] == sys.executable
    assert report["version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    imports = report["imports"]
    assert imports["sdprobe_ok"] == {"ok": True, "file": str(tmp_path / "sdprobe_ok.py")}
    assert imports["sdprobe_bad"] == {"ok": False, "error": "ValueError: broken on import"}
    assert imports["sdprobe_absent"]["ok"] is False
    assert "ModuleNotFoundError" in imports["sdprobe_absent"]["error"]
