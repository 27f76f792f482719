"""A ``shared`` load returns before the driver's install is whole; executors wait for it.

The worker tests run the stub zip in a fresh ``python -I`` as an executor's worker
(tests/runtime/test_bootstrap.py does the same for ``wheels``), while the test plays the
driver: it renames the install into place, or writes the failure into the note beside
it, as :func:`sparkdeps._runtime.driver.install_beside` does. Before this change the
stub put a folder that did not exist yet on the path, and every import failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.wheelhouses import (
    installed_on_the_driver,
    load_test_wheels,
    make_wheelhouse,
    module_names,
)
from tests.support.workers import IMPORTS

from sparkdeps._runtime.bootstrap import installing_note
from sparkdeps._runtime.wheelpayload import boot_module, boot_zip

TAG = "_pend"

_WORKER = (
    """
import importlib, sys
sys.path[1:1] = {paths!r}
boot = importlib.import_module({boot!r})
boot._UNSEEN_WAIT_S = {unseen!r}
open("started", "w").close()
"""
    + IMPORTS.replace("sys.path[1:1] = {paths!r}\n", "")
    + "print(json.dumps(out))\n"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(wheelhouse, the driver's install folder, digest)."""
    root = tmp_path_factory.mktemp("pending")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))
    return installed_on_the_driver(wheelhouse, root / "cache")


def _start(root: Path, stubs: Path, digest: str, unseen: float = 30.0) -> subprocess.Popen[str]:
    """A worker importing every test module through the stub zip; it touches ``started``
    first."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(stubs, root / stubs.name)
    code = _WORKER.format(
        paths=[str(root / stubs.name)], boot=boot_module(digest), unseen=unseen,
        names=module_names(TAG),
    )  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-I", "-c", code], cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _started(root: Path, worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not (root / "started").exists():
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    time.sleep(0.5)  # well inside its first import, before the folder exists


def _outcome(worker: subprocess.Popen[str]) -> dict[str, dict[str, object]]:
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    return dict(json.loads(out))


def _stubs(installed: tuple[Path, Path, str], tmp_path: Path) -> tuple[Path, Path, str]:
    """(the stub zip naming a shared folder not written yet, that folder, digest)."""
    _wheelhouse, folder, digest = installed
    shared = tmp_path / "volume" / "installs" / digest
    shared.parent.mkdir(parents=True)
    stubs = boot_zip(folder, digest, tmp_path / "payloads", site=shared)
    return stubs, shared, digest


def _note(shared: Path) -> Path:
    """The driver's note beside the shared folder."""
    return Path(installing_note(os.fspath(shared)))


def _install_whole(installed: tuple[Path, Path, str], shared: Path, name: str) -> None:
    """The driver's install: a partial folder, renamed into place once whole."""
    partial = shared.with_name(f".{installed[2]}.{name}.partial")
    shutil.copytree(installed[1], partial)
    partial.rename(shared)


def _imported_from(out: dict[str, dict[str, object]], shared: Path) -> None:
    for name in module_names(TAG):
        assert out[name]["ok"], (name, out[name])
        assert str(out[name]["file"]).startswith(f"{shared}{os.sep}"), out[name]


def test_an_import_waits_while_the_driver_writes_the_shared_folder(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    stubs, shared, digest = _stubs(installed, tmp_path)
    note = _note(shared)
    note.write_text("", "utf-8")  # the driver: installing
    worker = _start(tmp_path / "executor", stubs, digest)
    _started(tmp_path / "executor", worker)
    assert not shared.exists()
    _install_whole(installed, shared, "x")
    note.unlink()  # then the note goes
    _imported_from(_outcome(worker), shared)


def test_a_failed_shared_install_stops_the_waiting_import_with_its_error(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    stubs, shared, digest = _stubs(installed, tmp_path)
    note = _note(shared)
    note.write_text("", "utf-8")
    worker = _start(tmp_path / "executor", stubs, digest)
    _started(tmp_path / "executor", worker)
    note.write_text("StorageError: no space left on device: /Volumes/main/x", "utf-8")
    out = _outcome(worker)
    for name in module_names(TAG):
        error = str(out[name].get("error", ""))
        assert not out[name]["ok"]
        assert error.startswith("ImportError: sparkdeps: the driver's install"), error
        assert str(shared) in error and "no space left on device" in error, error
        assert "load again" in error, error
    assert not shared.exists()


def test_a_failure_of_one_driver_does_not_stop_the_executors_of_another_still_installing(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # Two jobs load the same wheelhouse into one shared folder at once (the driver's
    # real note, _Note): the first one's install fails after the second one's load has
    # put its own note there. The second one's executors wait for its install, which
    # succeeds, instead of stopping at the first one's error (they did before).
    from sparkdeps._runtime.driver import _Note

    stubs, shared, digest = _stubs(installed, tmp_path)
    first = _Note(shared)
    second = _Note(shared)  # the second job's load, while the first one installs
    worker = _start(tmp_path / "executor", stubs, digest)
    _started(tmp_path / "executor", worker)
    first.fail("StorageError: no space left on device: /Volumes/main/x")
    time.sleep(1.0)  # the worker polls the note at least twice meanwhile
    assert worker.poll() is None, worker.communicate()
    _install_whole(installed, shared, "y")
    second.done()
    _imported_from(_outcome(worker), shared)
    assert not _note(shared).exists()
    assert [item.name for item in shared.parent.iterdir()] == [shared.name]  # no note left


def test_the_driver_note_carries_its_own_failure(tmp_path: Path) -> None:
    from sparkdeps._runtime.driver import _Note

    shared = tmp_path / "volume" / "installs" / "digest"
    note_path = _note(shared)
    note_path.parent.mkdir(parents=True)
    note_path.write_text("OSError: an earlier load's failure", "utf-8")
    note = _Note(shared)
    assert note_path.read_text("utf-8") == ""  # installing: the earlier failure is gone
    note.fail("StorageError: quota exceeded")
    assert note_path.read_text("utf-8") == "StorageError: quota exceeded"
    assert sorted(item.name for item in note_path.parent.iterdir()) == [note_path.name]


def test_a_shared_folder_this_executor_cannot_see_is_named_with_the_fix(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Neither the folder nor the driver's note: not storage this executor mounts."""
    stubs, shared, digest = _stubs(installed, tmp_path)
    worker = _start(tmp_path / "executor", stubs, digest, unseen=0.3)
    out = _outcome(worker)
    for name in module_names(TAG):
        error = str(out[name].get("error", ""))
        assert not out[name]["ok"]
        assert f"the shared install {shared} is not on this executor" in error, error
        assert "delivery='classic'" in error, error


def test_the_warm_up_returns_while_the_driver_writes_the_shared_folder(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # The warm-up's task only starts the executor's Python worker (issue 25, round 13).
    # Waiting there for the install would hold the executor's slot ahead of the first
    # UDF, which waits for the same install at its first import anyway. The folder never
    # comes in this test: a warm-up that waited for it would not return.
    stubs, shared, digest = _stubs(installed, tmp_path)
    _note(shared).write_text("", "utf-8")  # the driver: installing
    code = (
        f"import importlib, sys; sys.path.insert(1, {str(stubs)!r}); "
        f"print(importlib.import_module({boot_module(digest)!r}).warm())"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60,
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(shared)
    assert not shared.exists()
