"""The background compile's handle (``bytecode.py``), without Spark: a real ``compileall``
child on a small folder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sparkdeps._runtime.bytecode import compile_in_background, running_compile
from sparkdeps._runtime.install import bytecode_marker


def test_a_compile_is_found_only_once_its_reaper_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared load starts the compile on its install thread while the caller may already
    wait on it (``running_compile(folder).wait()``): a handle found before its reaper
    thread started made that wait raise "cannot join thread before it is started"
    (seen once in CI on Python 3.13)."""
    folder = tmp_path / "install"
    folder.mkdir()
    (folder / "module.py").write_text("VALUE = 1\n", encoding="utf-8")
    found_at_start: list[object] = []
    start = threading.Thread.start

    def recording_start(thread: threading.Thread) -> None:
        if thread.name == "sparkdeps-bytecode":
            found_at_start.append(running_compile(folder))
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    job = compile_in_background(folder, tmp_path / "locks")
    assert job is not None
    assert found_at_start == [None], "the handle was there before its reaper started"
    assert running_compile(folder) is job
    assert job.wait(timeout=120) == 0
    marker = bytecode_marker(folder)
    assert marker is not None and marker.is_file()
    assert list((folder / "__pycache__").glob("module.*.pyc"))
