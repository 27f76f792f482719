"""The small shared helpers of ``_core``: hashing, timing, locking."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from sparkdeps._core.hashing import CHUNK, sha256_file, sha256_stream
from sparkdeps._core.locking import file_lock
from sparkdeps._core.timing import timed


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 7], ids=str)
def test_sha256_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_stream(io.BytesIO(data)) == expected


def test_sha256_stream_hashes_what_is_left() -> None:
    stream = io.BytesIO(b"headbody")
    stream.seek(4)
    assert sha256_stream(stream) == hashlib.sha256(b"body").hexdigest()


def test_timed_stores_adds_and_survives_errors() -> None:
    timings: dict[str, float] = {}
    with timed(timings, "a") as timer:
        time.sleep(0.01)
    assert timings["a"] == timer.seconds >= 0.01
    frozen = timer.seconds
    time.sleep(0.01)
    assert timer.seconds == frozen  # stopped at the end of the block
    with timed(timings, "a", add=True):
        pass
    assert timings["a"] >= frozen
    with pytest.raises(RuntimeError), timed(timings, "failed"):
        raise RuntimeError("boom")
    assert "failed" in timings


def _hold(path: str, started: Any, release: float) -> None:
    with file_lock(Path(path)):
        started.set()
        time.sleep(release)
        Path(path + ".done").write_text("released")  # written while still holding the lock


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "deep" / "x.lock"  # the folder is created
    context = multiprocessing.get_context("fork")
    started = context.Event()
    other = context.Process(target=_hold, args=(str(lock), started, 0.3))
    other.start()
    try:
        assert started.wait(10)
        with file_lock(lock, waiting="waiting for the other process"):
            # only reachable once the other process has finished its block
            assert Path(f"{lock}.done").is_file()
    finally:
        other.join(10)
    assert other.exitcode == 0
