"""Bytecode compiled at build time for the target's Python (issue 25), with real interpreters.

Builds here take prebuilt wheels (no index). The interpreter that compiles is this
one, another Python found on PATH, or none; PATH is set per test so each case is
the machine it describes.
"""

from __future__ import annotations

import importlib.util
import logging
import marshal
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

import sparkdeps
from sparkdeps._core.wheelhouse import read_manifest

_MODULE = """\
KINDS = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}


def kind(value):
    return value in {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
"""


def _wheels(folder: Path) -> Path:
    make_wheel(
        folder,
        "sdpyc-one",
        "1.0",
        {
            "sdpyc_one/__init__.py": _MODULE,
            "sdpyc_one/tests/test_one.py": "def test_one():\n    pass\n",
            "sdpyc_one/template.py": "def broken(:\n",  # never importable: left as it is
        },
    )
    make_wheel(
        folder,
        "sdpyc-data",
        "1.0",
        {
            "sdpyc_data-1.0.data/purelib/sdpyc_data/__init__.py": "VALUE = 1\n",
            "sdpyc_data-1.0.data/scripts/sdpyc-tool.py": "print('tool')\n",
        },
    )
    return folder


def _build(tmp_path: Path, name: str, **options: object) -> Path:
    result = sparkdeps.build(
        _wheels(tmp_path / "input"),
        dest=tmp_path / name,
        cache_dir=tmp_path / "cache",
        no_index=True,
        use_cache=False,
        task_value_key=None,
        **options,  # type: ignore[arg-type]
    )
    return Path(result.uri)


def _members(wheelhouse: Path) -> dict[str, bytes]:
    shipped = read_manifest(wheelhouse).bytecode
    assert shipped is not None
    with (
        zipfile.ZipFile(wheelhouse) as archive,
        archive.open(shipped.member) as inner,
        zipfile.ZipFile(inner) as compiled,
    ):
        return {name: compiled.read(name) for name in compiled.namelist()}


def test_a_build_ships_unchecked_hash_bytecode_of_every_importable_module(tmp_path: Path) -> None:
    wheelhouse = _build(tmp_path, "out")
    shipped = read_manifest(wheelhouse).bytecode
    assert shipped is not None and shipped.cache_tag == sys.implementation.cache_tag
    members = _members(wheelhouse)
    assert sorted(members) == [
        "sdpyc_data-1.0-py3-none-any.whl/sdpyc_data-1.0.data/purelib/sdpyc_data/__init__.py",
        "sdpyc_one-1.0-py3-none-any.whl/sdpyc_one/__init__.py",
    ], "tests, scripts and a file that does not compile are left out"
    assert shipped.modules == 2
    pyc = members["sdpyc_one-1.0-py3-none-any.whl/sdpyc_one/__init__.py"]
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01, "hash-based, source not checked"
    assert pyc[8:16] == importlib.util.source_hash(_MODULE.encode())
    namespace: dict[str, object] = {}
    exec(marshal.loads(pyc[16:]), namespace)  # the code this test's build compiled
    assert namespace["kind"]("zeta") is True  # type: ignore[operator]


@pytest.mark.parametrize("python", ["this", "3.10"], ids=["this-python", "python-3.10"])
def test_the_same_wheels_give_the_same_wheelhouse(
    python: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before 3.11, marshal wrote a set constant in string-hash order: the compile runs
    # with a fixed seed (without it, the 3.10 case differs between builds)
    options: dict[str, object] = {}
    if python != "this":
        _put_on_path(python, tmp_path, monkeypatch)
        options["python_version"] = python
    first = _build(tmp_path / "a", "out", **options)
    second = _build(tmp_path / "b", "out", **options)
    assert _members(first) == _members(second)
    assert first.read_bytes() == second.read_bytes()


def test_no_bytecode_ships_none(tmp_path: Path) -> None:
    wheelhouse = _build(tmp_path, "out", bytecode=False)
    assert read_manifest(wheelhouse).bytecode is None
    with zipfile.ZipFile(wheelhouse) as archive:
        assert not [name for name in archive.namelist() if name.startswith("bytecode/")]


def _python(version: str) -> Path | None:
    """A CPython ``version`` on this machine (pyenv's, or the system's)."""
    for root in (Path("/root/.pyenv/versions"), Path("/usr/local/bin"), Path("/usr/bin")):
        for found in sorted(root.glob(f"{version}*/bin/python{version}")) + sorted(
            root.glob(f"python{version}")
        ):
            if os.access(found, os.X_OK):
                return found
    return None


def _put_on_path(version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python<version>`` first on PATH (skips when this machine has no such Python)."""
    if sys.version_info[:2] == tuple(int(part) for part in version.split(".")):
        return  # this interpreter compiles
    python = _python(version)
    if python is None:
        pytest.skip(f"no CPython {version} on this machine")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / f"python{version}").symlink_to(python)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_target_python_found_on_path_compiles_for_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = "3.10" if sys.version_info[:2] != (3, 10) else "3.11"
    _put_on_path(version, tmp_path, monkeypatch)
    wheelhouse = _build(tmp_path, "out", python_version=version)
    shipped = read_manifest(wheelhouse).bytecode
    assert shipped is not None
    assert shipped.cache_tag == f"cpython-{version.replace('.', '')}"
    assert shipped.magic != importlib.util.MAGIC_NUMBER.hex()


def test_a_target_python_that_does_not_start_means_no_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a pyenv shim for a version that is not active: on PATH, yet it exits 127
    version = "3.10" if sys.version_info[:2] != (3, 10) else "3.11"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / f"python{version}"
    shim.write_text(f"#!/bin/sh\necho 'pyenv: python{version}: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.path.dirname(shutil.which('sh') or '')}")
    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        wheelhouse = _build(tmp_path, "out", python_version=version)
    assert read_manifest(wheelhouse).bytecode is None
    assert f"no Python {version} here" in caplog.text
