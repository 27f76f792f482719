"""The examples: the main job (README's first command), the user-style job script,
the notebook, the local-pytest example, and the six inputs themselves.

Everything resolves against the test index on 127.0.0.1 (python-dateutil and
tzdata repackaged from this venv), never PyPI.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sparkdeps
from sparkdeps.testing.localspark import clean_python, spark_env

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
INPUTS = EXAMPLES / "inputs"
FORMATS = ("requirements", "pure_python", "packaged", "existing_wheels", "mixed", "nested")


def _inherited() -> dict[str, str]:
    # A Connect session earlier in this process marks it as a Connect client
    # (pyspark 4 sets SPARK_CONNECT_MODE_ENABLED); a child's classic session must not inherit it.
    drop = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")
    return {key: value for key, value in os.environ.items() if key not in drop}


def _run(
    args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env={**_inherited(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------ the inputs


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS)
def test_input_is_described(fmt: str) -> None:
    folder = INPUTS / fmt
    assert (folder / "README.md").read_text().strip()
    spec = json.loads((folder / "example.json").read_text())
    assert spec["format"] == fmt
    assert spec["modules"] and spec["checks"]
    for check in spec["checks"]:
        ast.parse(check["expr"], mode="eval")  # a valid expression
        assert "expect" in check
    # no binaries in the repository: existing_wheels builds its wheel at run time
    assert not list(folder.rglob("*.whl")) and not list(folder.rglob("*.so"))


# ------------------------------------------------------------------ the main job


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(1200)
def test_main_job_six_of_six(tmp_path: Path, index_url: str) -> None:
    report = tmp_path / "report.json"
    completed = _run(
        [
            sys.executable,
            str(EXAMPLES / "main_job.py"),
            "--index-url",
            index_url,
            "--json",
            str(report),
            "--workdir",
            str(tmp_path / "work"),
        ],
        timeout=1100,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    assert "6/6 PASS" in completed.stdout
    # the output is clean: no Python warning from pyspark or from the example's own code
    for noise in ("FutureWarning", "UserWarning", "Cannot infer the eval type"):
        assert noise not in completed.stdout + completed.stderr, noise
    header = next(line for line in completed.stdout.splitlines() if line.startswith("format"))
    assert header.split() == [
        "format",
        "wheels",
        "driver",
        "executors",
        "build",
        "load",
        "exec",
        "result",
    ]

    rows = {row["format"]: row for row in json.loads(report.read_text())["rows"]}
    assert list(rows) == list(FORMATS)
    for fmt, row in rows.items():
        assert row["passed"], (fmt, row["problems"])
        assert row["built_format"] == fmt
        assert row["executors"].endswith("x2"), row  # both executors answered
        assert set(row["timings"]) == {"build", "load", "executors"}
    assert rows["requirements"]["wheels"] >= 2  # python-dateutil and its dependency
    assert rows["pure_python"]["wheels"] == 1  # one generated wheel
    assert rows["nested"]["wheels"] >= 3  # two projects + python-dateutil (+ its dependency)


@pytest.mark.network
def test_main_job_fails_a_row_and_exits_non_zero(tmp_path: Path, index_url: str) -> None:
    # A copy of the inputs where the C extension does not compile: the build fails,
    # the row says FAIL, the exit code says so too (no Spark needed when nothing built).
    inputs = tmp_path / "inputs"
    shutil.copytree(INPUTS, inputs)
    source = inputs / "mixed" / "acme_fastmath" / "src" / "acme_fastmath" / "_speedups.c"
    source.write_text(source.read_text() + "\nthis is not C;\n")
    completed = _run(
        [
            sys.executable,
            str(EXAMPLES / "main_job.py"),
            "--index-url",
            index_url,
            "--only",
            "mixed",
            "--inputs",
            str(inputs),
            "--json",
            str(tmp_path / "report.json"),
            "--no-cache",
        ],
        timeout=600,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "0/1 PASS" in completed.stdout
    [row] = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert row["passed"] is False
    assert any(problem.startswith("build:") for problem in row["problems"]), row


# ------------------------------------------------------------------ the job script


@pytest.fixture(scope="module")
def packaged_wheelhouse(tmp_path_factory: pytest.TempPathFactory, index_url: str) -> str:
    work = tmp_path_factory.mktemp("packaged")
    shutil.copytree(INPUTS / "packaged", work / "input")
    return sparkdeps.build(work / "input", dest=work / "runs", index_url=index_url).uri


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.network
def test_job_script_on_a_local_cluster(tmp_path: Path, packaged_wheelhouse: str) -> None:
    python = clean_python(tmp_path / "clean-venv")  # executors: nothing installed
    output = tmp_path / "out.json"
    env = {
        **spark_env(python),
        # how spark-submit would start it: a local cluster of 2 executors
        "PYSPARK_SUBMIT_ARGS": (
            "--master local-cluster[2,1,1024] --conf spark.ui.enabled=false "
            "--conf spark.driver.host=127.0.0.1 --conf spark.executor.memory=768m pyspark-shell"
        ),
    }
    completed = _run(
        [
            sys.executable,
            str(EXAMPLES / "job_script.py"),
            f"--wheelhouse={packaged_wheelhouse}",
            "--output",
            str(output),
        ],
        env=env,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    result: dict[str, Any] = json.loads(output.read_text())
    assert result["totals"] == {"2024-01": 12.5, "2024-02": 5.0, "2024-03": 8.0}
    assert result["days"] == {
        "1": "2024-01-05",
        "2": "2024-01-20",
        "3": "2024-02-29",
        "4": "2024-03-01",
        "5": "2024-03-31",
        "6": "2024-02-02",
    }
    assert any(name.startswith("acme_process-") for name in result["wheels"])
    assert "delivery=classic" in completed.stdout


# ------------------------------------------------------------------ the notebook


def test_notebook_is_databricks_source() -> None:
    text = (EXAMPLES / "notebook_example.py").read_text()
    lines = text.splitlines()
    assert lines[0] == "# Databricks notebook source"
    cells = text.split("# COMMAND ----------")
    assert any(cell.strip() == "# MAGIC %pip install sparkdeps" for cell in cells)
    # %pip comes before the first cell that imports sparkdeps
    pip_at = next(i for i, c in enumerate(cells) if "%pip install sparkdeps" in c)
    import_at = next(i for i, c in enumerate(cells) if "import sparkdeps" in c)
    assert pip_at < import_at
    assert "sparkdeps.load(" in text
    for cell in cells:  # every code cell is valid Python
        code = "\n".join(line for line in cell.splitlines() if not line.startswith("# MAGIC"))
        compile(code, "notebook_example.py", "exec")


# ------------------------------------------------------------------ the local-pytest example


LOCAL_PYTEST_CHECKS = (
    "test_executors_cannot_import_before_load",
    "test_gross_prices_on_every_executor",
    "test_report_by_country",
    "test_a_wrong_expectation_fails_with_chispa_diff",
)


@pytest.mark.spark
@pytest.mark.slow
def test_local_pytest_example_passes(sparkdeps_spark_manager: Any) -> None:
    # The user's tests compare DataFrames with chispa on local-cluster and on Connect.
    import pyspark

    # The child starts its own Connect server on the fixed port: stop this process's first.
    sparkdeps_spark_manager.stop()

    project = EXAMPLES / "local_pytest"
    env = {key: value for key, value in _inherited().items() if not key.startswith("PYTEST_")}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rs"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-3000:]
    outcomes = dict(
        re.findall(
            r"^tests/test_transform\.py::(\S+) (PASSED|SKIPPED|FAILED)", completed.stdout, re.M
        )
    )
    connect = "PASSED" if int(pyspark.__version__.split(".")[0]) >= 4 else "SKIPPED"
    for name in LOCAL_PYTEST_CHECKS:
        assert outcomes.get(f"{name}[classic]") == "PASSED", (name, completed.stdout[-3000:])
        assert outcomes.get(f"{name}[connect]") == connect, (name, completed.stdout[-3000:])
    assert outcomes.get("test_rules_on_the_driver[de]") == "PASSED"
    # pyspark's own assertDataFrameEqual: passes, or skips for the one reason the README gives
    for kind in ("classic", "connect"):
        outcome = outcomes.get(f"test_the_same_check_with_pyspark_testing[{kind}]")
        assert outcome in ("PASSED", "SKIPPED"), completed.stdout[-3000:]
    skipped = re.findall(
        r"^SKIPPED \[\d+\] tests/test_transform\.py:\d+: (.*)$", completed.stdout, re.M
    )
    assert all("pyspark.pandas" in reason or "Connect" in reason for reason in skipped), skipped
