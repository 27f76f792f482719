"""``sparkdeps build`` and ``sparkdeps inspect`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.index import IndexServer

pytestmark = pytest.mark.network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    done = subprocess.run(
        [sys.executable, "-m", "sparkdeps", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_build_prints_uri_last_then_inspect(tmp_path: Path, index: IndexServer) -> None:
    dest = tmp_path / "dest"
    done = _cli(
        "build",
        str(FIXTURES / "requirements" / "requirements.txt"),
        "--dest",
        str(dest),
        "--index-url",
        index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--python-version",
        "3.10",
        "--platform",
        "x86_64",
    )
    uri = done.stdout.strip().splitlines()[-1]
    assert uri.startswith(str(dest)) and uri.endswith("/wheelhouse.zip")
    assert Path(uri).is_file()
    assert "timings:" in done.stderr and "resolve" in done.stderr
    shown = _cli("inspect", uri).stdout
    assert "format:    requirements" in shown
    assert "sdtest-oldpy 1.0" in shown  # 3.10 keeps the marker-conditional dependency
    manifest = json.loads(_cli("inspect", str(Path(uri).parent), "--json").stdout)
    assert manifest["format"] == "requirements"
    assert manifest["target"]["python_version"] == "3.10"
    assert {w["name"] for w in manifest["wheels"]} >= {"sdtest-alpha", "sdtest-oldpy"}


def test_build_json(tmp_path: Path, index: IndexServer) -> None:
    done = _cli(
        "-q",
        "build",
        str(FIXTURES / "pure_python"),
        "--dest",
        str(tmp_path / "d"),
        "--index-url",
        index.url,
        "--json",
        "--run-id",
        "cli-run",
        "--target",
        "dbr-15.4",
        "--name",
        "cli-helpers",
    )
    result = json.loads(done.stdout)
    assert result["run_id"] == "cli-run"
    assert result["format"] == "pure_python"
    assert result["python_version"] == "3.11"
    assert result["platforms"][0] == "manylinux_2_35_x86_64"
    assert result["uri"] == str(tmp_path / "d" / "cli-run" / "wheelhouse.zip")
    (wheel,) = result["wheels"]
    assert wheel.startswith("cli_helpers-0.0.0+") and wheel.endswith("-py3-none-any.whl")
    assert done.stderr == ""  # -q: no progress


def test_build_error_exit_code_and_message(tmp_path: Path, index: IndexServer) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli(
        "build", str(empty), "--dest", str(tmp_path / "d"), "--index-url", index.url, check=False
    )
    assert done.returncode == 1
    assert "sparkdeps: error:" in done.stderr and "empty" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "d").exists()


def test_credentials_stay_out_of_cli_output(tmp_path: Path, package_dir: Path) -> None:
    with IndexServer(package_dir, username="alice", password="pa55-w0rd") as server:
        req = tmp_path / "requirements.txt"
        argv = ["-v", "build", str(req), "--dest", str(tmp_path / "d"), "--index-url", server.url]
        req.write_text("sdtest-gamma\n")
        done = _cli(*argv, "--json")
        assert "pa55-w0rd" not in done.stdout + done.stderr
        assert "***@127.0.0.1" in done.stderr  # -v shows the commands, redacted
        req.write_text("sdtest-not-there\n")
        failed = _cli(*argv, check=False)
        assert failed.returncode == 1
        assert "pa55-w0rd" not in failed.stdout + failed.stderr


def test_console_script_and_help() -> None:
    script = Path(sys.executable).with_name("sparkdeps")
    if not script.exists():
        pytest.fail(f"console script {script} missing: pip install -e . did not run")
    done = subprocess.run(
        [str(script), "build", "--help"], capture_output=True, text=True, check=True
    )
    for flag in (
        "--dest",
        "--target",
        "--python",
        "--platform",
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "--no-index",
        "--json",
    ):
        assert flag in done.stdout


def test_inspect_missing(tmp_path: Path) -> None:
    done = _cli("inspect", str(tmp_path / "nothing" / "wheelhouse.zip"), check=False)
    assert done.returncode == 1
    assert "no wheelhouse there" in done.stderr
