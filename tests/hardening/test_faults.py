"""Faults: the index down or hanging, a build killed mid-publish, a full disk, a load killed
mid-install, and (on a real local-cluster) an executor killed after ``load``."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from tests.hardening.corpus import Resources
from tests.hardening.runs import (
    disk_full,
    executor_killed,
    kill_wheelhouse,
    load_killed,
    publish_killed,
)
from tests.support.index import IndexServer
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build
from sparkdeps._core.errors import ResolutionError

pytestmark = pytest.mark.network


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("sdhard-dep\n")
    return path


@pytest.mark.parametrize(
    "settings",
    [{"index_timeout": 2.0, "index_retries": 1}, {}],
    ids=["short-timeout", "defaults"],
)
def test_index_down_fails_fast_and_names_the_index(
    tmp_path: Path, settings: dict[str, float]
) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/simple/"
    started = time.monotonic()
    with pytest.raises(ResolutionError) as caught:
        build(
            _requirements(tmp_path),
            dest=tmp_path / "dest",
            index_url=url,
            task_value_key=None,
            **settings,
        )  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "cannot reach the package index" in message
    assert "fix: check the index URL" in message
    assert elapsed < 30, f"a refused connection took {elapsed:.1f}s to report"
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_hanging_index_times_out(tmp_path: Path, hardening_resources: Resources) -> None:
    with IndexServer(hardening_resources.packages) as server:
        # requests still hanging when we leave end in broken pipes: keep them quiet
        server._httpd.handle_error = lambda *args: None  # type: ignore[method-assign]
        server.hang_seconds = 60
        started = time.monotonic()
        with pytest.raises(ResolutionError) as caught:
            build(
                _requirements(tmp_path),
                dest=tmp_path / "dest",
                index_url=server.url,
                index_timeout=2,
                index_retries=1,
                task_value_key=None,
            )
        elapsed = time.monotonic() - started
        asked = len(server.requests)
    message = str(caught.value)
    assert server.plain_url.rstrip("/") in message
    assert "timed out" in message and "index_timeout" in message
    # 2 s per try, 2 tries: bounded, far from uv's and pip's own minutes
    assert elapsed < 20, f"took {elapsed:.1f}s"
    assert asked >= 1


def test_sigkill_during_publish_leaves_no_wheelhouse(
    tmp_path: Path, hardening_resources: Resources
) -> None:
    report = publish_killed(tmp_path, hardening_resources)
    assert report["killed_returncode"] == -9
    assert report["final_present"] is False, report
    # what the kill left: run.json and the half-written temporary file, never the final name
    assert "run.json" in report["after_kill"], report
    assert report["partial_sizes"] and all(size > 0 for size in report["partial_sizes"])
    assert report["next_ok"], report["next_error"]
    assert report["next_uri"].endswith("/next/wheelhouse.zip")
    # cleanup takes the killed run folder, temporary file and all
    assert report["run_left"] is False and report["cleanup_removed"], report


@pytest.mark.parametrize("at", ["start", "publish"], ids=["limit-from-start", "limit-at-publish"])
def test_disk_full_gives_a_clean_storage_error(tmp_path: Path, at: str) -> None:
    report = disk_full(tmp_path, at)
    assert report["returncode"] == 3, report["stderr"]
    assert report["error"] == "StorageError", report
    message = report["message"]
    assert "File too large" in message or "No space" in message, message
    assert report["dest_left"] == [], report  # no partial file, no empty run folder
    assert report["tmp_left"] == [], report  # the work folder went too
    assert report["input_changed"] is False


def test_load_killed_mid_install_is_redone(tmp_path: Path) -> None:
    wheelhouse = kill_wheelhouse(tmp_path)
    report = load_killed(tmp_path / "node", wheelhouse, ["sdhard_kill0", "sdhard_kill2"])
    assert len(report["during"]) == 1 and report["during"][0].endswith(".partial"), report
    assert report["after_kill"] == report["during"], "the kill leaves the partial folder"
    assert report["next_returncode"] == 0, report["next_error"]
    result = report["next"]
    assert result["reused"] is False, "a half-installed folder must not be reused"
    assert report["after_next"] == [result["digest"]], "the partial folder is removed"
    assert all(path.startswith(result["folder"]) for path in result["files"].values())
    assert len(report["install_log"]) == 1


@pytest.mark.spark
@pytest.mark.slow
def test_executor_killed_after_load_is_replaced_and_imports(
    tmp_path: Path, hardening_resources: Resources
) -> None:
    """local-cluster[2,1,1024], executors on a clean venv: load, SIGKILL one executor JVM,
    wait for the master to launch a replacement, then import on every executor."""
    code, report, stderr = executor_killed(tmp_path, hardening_resources, timeout=400)
    assert code == 0 and report, stderr[-4000:]
    assert report["killed_pid"] in report["executor_pids_before"]
    assert report["replacement_ids"], f"no replacement executor: {report}"
    after = report["after"]
    assert after["ok"], after
    new_dirs = set(after["executors"]) - set(report["before"]["executors"])
    assert new_dirs, f"no import ran on the replacement's working folder: {report}"
    # the replacement imports from the folder the node's executors share, in the
    # application's folder above their own, which the killed one may have begun
    nodes = tuple(os.path.dirname(folder) + os.sep for folder in after["executors"])
    assert all(f.startswith(nodes) for f in after["files"]), after


def test_cleanup_while_a_load_reads_the_run(tmp_path: Path) -> None:
    """Issue 10, section 5: the run folder goes while a load is between two wheels; the load
    reads on from the file it opened, and neither side shows a traceback."""
    from tests.hardening.runs import cleanup_during_load

    wheels = [
        make_wheel(tmp_path / "w", f"sdhard-gone{n}", "1.0", {f"sdhard_gone{n}/__init__.py": ""})
        for n in range(3)
    ]
    wheelhouse = make_wheelhouse(tmp_path / "runs", wheels)
    report = cleanup_during_load(tmp_path / "node", wheelhouse, ["sdhard_gone2"])
    assert not report["cleanup_error"] and report["cleanup_removed"], report
    assert report["load_returncode"] == 0, report
    assert not report["run_left"]
    assert "sdhard_gone2" in report["imported"]
