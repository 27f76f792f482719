"""``process-deps --private-venv``: the build tools in a venv of their own (issue 25).

For real: a "cluster" interpreter (a fresh venv) gets plain ``sparkdeps`` as a job
cluster's task library would; ``process-deps --private-venv`` there makes a venv,
installs ``sparkdeps[build]`` into it from a local index on 127.0.0.1 (sparkdeps
built from this tree, its build extra repackaged from the test venv) and builds.
The cluster interpreter's distributions must be exactly what they were.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.index import IndexServer
from tests.support.wheels import wheel_from_installed
from tests.test_options import ON_A_COMMAND_LINE

import sparkdeps
from sparkdeps._cli import main
from sparkdeps._jobs import tasks
from sparkdeps._jobs.private_venv import request_argv

REPO = Path(__file__).resolve().parents[2]
BUILD_EXTRA = ["packaging", "build", "pyproject-hooks", "pip", "setuptools", "wheel", "uv"]
if sys.version_info < (3, 11):  # the build extra's tomli (and build's) below 3.11
    BUILD_EXTRA.append("tomli")
DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted((d.metadata['Name'], d.version) for d in m.distributions())))"
)


class _Stop(BaseException):
    """Raised where the request arrived: nothing is built."""


def test_the_venv_gets_the_whole_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process-deps option (all build options included) reaches the command run in
    the venv; only the bootstrap's own two stay behind."""
    seen: list[tasks.ProcessDepsRequest] = []

    def arrived(request: tasks.ProcessDepsRequest) -> None:
        seen.append(request)
        raise _Stop

    monkeypatch.setattr(tasks, "run_process_deps", arrived)
    argv = ["process-deps", "--source=/in/r.txt", "--base=/out", "--job-run-id=71"]
    argv += ["--per-job-run", "--task-value-key=k", "--requirements-at=/Volumes/r.txt"]
    argv += ["--private-venv", "--build-requirement=sparkdeps[build]==9"]
    for command in ([*argv, *ON_A_COMMAND_LINE.to_args()], None):
        with pytest.raises(_Stop):
            main(command or ["process-deps", *request_argv(seen[0])])
    first, again = seen
    assert first.private_venv and first.options == ON_A_COMMAND_LINE
    assert again == dataclasses.replace(first, private_venv=False, build_requirement=None)


def _run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [os.fspath(part) for part in command],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return completed.stdout


@pytest.fixture(scope="module")
def tools_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """sparkdeps (this tree) and its build extra, as wheels served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("private-venv-index")
    for name in BUILD_EXTRA:
        wheel_from_installed(name, folder)
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        folder,
        REPO,
    )
    with IndexServer(folder) as server:
        yield server


@pytest.fixture(scope="module")
def cluster_python(tmp_path_factory: pytest.TempPathFactory, tools_index: IndexServer) -> Path:
    """A cluster's interpreter: plain sparkdeps (and packaging), no build extra."""
    venv = tmp_path_factory.mktemp("cluster") / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--index-url", tools_index.url, "sparkdeps")
    assert "uv" not in _run(python, "-m", "pip", "list")
    return python


@pytest.mark.slow
def test_process_deps_builds_in_a_private_venv(
    cluster_python: Path, tools_index: IndexServer, tmp_path: Path
) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("packaging==26.4\n")
    env = {
        **os.environ,
        "SPARKDEPS_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("PYTHONPATH", None)
    before = _run(cluster_python, "-c", DISTRIBUTIONS, env=env)
    command = [cluster_python, "-m", "sparkdeps", "process-deps", f"--source={source}"]
    command += [f"--base={tmp_path / 'base'}", "--private-venv", "--json"]
    command += [f"--index-url={tools_index.url}"]
    first = _run(*command, env=env)
    after = _run(cluster_python, "-c", DISTRIBUTIONS, env=env)
    assert json.loads(after) == json.loads(before)  # nothing installed where the task started

    details = json.loads("\n".join(first.strip().splitlines()[:-1]))
    wheelhouse = first.strip().splitlines()[-1]
    assert Path(wheelhouse.split("#")[0]).is_file()
    assert any(name.startswith("packaging-26.4") for name in details["wheels"])
    venv_root = Path(details["private_venv"]["root"])
    [made] = (tmp_path / "cache" / "build-venv").iterdir()  # no staging folder left behind
    assert made == venv_root and made.name.startswith(f"{sparkdeps.__version__}-py")
    tools = _run(venv_root / "bin" / "python", "-c", DISTRIBUTIONS)
    names = {name.lower() for name, _ in json.loads(tools)}
    assert {"sparkdeps", "uv", "build", "setuptools"} <= names

    second = json.loads("\n".join(_run(*command, env=env).strip().splitlines()[:-1]))
    assert second["private_venv"]["root"] == str(venv_root)  # reused, not made again
    assert [p.name for p in (tmp_path / "cache" / "build-venv").iterdir()] == [made.name]


@pytest.mark.slow
def test_process_deps_names_a_failed_bootstrap(
    cluster_python: Path, tools_index: IndexServer, tmp_path: Path
) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("packaging==26.4\n")
    env = {**os.environ, "SPARKDEPS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [
            cluster_python,
            "-m",
            "sparkdeps",
            "process-deps",
            f"--source={source}",
            f"--base={tmp_path / 'base'}",
            "--private-venv",
            f"--index-url={tools_index.url}",
            "--build-requirement=sparkdeps-no-such-tool==1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert completed.returncode != 0
    assert "sparkdeps-no-such-tool" in completed.stderr
    assert list((tmp_path / "cache" / "build-venv").iterdir()) == []  # nothing half made
