"""Pure wheels imported from the wheel itself on executors (issue 25), without Spark.

Creating files is most of an executor's first import on a slow disk, so a pure wheel
whose modules find no file by their path is imported from its zip, with the build's
bytecode. Each worker here is a fresh ``python -I`` in an executor folder laid out as
Spark leaves it (test_bootstrap.py); its ``compile`` records what it is asked to
compile, so a test sees whether the shipped bytecode was used. The Spark test is in
test_warm.py (a UDF on a real local-cluster imports in place).
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_cext_wheel, make_wheel
from tests.support.workers import RECORD_COMPILES, run_worker

from sparkdeps._runtime import bootstrap
from sparkdeps._runtime.load import load
from sparkdeps._runtime.wheelpayload import archive_name, boot_zip, wheelhouse_payload

PKG = "sdzip_pkg"
"""Pure, with a submodule, a data file read through importlib.resources and a test."""
NS = "sdzip_ns"
"""A namespace two wheels share: extracted, whole."""

_PKG_FILES = {
    f"{PKG}/__init__.py": "from .sub import VALUE\n\ndef fail():\n    raise ValueError('in place')\n",
    f"{PKG}/sub.py": "VALUE = 'zip'\n",
    f"{PKG}/data/zones.txt": "Europe/Paris\n",
    f"{PKG}/tests/__init__.py": "",
    f"{PKG}/tests/test_it.py": "KIND = 'test'\n",
}

_WORKER = (
    RECORD_COMPILES.replace("{", "{{").replace("}", "}}")
    + """
import importlib, importlib.metadata, importlib.resources, inspect, json, os
import sys, traceback
sys.path[1:1] = [{stubs!r}]
pkg = importlib.import_module({pkg!r})
tests = importlib.import_module({pkg!r} + ".tests.test_it")
try:
    pkg.fail()
except ValueError as exc:
    frame_file = traceback.extract_tb(exc.__traceback__)[-1].filename
import multiprocessing
child = multiprocessing.get_context("spawn").Process(
    target=importlib.import_module, args=({pkg!r} + ".sub",))
child.start()
child.join(60)
print(json.dumps({{
    "file": pkg.__file__,
    "sub": sys.modules[{pkg!r} + ".sub"].__file__,
    "value": pkg.VALUE,
    "tests": tests.KIND,
    "data": importlib.resources.files({pkg!r}).joinpath("data/zones.txt").read_text(),
    "version": importlib.metadata.version({dist!r}),
    "source": inspect.getsource(pkg.fail).splitlines()[0],
    "frame_file": frame_file,
    "compiled": compiled,
    "ns": [importlib.import_module(name).__file__ for name in {ns!r}],
    "spawned": child.exitcode,
}}))
"""
)


def _wheels(dest: Path, python: str = sys.executable) -> list[Path]:
    return [
        make_wheel(dest, "sdzip-pkg", "1.2", _PKG_FILES),
        make_wheel(dest, "sdzip-ns-a", "1.0", {f"{NS}/a.py": "A = 1\n"}),
        make_wheel(dest, "sdzip-ns-b", "1.0", {f"{NS}/b.py": "B = 2\n"}),
        make_wheel(
            dest, "sdzip-byfile", "1.0", {"sdzip_byfile.py": "import os\nHERE = __file__\n"}
        ),
        make_cext_wheel(dest, "sdzip-cext", "1.0", module="sdzip_cext", python=python),
    ]


def _executor(tmp_path: Path, *, bytecode: bool) -> tuple[Path, Path, str]:
    """An executor folder served a wheelhouse of :func:`_wheels`: (root, stub zip, digest)."""
    made = make_wheelhouse(tmp_path / "runs", _wheels(tmp_path / "wheels"), bytecode=bytecode)
    saved = list(sys.path)
    try:
        result = load(made, delivery="driver-only", cache_dir=tmp_path / "cache")
    finally:
        sys.path[:] = saved
    payload = wheelhouse_payload(made, result.digest, tmp_path / "payloads")
    stubs = boot_zip(result.folder, result.digest, tmp_path / "payloads")
    root = tmp_path / "executor"
    root.mkdir()
    with zipfile.ZipFile(payload) as archive:
        archive.extractall(root / archive_name(result.digest))
    shutil.copyfile(stubs, root / stubs.name)
    return root, root / stubs.name, result.digest


def _run(root: Path, stubs: Path) -> dict[str, object]:
    code = _WORKER.format(
        stubs=str(stubs), pkg=PKG, dist="sdzip-pkg", ns=[f"{NS}.a", f"{NS}.b", "sdzip_byfile"]
    )
    out: dict[str, object] = run_worker(root, code)
    return out


def test_a_pure_wheel_is_imported_from_the_wheel_with_the_shipped_bytecode(
    tmp_path: Path,
) -> None:
    root, stubs, digest = _executor(tmp_path, bytecode=True)
    out = _run(root, stubs)
    wheel = root / archive_name(digest) / "wheels" / "sdzip_pkg-1.2-py3-none-any.whl"
    assert out["file"] == str(wheel / PKG / "__init__.py"), out
    assert out["sub"] == str(wheel / PKG / "sub.py")
    assert (out["value"], out["data"], out["version"]) == ("zip", "Europe/Paris\n", "1.2")
    assert out["tests"] == "test", "a package's tests import from the zip too"
    assert out["source"] == "def fail():", "inspect reads the source from the zip"
    assert out["frame_file"] == str(wheel / PKG / "__init__.py"), "tracebacks name the zip"
    compiled = [path for path in out["compiled"] if str(path).startswith(str(wheel))]
    assert compiled == [
        str(wheel / PKG / "tests" / name) for name in ("__init__.py", "test_it.py")
    ], "only the tests, which the build ships no bytecode for, are compiled"
    site = root / archive_name(digest) / "site"
    assert not (site / PKG).exists(), "no file of the package is created"
    assert not (site / "sdzip_pkg-1.2.dist-info").exists(), "its metadata is read in the zip"
    assert out["spawned"] == 0, "a spawned child finds it on the sys.path it inherits"


def test_a_namespace_and_a_module_that_uses_its_path_are_extracted(tmp_path: Path) -> None:
    root, stubs, digest = _executor(tmp_path, bytecode=True)
    out = _run(root, stubs)
    site = root / archive_name(digest) / "site"
    assert out["ns"] == [
        str(site / NS / "a.py"),
        str(site / NS / "b.py"),
        str(site / "sdzip_byfile.py"),
    ], out
    index = json.loads((root / archive_name(digest) / ".site.state" / "index.json").read_text())
    assert index["in_place"] == ["sdzip_pkg-1.2-py3-none-any.whl"]


def test_an_executor_environment_can_turn_it_off(tmp_path: Path) -> None:
    # spark.executorEnv.SPARKDEPS_IN_PLACE=0: the way out for a package the rule misreads
    root, stubs, digest = _executor(tmp_path, bytecode=True)
    code = _WORKER.format(
        stubs=str(stubs), pkg=PKG, dist="sdzip-pkg", ns=[f"{NS}.a", f"{NS}.b", "sdzip_byfile"]
    )
    variable = f"import os\nos.environ[{bootstrap.IN_PLACE_VARIABLE!r}] = '0'\n"
    out = run_worker(root, variable + code)
    site = root / archive_name(digest) / "site"
    assert out["file"] == str(site / PKG / "__init__.py"), out
    assert out["version"] == "1.2"


def test_a_value_that_is_neither_on_nor_off_is_refused_before_extracting(tmp_path: Path) -> None:
    root, stubs, digest = _executor(tmp_path, bytecode=True)
    code = f"""
import importlib, json, os, sys
os.environ[{bootstrap.IN_PLACE_VARIABLE!r}] = "nope"
sys.path[1:1] = [{str(stubs)!r}]
try:
    importlib.import_module({PKG!r})
    print(json.dumps("imported"))
except ImportError as exc:
    print(json.dumps(str(exc)))
"""
    error = run_worker(root, code)
    assert "SPARKDEPS_IN_PLACE='nope'" in error and "set it to 0" in error, error
    archive = root / archive_name(digest)
    assert not (archive / "site").exists(), "nothing extracted"
    assert not (archive / ".site.state").exists(), "no index left behind"


def test_without_shipped_bytecode_every_wheel_is_extracted(tmp_path: Path) -> None:
    # a zip gets no .pyc beside it: every worker would compile every module again
    root, stubs, digest = _executor(tmp_path, bytecode=False)
    out = _run(root, stubs)
    site = root / archive_name(digest) / "site"
    assert out["file"] == str(site / PKG / "__init__.py"), out
    assert out["data"] == "Europe/Paris\n"


def _rule_wheel(tmp_path: Path, files: dict[str, str], tag: str = "py3-none-any") -> str:
    return str(make_wheel(tmp_path, "sdzip-rule", "1.0", files, tag=tag))


@pytest.mark.parametrize(
    ("files", "tag", "expected"),
    [
        ({"m/__init__.py": "X = 1\n"}, "py3-none-any", True),
        (
            {"m.py": "X = 1\n", "sdzip_rule-1.0.data/scripts/tool.py": "print(__file__)\n"},
            "py3-none-any",
            True,
        ),
        ({"m/__init__.py": "import os\nHERE = os.path.dirname(__file__)\n"}, "py3-none-any", False),
        (
            {"m/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"},
            "py3-none-any",
            False,
        ),
        ({"m/__init__.py": "import pkg_resources\n"}, "py3-none-any", False),
        ({"m/__init__.py": "ORIGIN = __spec__.origin\n"}, "py3-none-any", False),
        (
            {"m/__init__.py": "", "m/_native.cpython-311-x86_64-linux-gnu.so": "ELF"},
            "py3-none-any",
            False,
        ),
        ({"m/__init__.py": "", "m.libs/libfoo.so.1": "ELF"}, "py3-none-any", False),
        ({"sdzip_rule-1.0.data/purelib/m/__init__.py": "X = 1\n"}, "py3-none-any", False),
        ({"m/__init__.py": "", "m-nspkg.pth": "import m\n"}, "py3-none-any", False),
        ({"m/__init__.py": "", "m/__pycache__/x.cpython-311.pyc": "x"}, "py3-none-any", False),
        ({"m/__init__.py": "X = 1\n"}, "cp311-cp311-manylinux_2_17_x86_64", False),
        ({"m/__init__.py": "", "m/sub/x.py": "X = 1\n"}, "py3-none-any", False),
    ],
    ids=[
        "pure",
        "scripts-in-data",
        "uses-__file__",
        "extends-__path__",
        "pkg_resources",
        "__spec__-origin",
        "extension-module",
        "bundled-library",
        "purelib-in-data",
        "pth-file",
        "pyc-inside",
        "not-purelib",
        "namespace-folder",
    ],
)
def test_which_wheels_are_imported_in_place(
    tmp_path: Path, files: dict[str, str], tag: str, expected: bool
) -> None:
    assert bootstrap.importable_in_place(_rule_wheel(tmp_path, files, tag)) is expected
