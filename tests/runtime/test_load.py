"""load(): where the path comes from, driver-only loads, dbfs: through dbutils."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.dbutils_standin import StandinDbutils
from tests.support.wheelhouses import PREFIX, restored_imports

from sparkdeps._core import databricks as _databricks
from sparkdeps._core.errors import DeliveryError, InputError, WheelhouseNotFoundError
from sparkdeps._runtime.load import load, locate_wheelhouse, wheelhouse_arg

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    with restored_imports(PREFIX):
        yield
    _databricks.set_dbutils(None)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--wheelhouse", "/Volumes/c/s/v/r/wheelhouse.zip"], "/Volumes/c/s/v/r/wheelhouse.zip"),
        (["x", "--wheelhouse=/tmp/w.zip", "y"], "/tmp/w.zip"),
        (["--other", "1"], None),
        (["--wheelhouse"], None),
        (["--wheelhouse", "{{tasks.process_deps.values.wheelhouse_path}}"], None),
        ([], None),
    ],
    ids=["separate", "equals", "absent", "no-value", "unresolved-reference", "empty"],
)
def test_wheelhouse_arg(argv: list[str], expected: str | None) -> None:
    assert wheelhouse_arg(argv) == expected


def test_wheelhouse_arg_reads_sys_argv_and_custom_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["job.py", "--deps", "/tmp/x.zip"])
    assert wheelhouse_arg(flag="--deps") == "/tmp/x.zip"
    assert wheelhouse_arg() is None


def test_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A stand-in for dbutils (not Databricks): a job run where process_deps set the value.
    standin = StandinDbutils(tmp_path / "dbfs", task_key="process_deps")
    standin.jobs.taskValues.set("wheelhouse_path", "/from/task/value.zip")
    standin.jobs.taskValues.task_key = "main"  # now "the job script's task" reads it
    _databricks.set_dbutils(standin)
    assert locate_wheelhouse(None) == (
        "/from/task/value.zip",
        "task value process_deps.wheelhouse_path",
    )
    monkeypatch.setenv("SPARKDEPS_WHEELHOUSE", "/from/env.zip")
    assert locate_wheelhouse(None) == ("/from/env.zip", "$SPARKDEPS_WHEELHOUSE")
    assert locate_wheelhouse("/from/arg.zip") == ("/from/arg.zip", "argument")


def test_nothing_found_lists_what_was_tried() -> None:
    with pytest.raises(WheelhouseNotFoundError) as caught:
        locate_wheelhouse(None, task_key="deps", key="path")
    message = str(caught.value)
    assert "argument" in message and "SPARKDEPS_WHEELHOUSE" in message and "deps.path" in message


def test_task_value_outside_a_job_run_is_not_found(tmp_path: Path) -> None:
    # Stand-in semantics: outside a job run get() returns debugValue, or raises
    # TypeError when it is None; load must read that as "no task value".
    _databricks.set_dbutils(StandinDbutils(tmp_path / "dbfs", task_key=None))
    with pytest.raises(WheelhouseNotFoundError, match=r"task value process_deps\.wheelhouse_path"):
        load(None)


def test_load_from_task_value_in_a_subprocess(wheelhouse: Path, tmp_path: Path) -> None:
    """Two "tasks" of one "run": process_deps sets the value, the job script loads by it."""
    store = tmp_path / "task-values.json"
    store.write_text(json.dumps({"process_deps": {"wheelhouse_path": str(wheelhouse)}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
        SPARKDEPS_DBUTILS="tests.support.dbutils_standin:from_env",
        SPARKDEPS_TEST_DBFS_ROOT=str(tmp_path / "dbfs"),
        SPARKDEPS_TEST_TASK="main",
        SPARKDEPS_TEST_TASK_VALUES=str(store),
        SPARKDEPS_CACHE_DIR=str(tmp_path / "cache"),
    )
    out = subprocess.run(
        [sys.executable, str(REPO / "tests" / "apps" / "load_app.py"), "-"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["uri"] == str(wheelhouse)
    assert result["delivery"] == "driver-only"


def test_no_session_is_driver_only_and_says_so(
    wheelhouse: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        result = load(wheelhouse, cache_dir=tmp_path / "cache")
    assert result.delivery == "driver-only" and result.payload is None
    assert any("driver only" in record.getMessage() for record in caplog.records)
    assert set(result.timings) >= {"fetch", "hash", "check", "install", "total"}
    data = result.to_dict()
    assert data["digest"] == result.digest and data["wheels"] == list(result.wheels)


def test_second_load_in_process_reuses(wheelhouse: Path, tmp_path: Path) -> None:
    first = load(wheelhouse, cache_dir=tmp_path / "cache")
    second = load(wheelhouse, cache_dir=tmp_path / "cache")
    assert not first.reused and second.reused and second.folder == first.folder
    assert sys.path.count(str(first.folder)) == 1


@pytest.mark.parametrize("delivery", ["classic", "shared"], ids=["classic", "shared"])
def test_forced_delivery_without_session_is_an_error(
    wheelhouse: Path, tmp_path: Path, delivery: str
) -> None:
    with pytest.raises(DeliveryError, match="needs a Spark session"):
        load(wheelhouse, delivery=delivery, cache_dir=tmp_path / "cache")  # type: ignore[arg-type]
    assert not (wheelhouse.parent / ".sparkdeps").exists()


def test_shared_delivery_needs_a_mounted_path(tmp_path: Path) -> None:
    # A stand-in for dbutils.fs (not Databricks): a dbfs: URI is not a path executors mount.
    _databricks.set_dbutils(StandinDbutils(tmp_path / "dbfs"))
    with pytest.raises(InputError, match="every node mounts"):
        load("dbfs:/deps/r/wheelhouse.zip", spark=object(), delivery="shared")


@pytest.mark.parametrize(
    ("option", "value"), [("mode", "conda"), ("delivery", "ssh")], ids=["mode", "delivery"]
)
def test_bad_options(option: str, value: str, wheelhouse: Path) -> None:
    with pytest.raises(InputError, match=option):
        load(wheelhouse, **{option: value})  # type: ignore[arg-type]


def test_dbfs_uri_through_dbutils(wheelhouse: Path, tmp_path: Path) -> None:
    # A stand-in for dbutils.fs (not Databricks) over a folder standing for DBFS.
    root = tmp_path / "dbfs"
    (root / "deps" / "run1").mkdir(parents=True)
    (root / "deps" / "run1" / "wheelhouse.zip").write_bytes(wheelhouse.read_bytes())
    _databricks.set_dbutils(StandinDbutils(root))
    cache = tmp_path / "cache"
    result = load("dbfs:/deps/run1/wheelhouse.zip", cache_dir=cache)
    assert result.uri == "dbfs:/deps/run1/wheelhouse.zip" and not result.reused
    import sdload_pure

    assert sdload_pure.VALUE == "pure"
    downloads = cache / "node" / "downloads"
    assert not downloads.exists() or not any(downloads.iterdir()), "the downloaded copy is removed"


def test_cli_load_warms_the_node_cache(
    wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkdeps._cli import main

    cache = tmp_path / "cache"
    assert main(["load", str(wheelhouse), "--cache-dir", str(cache), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["reused"] is False and first["delivery"] == "driver-only"
    assert main(["load", str(wheelhouse), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reused 5 wheels") and first["folder"] in out


def test_module_imported_before_load_is_reported(
    wheelhouse: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sdload_pure").mkdir(parents=True)
    (elsewhere / "sdload_pure" / "__init__.py").write_text("VALUE = 'old'\n")
    sys.path.insert(0, str(elsewhere))
    import sdload_pure

    assert sdload_pure.VALUE == "old"
    with caplog.at_level(logging.WARNING, logger="sparkdeps"):
        load(wheelhouse, cache_dir=tmp_path / "cache")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sdload_pure was imported before load()" in text for text in warnings), warnings


def test_verify_without_a_session_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkdeps._core.errors import VerificationError
    from sparkdeps._runtime.verify import verify

    monkeypatch.setattr("sparkdeps._runtime.verify.active_session", lambda: None)
    with pytest.raises(VerificationError, match="needs a Spark session"):
        verify()
