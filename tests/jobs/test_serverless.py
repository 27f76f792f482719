"""``three_task_job(compute="serverless")``: the artifact-free route (issue 22, goal 3).

The definition is checked as the Jobs service would read it (static environment
dependencies, the concurrency rule), then two job runs are played task by task with
the harness of test_entrypoints.py: ``process_deps`` rewrites the job's fixed
requirements file, and what an environment does with ``-r <file>`` (pip installs it
before the task starts) is done here by real pip into a folder the user task then
imports from. That "environment sync" is a stand-in: only a workspace shows when
Databricks installs a task's environment (docs/compute.md). dbutils is the stand-in of
tests/support/dbutils_standin.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.jobs.test_entrypoints import EXAMPLES, Run, _ok

import sparkdeps
from sparkdeps._core.errors import InputError

pytest.importorskip("databricks.bundles.jobs", reason="needs sparkdeps[databricks]")

USER_CODE = """
import json
import acme_process
print(json.dumps({"file": acme_process.__file__,
                  "totals": acme_process.process_data([{"date": "2024-03-02", "amount": 2}])}))
"""


def _serverless(base: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("python_file", "/Workspace/job.py")
    return sparkdeps.three_task_job(  # type: ignore[no-any-return]
        "Nightly ETL (serverless)", source="/Volumes/c/s/v/deps", base=base, compute="serverless",
        **kwargs,
    ).as_dict()  # fmt: skip


@pytest.fixture
def packaged_input(tmp_path: Path) -> Path:
    copy = tmp_path / "input"
    shutil.copytree(EXAMPLES / "inputs" / "packaged", copy)
    return copy


def _environments(job: dict[str, Any]) -> dict[str, list[str]]:
    return {env["environment_key"]: env["spec"]["dependencies"] for env in job["environments"]}


def _tasks(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["task_key"]: task for task in job["tasks"]}


def test_environment_route_definition() -> None:
    job = _serverless("/Volumes/main/etl/deps")
    pointer = "/Volumes/main/etl/deps/env-nightly-etl-serverless/requirements.txt"
    environments, tasks = _environments(job), _tasks(job)
    assert environments == {
        "sparkdeps_build": ["sparkdeps[build]"],
        "default": ["sparkdeps"],
        "sparkdeps_deps": ["sparkdeps", f"-r {pointer}"],
    }
    assert tasks["main"]["environment_key"] == "sparkdeps_deps"
    assert tasks["cleanup"]["environment_key"] == "default"
    assert tasks["process_deps"]["environment_key"] == "sparkdeps_build"
    assert (
        f"--requirements-at={pointer}" in tasks["process_deps"]["python_wheel_task"]["parameters"]
    )
    # no dynamic reference where the Jobs service takes static text only (docs/facts.md 20)
    assert "{{" not in json.dumps(job["environments"])
    assert job["max_concurrent_runs"] == 1


def test_notebook_route_definition() -> None:
    job = _serverless(
        "/Volumes/main/etl/deps",
        python_file=None,
        tasks=[sparkdeps.UserTask("report", notebook_path="/Workspace/report")],
        serverless_route="notebook",
        max_concurrent_runs=3,
    )
    assert "sparkdeps_deps" not in _environments(job)
    report = _tasks(job)["report"]
    assert report["environment_key"] == "default"
    assert report["notebook_task"]["base_parameters"]["wheelhouse"].endswith("/wheelhouse.zip")
    assert job["max_concurrent_runs"] == 3  # each notebook installs its own run's wheels


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"max_concurrent_runs": 2}, "runs must not overlap", id="overlapping-runs"),
        pytest.param(
            {"base": "/Volumes/{{job.parameters.x}}"}, "dynamic reference", id="dynamic-base"
        ),
        pytest.param({"base": "dbfs:/FileStore/deps"}, "on DBFS", id="dbfs-base"),
        pytest.param({"base": "/Volumes/my deps"}, "plainer path", id="space-in-base"),
        pytest.param(
            {"requirements_path": "relative/reqs.txt"}, "absolute", id="relative-requirements"
        ),
        pytest.param({"serverless_route": "notebook"}, "needs notebook tasks", id="script-nb"),
        pytest.param({"serverless_route": "artifacts"}, "serverless_route must", id="bad-route"),
    ],
)
def test_serverless_refuses_what_cannot_work(kwargs: dict[str, Any], message: str) -> None:
    base = kwargs.pop("base", "/Volumes/main/etl/deps")
    with pytest.raises(InputError, match=message):
        _serverless(base, **kwargs)


def _environment_sync(requirement: str, into: Path) -> None:
    """What the environment does with ``-r <file>`` before a task starts (a stand-in)."""
    flag, path = requirement.split(" ", 1)
    assert flag == "-r"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
         "--target", str(into), "-r", path],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.network
def test_two_runs_rewrite_the_fixed_file_and_the_environment_installs_each(
    tmp_path: Path, index_url: str, packaged_input: Path
) -> None:
    base = str(tmp_path / "Volumes" / "main" / "etl" / "deps")
    job = _serverless(base)
    requirement = _environments(job)["sparkdeps_deps"][1]
    pointer = Path(requirement.split(" ", 1)[1])
    seen: list[str] = []
    for job_run_id in ("9001", "9002"):
        run = Run(tmp_path, job, job_run_id, base, str(packaged_input))
        _ok(run.wheel_task("process_deps", f"--index-url={index_url}"))
        run_folder = Path(base) / f"job-{job_run_id}"
        lines = [line for line in pointer.read_text().splitlines() if not line.startswith("#")]
        assert lines == list(sparkdeps.requirement_lines(str(run_folder)))
        assert all(line.startswith(f"{run_folder}/wheels/") for line in lines)

        env = tmp_path / f"environment-{job_run_id}"
        _environment_sync(requirement, env)
        script = tmp_path / f"user-{job_run_id}.py"
        script.write_text(USER_CODE)
        completed = subprocess.run(
            [sys.executable, str(script)], env={**run.env("main"), "PYTHONPATH": str(env)},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        answer = json.loads(_ok(completed).strip().splitlines()[-1])
        assert answer["file"].startswith(str(env)), answer["file"]
        assert answer["totals"] == {"2024-03": 2.0}

        _ok(run.wheel_task("cleanup"))
        assert not run_folder.exists()
        assert pointer.is_file()  # the job's file outlives its runs; the next rewrites it
        seen.append(pointer.read_text())
    assert seen[0] != seen[1]
    assert not list(pointer.parent.glob(".*partial"))  # no temporary left by the rename
