"""End to end on runtime twins: a job passes where the runtime has it, and the guard's
counter-test reproduces the NumPy 1.x/2.x failure it prevents (docs/facts.md, fact 13).

* dbr-14.3 twin (Python 3.10, pyspark 3.5.0, numpy 1.23.5, pandas 1.5.3, pyarrow 8.0.0):
  pytest runs *inside* the twin with the sparkdeps plugin (tests/apps/twin_job.py; copied as the inner test file),
  so executors run the twin too; a plain UDF and a pandas_udf use packages from a
  wheelhouse built for dbr-14.3, on the driver and both executors of a local-cluster.
* dbr-17.3 twin (3.12, pyspark 4.0.0, numpy 2.1.3): the same job through Spark Connect.
* Counter-tests: a wheelhouse that ships numpy 2 (dbr-14.3) or a pyarrow compiled against
  numpy 1.x (dbr-17.3) fails the way the real runtime would.

Packages come from the index on 127.0.0.1 (tests/support/twins.py); only Databricks
itself is not here: the twins stand in for its runtimes' Python side.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.support.index import IndexServer
from tests.support.twins import env_for_twin as _env
from tests.support.twins import pytest_on_twin
from tests.support.twins import tools_for_twin as _tools

from sparkdeps import build

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.network]
REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "tests" / "apps" / "twin_job.py"
# How a module compiled against one numpy major fails under the other (docs/facts.md, fact 13).
NUMPY_MISMATCH = (
    "compiled using NumPy 1.x",
    "numpy.core.multiarray failed to import",
    "_ARRAY_API not found",
    "numpy.dtype size changed, may indicate binary incompatibility",
)


@pytest.fixture(autouse=True)
def _no_outer_session(sparkdeps_spark_manager: Any) -> None:
    """The job runs its own Spark in a child process: stop this process's session first
    (a live Connect server holds the fixed port the child's would bind)."""
    sparkdeps_spark_manager.stop()


def _wheelhouse(
    tmp: Path, index: IndexServer, target: str, requirements: str, **options: Any
) -> tuple[Path, set[str]]:
    source = tmp / "requirements.txt"
    source.write_text(requirements)
    result = build(
        source,
        dest=tmp / "runs",
        target=target,
        index_url=index.url,
        cache_dir=tmp / "build-cache",
        task_value_key=None,
        **options,
    )
    return Path(result.uri), {f"{wheel.name}=={wheel.version}" for wheel in result.wheels}


def _job(
    twin: Path, tools: Path, wheelhouse: Path, tmp: Path, mode: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """tests/apps/twin_job.py run by pytest on the twin: (the run, where it writes what it saw)."""
    project = tmp / "job"
    project.mkdir()
    (project / "test_job.py").write_text(JOB.read_text())
    out = tmp / "seen.json"
    env = _env(tools, tmp, E2E_WHEELHOUSE=str(wheelhouse), E2E_OUT=str(out), E2E_MODE=mode)
    return pytest_on_twin(twin, project, env, "test_job.py"), out


def _run_job(twin: Path, tools: Path, wheelhouse: Path, tmp: Path, mode: str) -> dict[str, Any]:
    completed, out = _job(twin, tools, wheelhouse, tmp, mode)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-3000:]
    seen: dict[str, Any] = json.loads(out.read_text())
    return seen


def _plain_task(twin: Path, tools: Path, wheelhouse: Path, tmp: Path, code: str) -> str:
    """A plain Python task on the twin: load the wheelhouse first, then run ``code``."""
    script = f"import sparkdeps\nsparkdeps.load({str(wheelhouse)!r})\n{code}\nprint('ok')\n"
    completed = subprocess.run(
        [str(twin / "bin" / "python"), "-c", script],
        env=_env(tools, tmp),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return completed.stdout + completed.stderr


def _from_wheelhouse(file: str, report: dict[str, Any]) -> bool:
    # the executor's folder, or the application's above it: the node's executors share the
    # folder the shipped wheelhouse is split into there
    roots = [report["cwd"], os.path.dirname(report["cwd"])]
    return "site-packages" not in file and any(file.startswith(root + os.sep) for root in roots)


def test_dbr143_job_on_driver_and_both_executors(
    twin143: Path, twin_index: IndexServer, tmp_path: Path
) -> None:
    tools = _tools(twin143, twin_index, tmp_path / "tools")
    wheelhouse, shipped = _wheelhouse(
        tmp_path, twin_index, "dbr-14.3", "sdtest-cext\nsdtest-npuser\n"
    )
    assert not any(pin.startswith("numpy==") for pin in shipped), shipped
    seen = _run_job(twin143, tools, wheelhouse, tmp_path, "classic")
    python = str(twin143 / "bin" / "python")
    assert seen["executor_python"] == python, "inside a twin, executors run that twin"
    driver = seen["driver"]
    assert (driver["version"], driver["numpy"], driver["pandas"]) == ("3.10", "1.23.5", "1.5.3")
    assert driver["delivery"] == "classic"
    for name in ("cext", "npuser"):
        assert driver[name].startswith(driver["folder"]), (name, driver[name])
    assert len({report["cwd"] for report in seen["reports"]}) == 2, "both executors answered"
    for report in seen["reports"]:
        assert report["python"] == python
        assert (report["numpy"], report["pandas"], report["pyarrow"]) == (
            "1.23.5",
            "1.5.3",
            "8.0.0",
        )
        assert _from_wheelhouse(report["cext"], report) and _from_wheelhouse(
            report["npuser"], report
        )
        assert report["mean"] == 2.0
    assert seen["values"] == [float(v + 1) + 1.0 for v in range(6)]
    assert seen["verified"] is True
    # The guarded wheelhouse also loads first in a plain Python task (no Spark session).
    assert _plain_task(twin143, tools, wheelhouse, tmp_path, "import pandas").endswith("ok\n")


def test_dbr143_counter_test_numpy2_breaks_the_runtime(
    twin143: Path, twin_index: IndexServer, tmp_path: Path
) -> None:
    wheelhouse, shipped = _wheelhouse(
        tmp_path, twin_index, "dbr-14.3", "sdtest-cext\nsdtest-npuser\n", override_runtime=["numpy"]
    )
    assert "numpy==2.2.6" in shipped, shipped
    tools = _tools(twin143, twin_index, tmp_path / "tools")
    output = _plain_task(twin143, tools, wheelhouse, tmp_path, "import pandas")
    # the runtime's pandas 1.5.3 was compiled against numpy 1.x; numpy 2.2.6 came first
    assert any(sign in output for sign in NUMPY_MISMATCH), output[-3000:]
    assert not output.endswith("ok\n")


def _run_job_failing(twin: Path, tools: Path, wheelhouse: Path, tmp: Path, mode: str) -> str:
    completed, _ = _job(twin, tools, wheelhouse, tmp, mode)
    assert completed.returncode != 0, "the job must fail on the executors"
    return completed.stdout + completed.stderr


@pytest.mark.connect
def test_dbr173_job_through_connect(twin173: Path, twin_index: IndexServer, tmp_path: Path) -> None:
    tools = _tools(twin173, twin_index, tmp_path / "tools")
    wheelhouse, shipped = _wheelhouse(
        tmp_path, twin_index, "dbr-17.3", "sdtest-cext\nsdtest-npuser\n"
    )
    assert not any(pin.startswith("numpy==") for pin in shipped), shipped
    seen = _run_job(twin173, tools, wheelhouse, tmp_path, "connect")
    python = str(twin173 / "bin" / "python")
    assert seen["executor_python"] == python
    driver = seen["driver"]
    assert (driver["version"], driver["numpy"], driver["pandas"]) == ("3.12", "2.1.3", "2.2.3")
    assert driver["delivery"] == "connect"
    for report in seen["reports"]:
        assert report["python"] == python
        assert (report["numpy"], report["pandas"], report["pyarrow"]) == (
            "2.1.3",
            "2.2.3",
            "19.0.1",
        )
        assert _from_wheelhouse(report["cext"], report) and _from_wheelhouse(
            report["npuser"], report
        )
    assert seen["values"] == [float(v + 1) + 1.0 for v in range(6)]
    assert seen["verified"] is True


@pytest.mark.connect
def test_dbr173_counter_test_old_pyarrow_fails_on_executors(
    twin173: Path, twin_index: IndexServer, tmp_path: Path
) -> None:
    wheelhouse, shipped = _wheelhouse(
        tmp_path,
        twin_index,
        "dbr-17.3",
        "sdtest-cext\nsdtest-npuser\npyarrow==14.0.2\n",
        override_runtime=["pyarrow"],
    )
    assert "pyarrow==14.0.2" in shipped, shipped
    tools = _tools(twin173, twin_index, tmp_path / "tools")
    output = _run_job_failing(twin173, tools, wheelhouse, tmp_path, "connect")
    assert any(sign in output for sign in NUMPY_MISMATCH), output[-4000:]
