"""The benchmark harness runs end to end on W0 (offline, no Spark) and reports every measure.

Checks the shape of the output, not the targets: a busy CI machine says
nothing about speed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "benchmarks" / "run.py"

SMOKE_MEASURES = {
    "driver install, cold",
    "driver install, cold (CPU s)",
    "load, warm",
    "load, warm, whole process",
    "driver peak memory, cold load",
    "driver memory growth during load",
    "driver peak memory, warm load",
    "build, cold",
    "build, unchanged input",
    "build, unchanged input (in-process)",
}
BASELINES = {
    "driver install, cold": {
        "unzip every wheel",
        "pip install --target",
        "uv pip install --no-cache --target",
    },
    "build, cold": {"pip download -r (host)", "uv pip compile + pip download --no-deps (target)"},
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], str]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    completed = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return json.loads(out.read_text()), completed.stdout


@pytest.mark.slow
@pytest.mark.network  # serves W0 on 127.0.0.1
def test_smoke_reports_every_measure(smoke_run: tuple[dict[str, object], str]) -> None:
    document, _stdout = smoke_run
    results = document["results"]
    assert isinstance(results, list)
    assert {r["measure"] for r in results} == SMOKE_MEASURES
    assert {r["workload"] for r in results} == {"W0"}
    for measure, expected in BASELINES.items():
        against = {r["b"]["variant"] for r in results if r["measure"] == measure and r["b"]}
        assert expected <= against, (measure, against)
    assert document["config"]["runs"] == 2 and document["config"]["warmups"] == 1
    assert document["complete"] is True


@pytest.mark.slow
@pytest.mark.network
def test_smoke_numbers_are_positive_and_complete(smoke_run: tuple[dict[str, object], str]) -> None:
    document, _stdout = smoke_run
    results = document["results"]
    assert isinstance(results, list)
    for result in results:
        assert result["status"] in {"PASS", "MISS", "INFO"}, result
        sides = [result["a"]] + ([result["b"]] if result["b"] else [])
        for side in sides:
            assert side["error"] is None, side
            assert len(side["values"]) == 2, side
            stats = side["stats"]
            assert 0 < stats["min"] <= stats["median"] <= stats["max"] and math.isfinite(
                stats["max"]
            ), side
        if result["b"]:
            assert result["ratio"] is not None and result["ratio"] > 0
    scaling = document["scaling"]
    assert isinstance(scaling, list) and scaling[0]["workload"] == "W0"
    assert scaling[0]["wheels"] >= 5 and scaling[0]["installed_mb"] > 0
    machine = document["machine"]
    assert isinstance(machine, dict) and machine["nproc"] >= 1 and machine["pip"].startswith("pip")


@pytest.mark.slow
@pytest.mark.network
def test_smoke_prints_the_table(smoke_run: tuple[dict[str, object], str]) -> None:
    _document, stdout = smoke_run
    header = next(line for line in stdout.splitlines() if line.startswith("measure "))
    for column in ("A median [min-max]", "B median [min-max]", "A/B", "target", "status"):
        assert column in header
    rows = [
        line
        for line in stdout.splitlines()
        if line.startswith(("driver install, cold ", "build, "))
    ]
    assert len(rows) >= 5, stdout
    assert "scaling (driver install, cold):" in stdout


def _bench_module(name: str) -> Any:
    """``benchmarks/<name>.py``, imported on its own (the benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", REPO / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tree_payload_baseline_zips_the_install_without_bin_or_bytecode(tmp_path: Path) -> None:
    """The 0.1 payload the executor measures compare against (benchmarks/tree_payload.py)."""
    tree_payload = _bench_module("tree_payload")
    root = tmp_path / "install"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "single.py").write_text("Y = 2\n")
    payload = tree_payload.tree_payload(root, "ab" * 32, tmp_path / "payloads")
    with zipfile.ZipFile(payload) as archive:
        assert sorted(archive.namelist()) == ["pkg/__init__.py", "single.py"]
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert [p.name for p in payload.parent.iterdir()] == [payload.name]  # no partial left


_EXECUTOR_LOG = """\
01:40:37.139 INFO Executor: Starting executor ID 0 on host 127.0.0.1
01:40:40.175 INFO Executor: Running task 0.0 in stage 0.0 (TID 0)
01:40:40.216 INFO Executor: Fetching spark://127.0.0.1:33929/files/x_boot.zip with timestamp 1
01:40:40.258 INFO Utils: Fetching spark://127.0.0.1:33929/files/x_boot.zip to /w/fetchFileTemp1
01:40:40.297 INFO Executor: Fetching spark://127.0.0.1:33929/files/x.zip#x with timestamp 2
01:40:40.350 INFO Utils: Fetching spark://127.0.0.1:33929/files/x.zip to /tmp/fetchFileTemp2
01:40:40.614 INFO Executor: Unpacking an archive spark://127.0.0.1:33929/files/x.zip#x
01:40:40.882 INFO TorrentBroadcast: Started reading broadcast variable 0 with 1 pieces
01:40:42.557 INFO PythonUDFWithNamedArgumentsRunner: Starting Python task execution - task 0.0
01:40:44.701 INFO PythonUDFWithNamedArgumentsRunner: Times: total = 2143, boot = 974, init = 229, finish = 940 - Batches: 1
01:40:44.787 INFO Executor: Finished task 0.0 in stage 0.0 (TID 0). 3951 bytes result sent
01:40:44.827 INFO Executor: Running task 2.0 in stage 0.0 (TID 2)
01:40:45.100 INFO PythonUDFWithNamedArgumentsRunner: Times: total = 50, boot = 1, init = 2, finish = 3 - Batches: 1
"""


def test_peer_trace_cuts_an_executors_first_task_into_phases(tmp_path: Path) -> None:
    """``peer.py --trace`` (benchmarks/_phases.py) on a log shaped as Spark 4.3 writes it."""
    _phases = _bench_module("_phases")
    stderr = tmp_path / "work" / "app-1" / "0" / "stderr"
    stderr.parent.mkdir(parents=True)
    stderr.write_text(_EXECUTOR_LOG)
    phases = _phases.executor_phases(tmp_path)["0"]
    expected = {
        "task_s": 4.612,  # Running task to Finished task, the first task only
        "fetch_s": 0.398,  # the first Fetching line to the unpack
        "unpack_s": 0.268,
        "jvm_s": 1.675,  # the line after the unpack to the Python runner's start
        "boot_s": 0.974,
        "init_s": 0.229,
        "python_s": 0.94,
    }
    assert phases.keys() == expected.keys()
    for phase, seconds in expected.items():
        value = phases[phase]
        assert value is not None and math.isclose(value, seconds, abs_tol=1e-6), (phase, value)
    table = _phases.phase_table({"variant": [{"phases": {"0": phases}}]})
    assert "4.61" in table and "0.27" in table
