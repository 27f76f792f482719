"""A fresh classic load returns once the executors are served; the driver's install
finishes behind it, and the first import of one of its packages waits for it.

Real parts: wheelhouses of real wheels, the real fetch, checks and install into a node
cache. ``install_beside`` is called as ``load()`` calls it on a classic session, with a
``ship`` that records instead of Spark (the Spark side is ``test_warm.py``). The
install is held back by holding its digest lock, as another process installing the
same wheelhouse would, so "before" and "after" are not a race.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import subprocess
import sys
import threading
import time
import types
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from tests.support.wheelhouses import PREFIX, restored_imports

from sparkdeps._core.errors import StorageError
from sparkdeps._core.locking import file_lock
from sparkdeps._runtime.driver import install_beside
from sparkdeps._runtime.fetch import COMPLETE_MARKER, fetch_wheelhouse
from sparkdeps._runtime.install import InstallResult
from sparkdeps._runtime.pending import finish_driver_install

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_imports() -> Iterator[None]:
    with restored_imports(PREFIX):
        yield
        finish_driver_install(drop_failed=True)  # nothing left waiting for the next test


def _held(node_cache: Path, digest: str) -> AbstractContextManager[None]:
    """The install's own lock, as another process installing the same digest holds it."""
    return file_lock(node_cache / "locks" / f"{digest}.lock")


def _digest(wheelhouse: Path, node_cache: Path) -> str:
    with fetch_wheelhouse(str(wheelhouse), node_cache) as prepared:
        return prepared.digest


class _Holder:
    """Holds the install's lock from the start of a test until :meth:`release`."""

    def __init__(self, lock: AbstractContextManager[None]) -> None:
        self._lock = lock
        self._held = threading.Lock()  # released once, whichever thread comes first
        lock.__enter__()

    def release(self, after: float = 0.0) -> None:
        time.sleep(after)
        if self._held.acquire(blocking=False):
            self._lock.__exit__(None, None, None)

    def release_later(self, seconds: float) -> threading.Thread:
        thread = threading.Thread(target=self.release, args=(seconds,))
        thread.start()
        return thread


@pytest.fixture
def held(wheelhouse: Path, tmp_path: Path) -> Iterator[tuple[Path, _Holder]]:
    """(node cache, its install lock held): the install waits until the test lets it go."""
    node_cache = tmp_path / "node"
    holder = _Holder(_held(node_cache, _digest(wheelhouse, node_cache)))
    try:
        yield node_cache, holder
    finally:
        holder.release()


def _load_beside(wheelhouse: Path, node_cache: Path) -> tuple[Path, list[InstallResult]]:
    shipped: list[InstallResult] = []
    prepared = fetch_wheelhouse(str(wheelhouse), node_cache)
    folder, _planned, _ = install_beside(prepared, node_cache, {}, shipped.append)
    return folder, shipped


def test_load_returns_before_the_install_and_the_first_import_waits_for_it(
    wheelhouse: Path, held: tuple[Path, _Holder]
) -> None:
    node_cache, holder = held
    folder, shipped = _load_beside(wheelhouse, node_cache)
    # served from the plan while the install cannot even start
    assert [item.folder for item in shipped] == [folder]
    assert not folder.exists()
    assert str(folder) not in sys.path
    releasing = holder.release_later(0.5)
    started = time.monotonic()
    module = importlib.import_module(f"{PREFIX}_pure")
    waited = time.monotonic() - started
    releasing.join()
    assert waited >= 0.4, "the import went on before the install was whole"
    assert module.__file__ == str(folder / f"{PREFIX}_pure" / "__init__.py")
    assert module.VALUE == "pure"
    assert sys.path[0] == str(folder)
    assert (folder / COMPLETE_MARKER).is_file()
    assert not any(type(finder).__name__ == "PendingInstall" for finder in sys.meta_path)


def test_a_metadata_lookup_waits_for_the_install(
    wheelhouse: Path, held: tuple[Path, _Holder]
) -> None:
    node_cache, holder = held
    folder, _ = _load_beside(wheelhouse, node_cache)
    releasing = holder.release_later(0.3)
    version = importlib.metadata.version(f"{PREFIX}-single")
    releasing.join()
    assert version == "1.0"
    assert sys.path[0] == str(folder)


def test_other_imports_do_not_wait(wheelhouse: Path, tmp_path: Path) -> None:
    node_cache = tmp_path / "node"
    with _held(node_cache, _digest(wheelhouse, node_cache)):
        folder, _ = _load_beside(wheelhouse, node_cache)
        started = time.monotonic()
        importlib.import_module("colorsys")  # stdlib, not yet imported by the suite
        assert time.monotonic() - started < 5
        assert not folder.exists()


def test_a_failed_install_raises_at_the_import_and_the_next_load_installs_again(
    wheelhouse: Path, tmp_path: Path
) -> None:
    node_cache = tmp_path / "node"
    digest = _digest(wheelhouse, node_cache)
    good = wheelhouse.read_bytes()
    with _held(node_cache, digest):
        folder, _ = _load_beside(wheelhouse, node_cache)
        wheelhouse.write_bytes(b"")  # emptied in place after the checks, before the install
    with pytest.raises(StorageError, match="failed after load\\(\\) returned") as raised:
        importlib.import_module(f"{PREFIX}_pure")
    assert str(wheelhouse) in str(raised.value) and "load it again" in str(raised.value)
    assert isinstance(raised.value.__cause__, zipfile.BadZipFile)
    with pytest.raises(StorageError):  # and at the next import, not a half-made folder
        importlib.import_module(f"{PREFIX}_single")
    assert not folder.exists()
    wheelhouse.write_bytes(good)
    finish_driver_install(drop_failed=True)  # what the next load() does first
    folder, _ = _load_beside(wheelhouse, node_cache)
    assert importlib.import_module(f"{PREFIX}_single").VALUE == "single"
    assert (folder / COMPLETE_MARKER).is_file()


_EXITS_AT_ONCE = """
import json, sys
sys.path[:0] = {paths!r}
from sparkdeps._runtime.driver import install_beside
from sparkdeps._runtime.fetch import fetch_wheelhouse
node_cache = {node_cache!r}
from pathlib import Path
prepared = fetch_wheelhouse({wheelhouse!r}, Path(node_cache))
folder, _, _ = install_beside(prepared, Path(node_cache), {{}}, lambda planned: None)
print(json.dumps({{"folder": str(folder), "existed": folder.exists()}}), flush=True)
"""


def test_the_interpreter_exits_only_once_the_install_is_whole(
    wheelhouse: Path, held: tuple[Path, _Holder]
) -> None:
    node_cache, holder = held
    code = _EXITS_AT_ONCE.format(
        paths=[str(REPO / "src"), str(REPO)], node_cache=str(node_cache), wheelhouse=str(wheelhouse)
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    said = json.loads(child.stdout.readline())
    assert not said["existed"]
    time.sleep(0.5)
    assert child.poll() is None, "the process ended with its install unfinished"
    holder.release()
    assert child.wait(timeout=60) == 0
    assert (Path(said["folder"]) / COMPLETE_MARKER).is_file()


_FORKS = """
import importlib, json, os, sys
sys.path[:0] = {paths!r}
from pathlib import Path
from sparkdeps._runtime.driver import install_beside
from sparkdeps._runtime.fetch import fetch_wheelhouse
prepared = fetch_wheelhouse({wheelhouse!r}, Path({node_cache!r}))
folder, _, _ = install_beside(prepared, Path({node_cache!r}), {{}}, lambda planned: None)
print("loaded", flush=True)
sys.stdin.readline()  # the test lets the install go on once the fork is under way
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    module = importlib.import_module({name!r})
    os.write(write, json.dumps(module.__file__).encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(read, 4096).decode(), flush=True)
"""


def test_a_forked_child_finds_the_install_whole(
    wheelhouse: Path, held: tuple[Path, _Holder]
) -> None:
    node_cache, holder = held
    code = _FORKS.format(
        paths=[str(REPO / "src"), str(REPO)],
        node_cache=str(node_cache),
        wheelhouse=str(wheelhouse),
        name=f"{PREFIX}_pure",
    )
    child = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "loaded"
    child.stdin.write("\n")
    child.stdin.flush()
    holder.release(after=0.5)  # the fork waits for this
    file = json.loads(child.stdout.readline())
    assert child.wait(timeout=60) == 0
    assert file.endswith(f"{PREFIX}_pure/__init__.py") and "/installs/" in file


def test_a_module_imported_before_load_is_explained_before_the_install_is_whole(
    wheelhouse: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its import never reaches the placeholder, so ``load`` says it at once."""
    early = types.ModuleType(f"{PREFIX}_single")
    early.__file__ = str(tmp_path / "elsewhere" / f"{PREFIX}_single.py")
    sys.modules[early.__name__] = early
    node_cache = tmp_path / "node"
    with _held(node_cache, _digest(wheelhouse, node_cache)):
        caplog.set_level(logging.WARNING, logger="sparkdeps._runtime.preloaded")
        folder, _ = _load_beside(wheelhouse, node_cache)
        assert not folder.exists()
        said = caplog.text
    assert f"{PREFIX}_single was imported before load()" in said
    assert f"executors import {PREFIX}_single 1.0 from the wheelhouse" in said
