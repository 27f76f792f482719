"""Bytecode compiled at build time, read on executors (issue 25).

The wheelhouse carries ``bytecode/<cache_tag>.zip``. An executor's imports take each
module's code from it, in place: no ``.pyc`` file is created (creating files is what
costs on a busy disk). Each worker here is a fresh ``python -I`` whose ``compile``
records what it is asked to compile, so a test sees whether an import read the
shipped bytecode or compiled the source itself (it fails when the bytecode is
ignored). A ``shared`` install writes the ``.pyc`` files: test_shared_bytecode.py.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheelhouses import installed_on_the_driver, load_test_wheels, make_wheelhouse
from tests.support.wheels import make_wheel
from tests.support.workers import RECORD_COMPILES, run_worker

from sparkdeps._core.errors import IntegrityError
from sparkdeps._core.wheelhouse import read_manifest
from sparkdeps._runtime import bootstrap
from sparkdeps._runtime.load import load
from sparkdeps._runtime.wheelpayload import archive_name, boot_zip, wheelhouse_payload

TAG = "_pyc"
PURE = [f"sdload_pure{TAG}", f"sdload_single{TAG}", f"sdload_datapkg{TAG}", f"sdload_tested{TAG}"]

_RECORDING = (
    RECORD_COMPILES.replace("{", "{{").replace("}", "}}")
    + """
import importlib, json, sys
sys.path[1:1] = {paths!r}
files = {{}}
for name in {names!r}:
    try:
        files[name] = importlib.import_module(name).__file__
    except Exception as exc:
        files[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"files": files, "compiled": compiled}}))
"""
)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(wheelhouse with bytecode, driver install folder, digest)."""
    root = tmp_path_factory.mktemp("pyc")
    wheels = load_test_wheels(root / "wheels", tag=TAG)
    wheels.append(
        make_wheel(
            root / "wheels",
            f"sdload-tested{TAG}",
            "1.0",
            {
                f"sdload_tested{TAG}/__init__.py": "KINDS = {'a', 'b', 'c'}\n",
                f"sdload_tested{TAG}/tests/test_it.py": "def test_it():\n    pass\n",
            },
        )
    )
    made = make_wheelhouse(root / "runs", wheels, bytecode=True)
    return installed_on_the_driver(made, root / "cache")


def _pyc_flags(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")


def _cached(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def test_the_wheelhouse_lists_the_bytecode_it_carries(wheelhouse: tuple[Path, Path, str]) -> None:
    made, _folder, _digest = wheelhouse
    shipped = read_manifest(made).bytecode
    assert shipped is not None
    assert shipped.cache_tag == sys.implementation.cache_tag
    assert shipped.magic == importlib.util.MAGIC_NUMBER.hex()
    with zipfile.ZipFile(made) as archive:
        inner = zipfile.ZipFile(archive.open(shipped.member))
        names = inner.namelist()
    assert len(names) == shipped.modules
    assert not [name for name in names if "/tests/" in name], "a package's tests are left out"
    assert [name for name in names if ".data/purelib/" in name], ".data/purelib is importable"
    assert not [name for name in names if ".data/scripts/" in name]


def test_a_driver_install_creates_no_pyc_files(wheelhouse: tuple[Path, Path, str]) -> None:
    # the driver imports a few modules of a big wheelhouse: 591 files for W1 would add
    # 0.6 s to every cold load here; it compiles what it imports, as before
    _made, folder, _digest = wheelhouse
    assert not list(folder.rglob("*.pyc"))
    out = run_worker(folder, _RECORDING.format(paths=[str(folder)], names=PURE))
    assert all(str(out["files"][name]).startswith(str(folder)) for name in PURE), out


def _executor(wheelhouse: tuple[Path, Path, str], tmp_path: Path) -> tuple[Path, Path, str]:
    """An executor folder as Spark leaves it: (root, stub zip, digest)."""
    made, folder, digest = wheelhouse
    payload = wheelhouse_payload(made, digest, tmp_path / "payloads")
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    root = tmp_path / "executor"
    root.mkdir()
    with zipfile.ZipFile(payload) as archive:
        archive.extractall(root / archive_name(digest))
    shutil.copyfile(stubs, root / stubs.name)
    return root, root / stubs.name, digest


def test_an_executor_imports_the_shipped_bytecode_of_the_wheels_it_extracts(
    wheelhouse: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # sdload_datapkg uses .data/purelib and sdload_tested's tests folder has no
    # __init__.py, so both are extracted; sdload_pure and sdload_single are imported
    # from the wheel itself (test_in_place.py), with the same bytecode
    root, stubs, digest = _executor(wheelhouse, tmp_path)
    data = f"sdload_datapkg{TAG}"
    out = run_worker(root, _RECORDING.format(paths=[str(stubs)], names=[data]))
    site = root / archive_name(digest) / "site"
    wheels = root / archive_name(digest) / "wheels"
    assert str(out["files"][data]).startswith(str(site)), out
    assert not [path for path in out["compiled"] if path.startswith(str(site))], out
    assert not list(site.rglob("*.pyc")), "read in place: no file created"
    assert not (site / f"sdload_cext{TAG}").exists(), "other wheels wait for their import"
    again = run_worker(root, _RECORDING.format(paths=[str(stubs)], names=PURE))
    assert str(again["files"][data]).startswith(str(site)), again
    in_place = [f"sdload_pure{TAG}", f"sdload_single{TAG}"]
    extracted = [data, f"sdload_tested{TAG}"]
    assert all(str(again["files"][name]).startswith(str(site)) for name in extracted), again
    assert all(str(again["files"][name]).startswith(str(wheels)) for name in in_place), again
    outside = [path for path in again["compiled"] if path.startswith((str(site), str(wheels)))]
    assert outside == [], again


def test_an_interpreter_with_another_magic_number_compiles_as_before(
    wheelhouse: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _executor(wheelhouse, tmp_path)
    module = stubs.stem
    with zipfile.ZipFile(stubs) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members[bootstrap.config_name(module)])
    config["bytecode"][2] = "00000000"  # what another Python's bytecode would say
    members[bootstrap.config_name(module)] = json.dumps(config).encode()
    with zipfile.ZipFile(stubs, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    out = run_worker(root, _RECORDING.format(paths=[str(stubs)], names=PURE))
    site = root / archive_name(digest) / "site"
    assert all(str(out["files"][name]).startswith(str(site)) for name in PURE), out
    assert str(site / f"sdload_pure{TAG}" / "sub.py") in out["compiled"]
    assert not (site / f"sdload_pure{TAG}" / "__pycache__").exists() or all(
        _pyc_flags(pyc) == 0 for pyc in (site / f"sdload_pure{TAG}" / "__pycache__").iterdir()
    ), "no shipped .pyc written for an interpreter that cannot read it"


def test_changed_bytecode_is_refused_with_the_fix(
    wheelhouse: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _executor(wheelhouse, tmp_path)
    victim = next((root / archive_name(digest) / "bytecode").glob("*.zip"))
    victim.write_bytes(victim.read_bytes() + b"tampered")
    out = run_worker(root, _RECORDING.format(paths=[str(stubs)], names=[f"sdload_pure{TAG}"]))
    error = str(out["files"][f"sdload_pure{TAG}"])
    assert error.startswith("ImportError") and victim.name in error, error
    assert "changed after load()" in error
    assert not (root / archive_name(digest) / "site").exists(), "nothing extracted"


def test_warm_extracts_every_wheel_and_compiles_nothing(
    wheelhouse: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _executor(wheelhouse, tmp_path)
    code = f"""
import json, sys, threading
sys.path[1:1] = [{str(stubs)!r}]
import {stubs.stem} as boot
boot.warm()
for thread in threading.enumerate():
    if thread.name == "sparkdeps-warm":
        thread.join()  # extraction, then (without shipped bytecode) compiling
executor = boot._executor
print(json.dumps(sorted(executor.done | executor.in_place) == sorted(
    name for name, _sha in boot.CONFIG["wheels"])))
"""
    assert run_worker(root, code) is True
    site = root / archive_name(digest) / "site"
    assert (site / f"sdload_cext{TAG}" / "__init__.py").exists(), "extracted"
    assert not (site / f"sdload_pure{TAG}").exists(), "imported in place: left in its zip"
    assert (site / f"sdload_tested{TAG}" / "tests" / "test_it.py").exists(), "extracted"
    assert not list(site.rglob("*.pyc")), "nothing compiled: the modules' code is shipped"
    assert not (root / archive_name(digest) / ".site.state" / "bytecode.done").exists()


def test_a_load_refuses_bytecode_changed_after_the_build(
    wheelhouse: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # the same member name, other bytes: the listing still matches the manifest
    made, _folder, _digest = wheelhouse
    shipped = read_manifest(made).bytecode
    assert shipped is not None
    changed = tmp_path / "run" / "wheelhouse.zip"
    changed.parent.mkdir()
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(changed, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == shipped.member:
                data = data.replace(b"sdload", b"sdlaod")  # still a zip, other code
            out.writestr(info, data)
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match=r"bytecode/cpython-\d+\.zip in .* does not match"):
        load(changed, delivery="driver-only", cache_dir=cache)
    assert not list(cache.glob("installs/*/*")), "nothing installed"
