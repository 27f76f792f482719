"""The job's task entry points, run the way a Databricks job runs them.

Each "task" is a subprocess whose parameters come from ``three_task_job``'s own
definition, with the references (``{{job.run_id}}``, ``{{job.parameters.*}}``,
``{{tasks.process_deps.values.wheelhouse_path}}``) filled in the way the Jobs
service fills them, from the task values the earlier tasks set. dbutils is the
stand-in of tests/support/dbutils_standin.py (task values in a JSON file shared
by the tasks of one run, dbfs:/ over a temporary folder).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import sparkdeps
from sparkdeps._core.paths import split_pin
from sparkdeps._jobs.private_venv import IN_PRIVATE_VENV_ENV
from sparkdeps._jobs.tasks import detect_target, job_run_folders, new_run_id

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NOTEBOOK_LIKE = textwrap.dedent(
    """
    import json, sys
    import sparkdeps
    loaded = sparkdeps.load()  # no path: the process_deps task value
    import acme_process
    print(json.dumps({"uri": loaded.uri, "file": acme_process.__file__,
                      "totals": acme_process.process_data([{"date": "2024-03-02", "amount": 2}])}))
    """
)
# a script task: the path comes as --wheelhouse=... (three_task_job's parameters)
SCRIPT_TASK = NOTEBOOK_LIKE.replace(
    "sparkdeps.load()", "sparkdeps.load(sparkdeps.wheelhouse_arg())"
)


def _python(
    *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _sparkdeps(
    *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """The command line as a task runs it (``python -m sparkdeps``)."""
    return _python("-m", "sparkdeps", *args, env=env, timeout=timeout)


class Run:
    """One job run: the references of its tasks and the stand-in's shared state."""

    def __init__(self, tmp: Path, job: dict[str, Any], run_id: str, base: str, source: str) -> None:
        self.tmp = tmp
        self.job = job
        self.run_id = run_id
        self.parameters = {"sparkdeps_base": base, "sparkdeps_source": source}
        self.store = tmp / f"task-values-{run_id}.json"
        self.dbfs = tmp / "dbfs"
        self.with_dbutils = True

    def task(self, key: str) -> dict[str, Any]:
        return next(t for t in self.job["tasks"] if t["task_key"] == key)

    def values(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.store.read_text()) if self.store.exists() else {}

    def resolve(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            ref = match.group(1)
            if ref == "job.run_id":
                return self.run_id
            if ref.startswith("job.parameters."):
                return self.parameters[ref.split(".", 2)[2]]
            task, key = re.fullmatch(r"tasks\.(\w+)\.values\.(\w+)", ref).groups()  # type: ignore[union-attr]
            # Databricks fails a task whose reference has no value; so do we
            return str(self.values()[task][key])

        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", one, text)

    def env(self, task_key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        # this venv has the build extra: process_deps builds in place, as it does inside
        # its private venv (the bootstrap itself is tests/jobs/test_private_venv.py's)
        env = {**os.environ, IN_PRIVATE_VENV_ENV: "1"}
        if not self.with_dbutils:
            return {**env, "PYTHONPATH": str(REPO), **(extra or {})}
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "SPARKDEPS_DBUTILS": "tests.support.dbutils_standin:from_env",
                "SPARKDEPS_TEST_DBFS_ROOT": str(self.dbfs),
                "SPARKDEPS_TEST_TASK": task_key,
                "SPARKDEPS_TEST_TASK_VALUES": str(self.store),
            }
        )
        env.update(extra or {})
        return env

    def wheel_task(
        self, key: str, *extra_args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A python_wheel_task of package sparkdeps, entry point sparkdeps."""
        task = self.task(key)["python_wheel_task"]
        assert (task["package_name"], task["entry_point"]) == ("sparkdeps", "sparkdeps")
        args = [self.resolve(p) for p in task["parameters"]] + list(extra_args)
        return _sparkdeps(*args, env=self.env(key, env))

    def user_task(
        self, code: str, *args: str, key: str = "main", cache_dir: Path | None = None
    ) -> dict[str, Any]:
        """Run ``code`` as task ``key`` (its node cache at ``cache_dir``): what it prints."""
        script = self.tmp / f"{key}-{len(list(self.tmp.glob(f'{key}-*.py')))}.py"
        script.write_text(code)
        extra = {"SPARKDEPS_CACHE_DIR": str(cache_dir)} if cache_dir is not None else None
        completed = _python(str(script), *args, env=self.env(key, extra), timeout=300)
        return json.loads(_ok(completed).strip().splitlines()[-1])

    def script_args(self, key: str) -> list[str]:
        return [self.resolve(p) for p in self.task(key)["spark_python_task"]["parameters"]]


def _job(**kwargs: Any) -> dict[str, Any]:
    pytest.importorskip("databricks.bundles.jobs", reason="needs sparkdeps[databricks]")
    return sparkdeps.three_task_job(
        "entrypoints", python_file="/Workspace/job.py", node_type_id="i3.xlarge", **kwargs
    ).as_dict()  # type: ignore[no-any-return]


@pytest.fixture
def packaged_input(tmp_path: Path) -> Path:
    copy = tmp_path / "input"
    shutil.copytree(EXAMPLES / "inputs" / "packaged", copy)
    return copy


def _ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return completed.stdout


# ------------------------------------------------------------------ whole runs


@pytest.mark.network
@pytest.mark.parametrize("base_kind", ["volume-like", "dbfs"], ids=["local-base", "dbfs-base"])
def test_three_tasks_task_value_and_reference(
    tmp_path: Path, index_url: str, packaged_input: Path, base_kind: str
) -> None:
    base = (
        str(tmp_path / "Volumes" / "main" / "default" / "sparkdeps")
        if base_kind == "volume-like"
        else "dbfs:/FileStore/sparkdeps"
    )
    job = _job(
        source=str(packaged_input), base="/Volumes/main/default/sparkdeps", path_via="task_value"
    )
    run = Run(tmp_path, job, "7001", base, str(packaged_input))

    # task 1: process_deps (job parameters and {{job.run_id}} resolved)
    out = _ok(run.wheel_task("process_deps", f"--index-url={index_url}"))
    pinned = out.strip().splitlines()[-1]
    assert run.values()["process_deps"]["wheelhouse_path"] == pinned  # the task value
    uri, digest = split_pin(pinned)  # the digest rides with the path (issue 10)
    assert digest is not None and len(digest) == 64
    run_folder = uri.rpartition("/")[0]
    assert run_folder.rpartition("/")[2].startswith("job-7001-")
    if base_kind == "dbfs":
        assert uri.startswith("dbfs:/FileStore/sparkdeps/job-7001-")
        local = run.dbfs / uri[len("dbfs:/") :]
    else:
        local = Path(uri)
    assert local.is_file()

    # task 2a: the script task gets the path through the dynamic value reference
    [wheelhouse_arg] = run.script_args("main")
    assert wheelhouse_arg == f"--wheelhouse={pinned}"
    via_reference = run.user_task(SCRIPT_TASK, wheelhouse_arg, cache_dir=tmp_path / "node-a")
    # task 2b: a notebook-like task finds it through the task value alone
    via_value = run.user_task(NOTEBOOK_LIKE, cache_dir=tmp_path / "node-b")
    for answer, node in ((via_reference, "node-a"), (via_value, "node-b")):
        assert answer["uri"] == uri
        assert answer["totals"] == {"2024-03": 2.0}
        assert answer["file"].startswith(str(tmp_path / node)), answer["file"]

    # task 3: cleanup removes the run folder, from the base and the job run id alone
    out = _ok(run.wheel_task("cleanup"))
    assert run_folder in out
    assert not local.exists()
    assert not local.parent.exists()


@pytest.mark.network
def test_concurrent_runs_never_share_a_folder(
    tmp_path: Path, index_url: str, packaged_input: Path
) -> None:
    base = str(tmp_path / "base")
    job = _job(source=str(packaged_input), base=base, path_via="task_value")
    runs = [
        Run(tmp_path, job, run_id, base, str(packaged_input)) for run_id in ("8001", "8002", "8002")
    ]
    # the third is a repair of 8002: same job run id, process_deps runs again
    processes = []
    for index, run in enumerate(runs):
        task = run.task("process_deps")["python_wheel_task"]
        args = [run.resolve(p) for p in task["parameters"]] + [f"--index-url={index_url}"]
        env = run.env(
            "process_deps", {"SPARKDEPS_TEST_TASK_VALUES": str(tmp_path / f"values-{index}.json")}
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "sparkdeps", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    uris = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        uris.append(split_pin(stdout.strip().splitlines()[-1])[0])
    folders = [uri.rpartition("/")[0] for uri in uris]
    assert len(set(folders)) == 3, folders
    assert all(Path(uri).is_file() for uri in uris)
    assert job_run_folders(base, "8002") == sorted(folders[1:])

    # cleaning up run 8002 (both attempts) leaves run 8001 alone
    _ok(runs[1].wheel_task("cleanup"))
    assert Path(uris[0]).is_file()
    assert not Path(folders[1]).exists() and not Path(folders[2]).exists()


@pytest.mark.network
def test_process_deps_auto_reads_the_running_runtime(tmp_path: Path, index_url: str) -> None:
    """``--target auto`` on Databricks builds for this interpreter against what it really
    has (issue 22, goal 6): sdtest-gamma, installed here but in no profile, is not shipped.
    On the profile (the old ``auto``) it was: dbr-15.4 does not list it."""
    site = tmp_path / "site"
    installed = _python(
        "-m", "pip", "install", "--disable-pip-version-check", "--index-url", index_url,
        "--target", str(site), "sdtest-gamma==1.0",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-beta==2.0\n")
    completed = _sparkdeps(
        "process-deps",
        f"--source={requirements}",
        f"--base={tmp_path / 'base'}",
        f"--index-url={index_url}",
        "--json",
        env={**os.environ, "DATABRICKS_RUNTIME_VERSION": "15.4", "PYTHONPATH": str(site)},
    )
    stdout = _ok(completed)
    assert "this compute's Python and installed packages (15.4)" in completed.stderr
    pinned = stdout.strip().splitlines()[-1]
    uri = split_pin(pinned)[0]
    result = json.loads(stdout[: stdout.rindex("}") + 1])
    assert result["uri"] == uri and result["pinned_uri"] == pinned
    assert result["task_value_set"] is False  # no dbutils here: the URI goes to stdout
    manifest = sparkdeps.inspect(uri)
    assert [wheel.name for wheel in manifest.wheels] == ["sdtest-beta"]
    assert manifest.target["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert manifest.runtime is not None
    assert "running-runtime-15.4" in manifest.runtime["name"]
    relied = {item["name"]: item["version"] for item in manifest.runtime["relied_on"]}
    assert relied == {"sdtest-gamma": "1.0"}


@pytest.mark.parametrize(
    ("profile", "packaging_line"),
    [("dbr-15.4", "from-profile"), (None, "left-out")],
    ids=["with-profile", "serverless-no-profile"],
)
def test_running_set_corrects_the_build_footprint(profile: str | None, packaging_line: str) -> None:
    """The build task runs with sparkdeps[build]: its upgrades are not the user's runtime."""
    from sparkdeps._core.runtimes import parse_freeze, runtime_packages
    from sparkdeps._jobs.running import build_footprint, running_set_text

    footprint = build_footprint()
    assert {"sparkdeps", "packaging", "uv", "build"} <= footprint
    assert "pyspark" not in footprint and "python-dateutil" not in footprint
    got = parse_freeze(running_set_text(profile), "running")
    assert got.version_of("python-dateutil") == importlib.metadata.version("python-dateutil")
    assert got.version_of("sparkdeps") is None
    if packaging_line == "from-profile":
        assert got.version_of("packaging") == runtime_packages("dbr-15.4").version_of("packaging")
    else:
        assert got.version_of("packaging") is None


def test_process_deps_reports_a_bad_input(tmp_path: Path) -> None:
    completed = _sparkdeps(
        "process-deps",
        f"--source={tmp_path / 'missing'}",
        f"--base={tmp_path / 'base'}",
        "--job-run-id=1",
        timeout=120,
    )
    assert completed.returncode == 1
    assert "no such file or folder" in completed.stderr
    assert not (tmp_path / "base").exists() or not any((tmp_path / "base").iterdir())


def test_cleanup_with_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "base" / "job-99-abc").mkdir(parents=True)
    completed = _sparkdeps("cleanup", f"--base={tmp_path / 'base'}", "--job-run-id=5", timeout=120)
    assert _ok(completed).strip() == "nothing to remove"
    assert (tmp_path / "base" / "job-99-abc").is_dir()  # another run's folder stays


# ------------------------------------------------------------------ small parts


@pytest.mark.parametrize(
    ("runtime", "explicit", "expected"),
    [
        ("14.3", "auto", "dbr-14.3"),
        ("15.4.x-scala2.12", None, "dbr-15.4"),
        ("client.2.1", "auto", None),  # serverless: build for this interpreter
        (None, "auto", None),
        ("14.3", "dbr-16.4", "dbr-16.4"),
        ("14.3", "host", None),
    ],
    ids=["dbr-14.3", "long-version", "serverless", "off-databricks", "explicit", "host"],
)
def test_detect_target(
    monkeypatch: pytest.MonkeyPatch, runtime: str | None, explicit: str | None, expected: str | None
) -> None:
    if runtime is None:
        monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    else:
        monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", runtime)
    assert detect_target(explicit) == expected


@pytest.mark.parametrize(
    ("job_run_id", "pattern"),
    [
        ("123", r"job-123-[0-9a-f]{12}"),
        ("{{job.run_id}}", r"run-[0-9a-f]{12}"),
        (None, r"run-[0-9a-f]{12}"),
    ],
    ids=["job-run", "unresolved", "none"],
)
def test_new_run_id(job_run_id: str | None, pattern: str) -> None:
    first, second = new_run_id(job_run_id), new_run_id(job_run_id)
    assert re.fullmatch(pattern, first)
    assert first != second


def test_new_run_id_refuses_a_path() -> None:
    with pytest.raises(sparkdeps.InputError):
        new_run_id("../../etc")


@pytest.mark.network
@pytest.mark.parametrize("with_dbutils", [False, True], ids=["no-dbutils", "dbutils"])
def test_job_run_mode_needs_no_task_value(
    tmp_path: Path, index_url: str, packaged_input: Path, with_dbutils: bool
) -> None:
    # path_via="job_run" (the default): with no dbutils at all (as if a wheel task
    # could not set task values), every task still finds the path from
    # {{job.run_id}} and the base; where dbutils works the task value is set too.
    base = str(tmp_path / "base")
    job = _job(source=str(packaged_input), base=base)
    run = Run(tmp_path, job, "9001", base, str(packaged_input))
    run.with_dbutils = with_dbutils

    printed = _ok(run.wheel_task("process_deps", f"--index-url={index_url}")).strip()
    first, digest = split_pin(printed.splitlines()[-1])
    assert first == f"{base}/job-9001/wheelhouse.zip" and digest is not None
    if with_dbutils:
        assert run.values()["process_deps"]["wheelhouse_path"] == printed.splitlines()[-1]
    else:
        assert not run.store.exists()  # no task value anywhere
    [wheelhouse_arg] = run.script_args("main")
    assert wheelhouse_arg == f"--wheelhouse={first}"

    answer = run.user_task(SCRIPT_TASK, wheelhouse_arg)
    assert answer["uri"] == first and answer["totals"] == {"2024-03": 2.0}

    # a repaired run re-runs process_deps: it reuses the first attempt's wheelhouse
    mtime = Path(first).stat().st_mtime_ns
    again = _ok(run.wheel_task("process_deps", f"--index-url={index_url}", "--json"))
    assert again.strip().splitlines()[-1] == printed.splitlines()[-1]
    assert '"reused": true' in again
    assert Path(first).stat().st_mtime_ns == mtime

    out = _ok(run.wheel_task("cleanup"))
    assert f"{base}/job-9001" in out
    assert not Path(first).parent.exists()
