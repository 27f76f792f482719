"""The Databricks bundle under examples/databricks and the three-task job helper.

The bundle's Python resources are loaded the way the Databricks CLI loads them:
``python -m databricks.bundles.build --phase load_resources`` with the bundle's
configuration as JSON input, then the emitted job graph is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sparkdeps
from sparkdeps._core.errors import InputError, SparkdepsError
from sparkdeps._jobs.names import WHEELHOUSE_REFERENCE

pytest.importorskip("databricks.bundles.jobs", reason="needs sparkdeps[databricks]")

BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "databricks"
REFERENCE = "{{tasks.process_deps.values.wheelhouse_path}}"
JOB_RUN_PATH = "{{job.parameters.sparkdeps_base}}/job-{{job.run_id}}/wheelhouse.zip"


def _load_bundle(tmp_path: Path, target: str = "dev") -> dict[str, Any]:
    config = (BUNDLE / "databricks.yml").read_text()
    # The CLI hands the resolved YAML to the Python side; the parts it reads are these.
    resources = re.findall(r'^\s+-\s+"([\w.]+:\w+)"\s*$', config, re.MULTILINE)
    assert resources == ["resources:load_resources"]
    request = {
        "bundle": {"target": target, "name": "sparkdeps-example"},
        "python": {"venv_path": ".venv", "resources": resources},
        "variables": {"sparkdeps_base": {"value": "/Volumes/main/default/sparkdeps"}},
    }
    (tmp_path / "input.json").write_text(json.dumps(request))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "databricks.bundles.build",
            "--phase",
            "load_resources",
            "--input",
            str(tmp_path / "input.json"),
            "--output",
            str(tmp_path / "output.json"),
            "--diagnostics",
            str(tmp_path / "diagnostics.json"),
            "--locations",
            str(tmp_path / "locations.json"),
        ],
        cwd=BUNDLE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    diagnostics = (tmp_path / "diagnostics.json").read_text()
    assert completed.returncode == 0, completed.stderr[-3000:] + diagnostics
    assert diagnostics.strip() == "", diagnostics
    return json.loads((tmp_path / "output.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bundle_jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = _load_bundle(tmp_path_factory.mktemp("bundle"))
    return output["resources"]["jobs"]  # type: ignore[no-any-return]


def _tasks(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["task_key"]: task for task in job["tasks"]}


def _depends(task: dict[str, Any]) -> list[str]:
    return sorted(dep["task_key"] for dep in task.get("depends_on", []))


def test_bundle_defines_both_variants(bundle_jobs: dict[str, Any]) -> None:
    assert sorted(bundle_jobs) == ["sparkdeps_job_cluster", "sparkdeps_serverless"]


@pytest.mark.parametrize(
    "name", ["sparkdeps_job_cluster", "sparkdeps_serverless"], ids=["cluster", "serverless"]
)
def test_three_task_graph(bundle_jobs: dict[str, Any], name: str) -> None:
    job = bundle_jobs[name]
    tasks = _tasks(job)
    assert [task["task_key"] for task in job["tasks"]] == ["process_deps", "main", "cleanup"]

    process = tasks["process_deps"]
    assert _depends(process) == []
    wheel_task = process["python_wheel_task"]
    assert (wheel_task["package_name"], wheel_task["entry_point"]) == ("sparkdeps", "sparkdeps")
    assert wheel_task["parameters"][0] == "process-deps"
    assert "--job-run-id={{job.run_id}}" in wheel_task["parameters"]
    assert "--base={{job.parameters.sparkdeps_base}}" in wheel_task["parameters"]
    # the default hand-off: the run folder is named after the job run (docs/facts.md, fact 16)
    assert "--per-job-run" in wheel_task["parameters"]

    main = tasks["main"]
    assert _depends(main) == ["process_deps"]
    assert main["spark_python_task"]["python_file"] == "${workspace.file_path}/src/job.py"
    # the path reaches the script task through {{job.run_id}}, which every task type resolves
    assert f"--wheelhouse={JOB_RUN_PATH}" in main["spark_python_task"]["parameters"]
    assert not any("tasks.process_deps" in json.dumps(task) for task in job["tasks"])

    cleanup = tasks["cleanup"]
    assert cleanup["run_if"] == "ALL_DONE"
    assert _depends(cleanup) == ["main", "process_deps"]
    assert cleanup["python_wheel_task"]["parameters"][0] == "cleanup"
    # no task-value reference: cleanup must start even when process_deps failed
    assert not any("tasks.process_deps" in p for p in cleanup["python_wheel_task"]["parameters"])

    parameters = {p["name"]: p["default"] for p in job["parameters"]}
    assert parameters == {
        "sparkdeps_base": "${var.sparkdeps_base}",
        "sparkdeps_source": "${workspace.file_path}/deps/requirements.txt",
    }


def test_job_cluster_variant(bundle_jobs: dict[str, Any]) -> None:
    job = bundle_jobs["sparkdeps_job_cluster"]
    # one cluster for every task: a run pays one cluster start (issue 25)
    [cluster] = job["job_clusters"]
    assert cluster["job_cluster_key"] == "sparkdeps_cluster"
    assert cluster["new_cluster"]["spark_version"] == "14.3.x-scala2.12"
    assert cluster["new_cluster"]["data_security_mode"] == "SINGLE_USER"
    assert cluster["new_cluster"]["node_type_id"] == "${var.node_type_id}"
    for task in job["tasks"]:
        assert "environment_key" not in task
        assert task["job_cluster_key"] == "sparkdeps_cluster", task["task_key"]
        # the build extra upgrades packaging/pip: never a library of the cluster
        [library] = task["libraries"]
        assert library["pypi"]["package"] == "${var.sparkdeps_requirement}", task["task_key"]
    parameters = _tasks(job)["process_deps"]["python_wheel_task"]["parameters"]
    # ... it goes into a private venv on the node instead (_jobs/private_venv.py)
    assert "--private-venv" in parameters
    assert "--build-requirement=${var.sparkdeps_requirement}[build]" in parameters
    assert "environments" not in job


def test_bundle_requires_a_node_type() -> None:
    config = (BUNDLE / "databricks.yml").read_text()
    block = config[config.index("  node_type_id:") : config.index("  sparkdeps_requirement:")]
    assert "default:" not in block  # no cloud's node type as a default


def test_serverless_variant(bundle_jobs: dict[str, Any]) -> None:
    job = bundle_jobs["sparkdeps_serverless"]
    environments = {env["environment_key"]: env["spec"] for env in job["environments"]}
    tasks = _tasks(job)
    for task in job["tasks"]:
        assert task["environment_key"] in environments, task["task_key"]
        assert "job_cluster_key" not in task and "libraries" not in task
    assert "job_clusters" not in job
    build_env = environments[tasks["process_deps"]["environment_key"]]
    assert build_env["dependencies"] == ["${var.sparkdeps_requirement}[build]"]
    cleanup_env = environments[tasks["cleanup"]["environment_key"]]
    assert cleanup_env["dependencies"] == ["${var.sparkdeps_requirement}"]
    # the user task installs this run's wheels through its environment (docs/compute.md)
    pointer = "${var.sparkdeps_base}/env-sparkdeps-example-serverless/requirements.txt"
    user_env = environments[tasks["main"]["environment_key"]]
    assert user_env["dependencies"] == ["${var.sparkdeps_requirement}", f"-r {pointer}"]
    assert (
        f"--requirements-at={pointer}" in tasks["process_deps"]["python_wheel_task"]["parameters"]
    )
    assert job["max_concurrent_runs"] == 1


def test_bundle_defaults_to_a_volume() -> None:
    config = (BUNDLE / "databricks.yml").read_text()
    match = re.search(r"sparkdeps_base:\n(?:\s+.*\n)*?\s+default: (\S+)", config)
    assert match is not None
    assert match.group(1).startswith("/Volumes/")
    assert "dbfs:/" in config  # the DBFS option is documented next to it


# ------------------------------------------------------------ the helper itself


def test_helper_several_tasks_and_a_notebook() -> None:
    job = sparkdeps.three_task_job(
        "multi",
        source="/Volumes/c/s/v/deps.zip",
        tasks=[
            sparkdeps.UserTask(
                "extract", python_file="/Workspace/p/extract.py", parameters=("--day", "1")
            ),
            sparkdeps.UserTask(
                "report", notebook_path="/Workspace/p/report", depends_on=("extract",)
            ),
        ],
        max_concurrent_runs=4,
        path_via="task_value",
        node_type_id="m5.xlarge",
    ).as_dict()
    tasks = _tasks(job)
    assert list(tasks) == ["process_deps", "extract", "report", "cleanup"]
    assert tasks["extract"]["spark_python_task"]["parameters"] == [
        "--day",
        "1",
        f"--wheelhouse={REFERENCE}",
    ]
    assert tasks["report"]["notebook_task"]["base_parameters"] == {"wheelhouse": REFERENCE}
    assert _depends(tasks["report"]) == ["extract", "process_deps"]
    assert _depends(tasks["cleanup"]) == ["extract", "process_deps", "report"]
    assert job["max_concurrent_runs"] == 4
    assert WHEELHOUSE_REFERENCE == REFERENCE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one user task"),
        (
            {
                "tasks": [
                    sparkdeps.UserTask("a", python_file="x.py"),
                    sparkdeps.UserTask("a", python_file="y.py"),
                ]
            },
            "unique",
        ),
        ({"python_file": "x.py", "compute": "gpu"}, "compute must be"),
        ({"python_file": "x.py"}, r"needs node_type_id=.*'i3\.xlarge' on AWS"),
        ({"python_file": "x.py", "node_type_id": " "}, "needs node_type_id="),
    ],
    ids=["no-task", "duplicate-key", "bad-compute", "no-node-type", "blank-node-type"],
)
def test_helper_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        sparkdeps.three_task_job("bad", source="x", **kwargs)


def test_user_task_needs_one_kind() -> None:
    with pytest.raises(InputError, match="exactly one"):
        sparkdeps.UserTask("t")
    with pytest.raises(InputError, match="taken by sparkdeps"):
        sparkdeps.UserTask("cleanup", python_file="x.py")


def test_helper_names_the_extra_when_bundles_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as if the package were not installed
    monkeypatch.setitem(sys.modules, "databricks.bundles", None)
    monkeypatch.setitem(sys.modules, "databricks.bundles.jobs", None)
    with pytest.raises(SparkdepsError, match=re.escape("sparkdeps[databricks]")):
        sparkdeps.three_task_job("x", source="s", python_file="f.py")


def test_helper_job_run_mode_is_the_default() -> None:
    job = sparkdeps.three_task_job(
        "by-run",
        source="s",
        tasks=[
            sparkdeps.UserTask("script", python_file="/Workspace/f.py"),
            sparkdeps.UserTask("book", notebook_path="/Workspace/nb"),
        ],
        node_type_id="Standard_D4ds_v5",
    ).as_dict()
    tasks = _tasks(job)
    assert "--per-job-run" in tasks["process_deps"]["python_wheel_task"]["parameters"]
    # process_deps still sets the task value where dbutils can (no --task-value-key='')
    assert not any(
        p.startswith("--task-value-key")
        for p in tasks["process_deps"]["python_wheel_task"]["parameters"]
    )
    assert tasks["script"]["spark_python_task"]["parameters"] == [f"--wheelhouse={JOB_RUN_PATH}"]
    assert tasks["book"]["notebook_task"]["base_parameters"] == {"wheelhouse": JOB_RUN_PATH}
    assert not any("tasks.process_deps" in json.dumps(task) for task in job["tasks"])


def test_helper_task_value_mode_still_available() -> None:
    job = sparkdeps.three_task_job(
        "by-value",
        source="s",
        python_file="/Workspace/f.py",
        path_via="task_value",
        node_type_id="n2-standard-4",
    ).as_dict()
    tasks = _tasks(job)
    assert "--per-job-run" not in tasks["process_deps"]["python_wheel_task"]["parameters"]
    assert tasks["main"]["spark_python_task"]["parameters"] == [f"--wheelhouse={REFERENCE}"]
