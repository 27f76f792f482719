"""``sparkdeps twin``: a local venv that looks like a Databricks runtime to Python code.

The twin's packages come from the index on 127.0.0.1 (tests/support/twins.py);
Python 3.10 comes from this machine (docs/facts.md, fact 9), or the tests that
need it skip saying why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.index import IndexServer

from sparkdeps._cli import main
from sparkdeps._core.errors import InputError, TargetError
from sparkdeps.testing._interpreters import InterpreterNotFoundError, find_interpreter
from sparkdeps.testing.twin import NotInstalled, _install_each, read_twin, twin_home, twin_spec

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.mark.parametrize(
    ("profile", "python", "pyspark", "pins"),
    [
        ("dbr-14.3", "3.10", "3.5.0", {"numpy": "1.23.5", "pandas": "1.5.3", "pyarrow": "8.0.0"}),
        ("dbr-17.3", "3.12", "4.0.0", {"numpy": "2.1.3", "pandas": "2.2.3", "pyarrow": "19.0.1"}),
    ],
    ids=["dbr-14.3", "dbr-17.3"],
)
def test_spec_follows_the_runtime(
    profile: str, python: str, pyspark: str, pins: dict[str, str]
) -> None:
    spec = twin_spec(profile)
    assert (spec.python_version, spec.pyspark_version) == (python, pyspark)
    for name, version in pins.items():
        assert spec.core[name] == version
    assert "grpcio" in spec.core and "requests" not in spec.core, "core is pyspark's and PROTECTED"
    assert not spec.rest
    every = twin_spec(profile, "all")
    assert every.rest["requests"] and "numpy" not in every.rest
    assert every.digest != spec.digest


def test_serverless_needs_a_pyspark_version() -> None:
    with pytest.raises(TargetError, match=r"--pyspark 4\.0\.0 for v4"):
        twin_spec("serverless-v4")
    spec = twin_spec("serverless-v4", pyspark="4.0.0")
    assert (spec.python_version, spec.pyspark_version) == ("3.12", "4.0.0")
    assert spec.digest != twin_spec("serverless-v4", pyspark="4.0.1").digest


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(TargetError, match=r"known: .*dbr-14\.3"):
        twin_spec("dbr-99.9")


def test_an_interpreter_of_another_version_is_refused() -> None:
    other = "3.12" if HERE != "3.12" else "3.10"
    with pytest.raises(InterpreterNotFoundError, match=f"the runtime needs {other}"):
        find_interpreter(other, sys.executable)


def test_a_missing_interpreter_says_how_to_get_one() -> None:
    with pytest.raises(InterpreterNotFoundError) as caught:
        find_interpreter("3.99")
    message = str(caught.value)
    assert "pyenv install 3.99" in message and "--python" in message
    assert "never downloads" in message


def test_cli_refuses_a_folder_that_is_not_a_twin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine\n")
    assert main(["twin", "dbr-14.3", str(keep.parent)]) == 1
    assert "is not a sparkdeps twin" in capsys.readouterr().err
    assert keep.read_text() == "mine\n", "nothing of the user's is touched"
    with pytest.raises(InputError):
        from sparkdeps.testing.twin import create_twin

        create_twin("dbr-14.3", keep.parent)


@pytest.mark.network
@pytest.mark.slow
def test_cli_creates_a_twin(twin143: Path) -> None:
    out = twin143.with_suffix(".out").read_text().splitlines()
    assert out[0].startswith("created twin of dbr-14.3: Python 3.10, pyspark 3.5.0"), out
    assert out[-1] == str(twin143 / "bin" / "python")


@pytest.mark.network
@pytest.mark.slow
def test_twin_has_the_runtimes_python_pyspark_and_packages(twin143: Path) -> None:
    code = (
        "import json, sys, numpy, pandas, pyarrow, pyspark; print(json.dumps(["
        "'%d.%d' % sys.version_info[:2], pyspark.__version__, numpy.__version__, "
        "pandas.__version__, pyarrow.__version__]))"
    )
    completed = subprocess.run(
        [str(twin143 / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == ["3.10", "3.5.0", "1.23.5", "1.5.3", "8.0.0"]
    twin = read_twin(twin143)
    assert twin is not None and twin.not_installed == ()
    assert twin.installed["py4j"] == "0.10.9.7" and twin.installed["grpcio"] == "1.48.2"
    assert "requests" not in twin.installed, "core holds nothing beyond pyspark's and PROTECTED"


@pytest.mark.network
@pytest.mark.slow
def test_second_call_reuses_the_twin_without_the_index(
    twin143: Path, twin_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    twin_index.reset_counts()
    assert main(["twin", "dbr-14.3", str(twin143), "--index-url", twin_index.url, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["reused"] is True and payload["pyspark"] == "3.5.0"
    assert twin_index.requests == [], "a current twin needs nothing from the index"


@pytest.mark.network
@pytest.mark.slow
def test_what_cannot_be_installed_is_reported(
    twin143: Path, twin_index: IndexServer, tmp_path: Path
) -> None:
    scratch = tmp_path / "venv"  # not the shared twin: the Spark tests use that one
    subprocess.run(
        [str(twin143 / "bin" / "python"), "-m", "venv", "--without-pip", str(scratch)], check=True
    )
    skipped = _install_each(
        scratch / "bin" / "python",
        {"sdtest-gamma": "1.0", "sdtest-absent": "9.9", "six": "1.16.0"},
        ["--index-url", twin_index.url, "--no-build", "--no-deps"],
    )
    assert [item.name for item in skipped] == ["sdtest-absent"]
    assert isinstance(skipped[0], NotInstalled) and skipped[0].version == "9.9"
    assert "sdtest-absent" in skipped[0].reason
    check = subprocess.run(
        [str(scratch / "bin" / "python"), "-c", "import sdtest_gamma"],
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, "the installable pins are installed"


def test_plugin_refuses_a_runtime_of_another_python(tmp_path: Path) -> None:
    from sparkdeps.testing.pytest_plugin import SparkManager

    profile = "dbr-17.3" if HERE != "3.12" else "dbr-14.3"
    manager = SparkManager(tmp_path, runtime=profile)
    with pytest.raises(TargetError, match="run pytest with Python") as caught:
        _ = manager.python
    assert f"sparkdeps twin {profile} DIR" in str(caught.value)
    assert not (tmp_path / "clean-venv").exists()


def test_plugin_refuses_a_driver_with_another_pyspark_at_session_start(tmp_path: Path) -> None:
    """issue 21: pyspark 4.2's driver against a twin's 3.5.0 executors failed in 8 of 12
    tests (``RecordBatch has no itercolumns``); now the run stops before any test."""
    import importlib.metadata

    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    driver = importlib.metadata.version("pyspark")
    profile = next(
        (p for p in ("dbr-14.3", "dbr-15.4", "dbr-16.4", "dbr-17.3")
         if twin_spec(p).python_version == here and twin_spec(p).pyspark_version != driver),
        None,
    )  # fmt: skip
    if profile is None:  # e.g. Python 3.13: no Databricks runtime runs it (yet)
        pytest.skip(
            f"no runtime profile runs Python {here} with another pyspark than {driver}: the "
            "plugin refuses another Python first (test_plugin_refuses_a_runtime_of_another_python)"
        )
    wanted = twin_spec(profile).pyspark_version
    (tmp_path / "test_never.py").write_text("def test_never():\n    raise AssertionError\n")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_never.py",
         "--sparkdeps-runtime", profile],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    said = completed.stdout + completed.stderr
    assert completed.returncode == pytest.ExitCode.USAGE_ERROR, said
    assert f"runs executors on pyspark {wanted}" in said and f"pyspark {driver}" in said
    assert f"pip install 'pyspark=={wanted}'" in said and f"sparkdeps twin {profile} DIR" in said
    assert "test_never" not in completed.stdout, "stopped before any test ran"
    assert "Traceback" not in said


INNER = """
import subprocess, sys

def test_executors_run_the_runtime_twin(sparkdeps_spark_manager):
    python = sparkdeps_spark_manager.python
    assert python != sys.executable
    code = "import numpy, pyspark; print(numpy.__version__, pyspark.__version__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    print("EXECUTOR", python, out.stdout.strip())
"""


@pytest.mark.network
@pytest.mark.slow
def test_plugin_runs_executors_on_the_runtime_twin(
    twin143: Path, twin_index: IndexServer, tmp_path: Path
) -> None:
    from tests.support.twins import env_for_twin, pytest_on_twin, tools_for_twin

    tools = tools_for_twin(twin143, twin_index, tmp_path / "tools")
    (tmp_path / "test_inner.py").write_text(INNER)
    # The plugin keeps its twin in the sparkdeps cache; the session's dbr-14.3 twin is the
    # same twin (same digest), so the plugin finds it there instead of building another.
    home = twin_home("dbr-14.3")
    cached = tmp_path / "cache" / "twins" / home.name
    cached.parent.mkdir(parents=True)
    cached.symlink_to(twin143)
    env = env_for_twin(tools, tmp_path)
    completed = pytest_on_twin(
        twin143,
        tmp_path,
        env,
        "-s",
        "test_inner.py",
        "--sparkdeps-runtime",
        "dbr-14.3",
        "--sparkdeps-index-url",
        twin_index.url,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    line = next(x for x in completed.stdout.splitlines() if x.startswith("EXECUTOR"))
    _, python, numpy, pyspark = line.split()
    assert python == str(cached / "bin" / "python"), python
    assert (numpy, pyspark) == ("1.23.5", "3.5.0")
    # The ini option is read too: dbr-17.3 (Python 3.12) is refused under this 3.10 pytest.
    (tmp_path / "pytest.ini").write_text("[pytest]\nsparkdeps_runtime = dbr-17.3\n")
    completed = pytest_on_twin(twin143, tmp_path, env, "test_inner.py")
    assert completed.returncode != 0
    # refused at session start, as a usage error (pytest prints those on stderr)
    said = completed.stdout + completed.stderr
    assert "--sparkdeps-runtime dbr-17.3 runs executors on Python 3.12" in said
