"""A shared install is compiled in the background, after it is in place (issue 25).

``load(..., delivery="shared")`` returns right after extraction; a ``compileall`` child
compiles the folder in place and marks it done. Each wheelhouse here holds a module
that takes about a second to compile, so the compile is still running when ``load``
returns: the tests assert that order (never a duration), then wait on the compile's
handle. Every local-cluster executor sees this machine's folders: a stand-in for
``/Volumes``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import marshal
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._core.hashing import sha256_file
from sparkdeps._runtime.bytecode import running_compile
from sparkdeps._runtime.install import bytecode_marker
from sparkdeps._runtime.load import load
from sparkdeps._runtime.pending import finish_driver_install

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# ~1 s of compiling on this machine: a module far slower to compile than the rest of load
_BIG = "".join(
    f"def f{i}(a, b=({i}, 'x{i}')):\n    return [a + {i}, b, {{'k{i}': a * {i}}}]\n"
    for i in range(10_000)
)


def _wheelhouse(root: Path) -> tuple[Path, str]:
    """A wheelhouse of one package with a slow-to-compile module; its unique name."""
    name = f"sdbc_{uuid.uuid4().hex[:8]}"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{name}/small.py": "def twice(x):\n    return 2 * x\n",
        f"{name}/big.py": _BIG,
    }
    wheel = make_wheel(root / "wheels", name, "1.0", files)
    return make_wheelhouse(root / "runs", [wheel]), name


def _compiled(folder: Path, name: str, module: str) -> list[Path]:
    return list((folder / name / "__pycache__").glob(f"{module}.*.pyc"))


def _assert_all_compiled_as_final(folder: Path) -> None:
    """Every module has bytecode naming the final folder (``-d``): what executors import."""
    sources = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]
    assert sources
    for source in sources:
        compiled = list((source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
        assert compiled, f"no bytecode for {source}"
        code = marshal.loads(compiled[0].read_bytes()[16:])
        assert code.co_filename == str(source), code.co_filename


@pytest.fixture
def spark(sparkdeps_spark_manager: Any) -> Any:
    return sparkdeps_spark_manager.classic()


def test_load_returns_before_the_compile_ends_and_a_warm_load_starts_none(
    spark: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wheelhouse, name = _wheelhouse(tmp_path)
    result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    folder = result.folder
    finish_driver_install()  # load returns before the install is whole; the compile follows it
    marker = bytecode_marker(folder)
    assert marker is not None
    # load did not wait: the slow module is not compiled yet, the marker not written
    assert not _compiled(folder, name, "big"), "load waited for the compile"
    assert not marker.exists()
    job = running_compile(folder)
    assert job is not None and job.folder == folder

    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        assert job.wait(timeout=300) == 0
    assert job.process.returncode == 0  # reaped: no zombie left
    assert any("in the background in" in r.getMessage() for r in caplog.records)
    assert marker.is_file()
    _assert_all_compiled_as_final(folder)

    again = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    assert again.reused and again.folder == folder
    assert running_compile(folder) is job, "a warm load of a compiled install starts nothing"


def test_a_killed_compile_starts_again_at_the_next_load(spark: Any, tmp_path: Path) -> None:
    wheelhouse, _name = _wheelhouse(tmp_path)
    first = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    finish_driver_install()
    killed = running_compile(first.folder)
    assert killed is not None
    os.killpg(killed.process.pid, signal.SIGKILL)  # the child and its workers, at once
    assert killed.wait(timeout=300) == -signal.SIGKILL
    marker = bytecode_marker(first.folder)
    assert marker is not None and not marker.exists()

    again = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    assert again.reused
    restarted = running_compile(first.folder)
    assert restarted is not None and restarted is not killed
    assert restarted.wait(timeout=300) == 0
    assert marker.is_file()
    _assert_all_compiled_as_final(first.folder)


def test_a_folder_another_process_is_compiling_is_left_to_it(spark: Any, tmp_path: Path) -> None:
    """Another process holds the folder's compile lock (here this test, through its own
    open file: flock tells it apart from the load's as it would another process's): the
    load installs and starts no second compile; once free, the next load compiles."""
    wheelhouse, name = _wheelhouse(tmp_path)
    locks = wheelhouse.parent / ".sparkdeps" / "locks"
    locks.mkdir(parents=True)
    lock = locks / f"{sha256_file(wheelhouse)}.bytecode.lock"
    with lock.open("a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
        assert running_compile(result.folder) is None
        assert not _compiled(result.folder, name, "big")

    again = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    assert again.reused and again.folder == result.folder
    job = running_compile(again.folder)
    assert job is not None and job.wait(timeout=300) == 0
    _assert_all_compiled_as_final(again.folder)


def test_a_wheelhouse_with_bytecode_is_installed_compiled_and_starts_no_compile(
    spark: Any, tmp_path: Path
) -> None:
    name = f"sdbc_{uuid.uuid4().hex[:8]}"
    files = {f"{name}/__init__.py": "VALUE = 1\n", f"{name}/big.py": _BIG}
    wheel = make_wheel(tmp_path / "wheels", name, "1.0", files)
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel], bytecode=True)
    result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    folder = result.folder
    finish_driver_install()  # load returns before the install is whole; the compile follows it
    marker = bytecode_marker(folder)
    assert marker is not None and json.loads(marker.read_text())["shipped"]
    assert running_compile(folder) is None, "nothing left to compile"
    for module in ("__init__", "big"):
        (pyc,) = _compiled(folder, name, module)
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, "the shipped .pyc"
