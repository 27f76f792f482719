"""``_core/runner``: real subprocesses, a clean environment, and failures that keep the
redacted command, the exit code and the last lines of output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparkdeps._core.errors import CommandError, ResolveCommandError
from sparkdeps._core.runner import clean_env, pip_command, run


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_clean_env_drops_pip_and_uv_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://elsewhere/simple")
    monkeypatch.setenv("UV_INDEX_URL", "https://elsewhere/simple")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setenv("SDCORE_KEPT", "1")
    env = clean_env({"EXTRA": "2"})
    assert "PIP_INDEX_URL" not in env and "UV_INDEX_URL" not in env and "PYTHONPATH" not in env
    assert env["SDCORE_KEPT"] == "1" and env["EXTRA"] == "2"
    assert env["UV_PYTHON_DOWNLOADS"] == "never" and env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"


def test_pip_command_is_isolated() -> None:
    assert pip_command("/py") == ["/py", "-m", "pip", "--isolated"]


def test_run_returns_output_and_uses_the_clean_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_SDCORE", "leaked")
    done = run(
        _python("import os; print(os.getcwd()); print(os.environ.get('PIP_SDCORE'))"),
        what="probing",
        cwd=tmp_path,
    )
    assert done.stdout.splitlines() == [str(tmp_path), "None"]


def test_a_failure_keeps_command_code_and_last_lines() -> None:
    code = "import sys\nfor i in range(100): print(f'line {i}')\nsys.exit(3)"
    with pytest.raises(ResolveCommandError) as caught:
        run(
            [*_python(code), "--index-url=https://u:hunter2@idx/simple"],
            what="resolving",
            error=ResolveCommandError,
            hint="try again",
        )
    error = caught.value
    assert error.returncode == 3 and error.what == "resolving"
    assert "hunter2" not in " ".join(error.command) and "***@idx" in error.command[-1]
    assert error.output.splitlines()[-1] == "line 99"
    assert "line 59" not in error.output  # only the last 40 lines
    assert str(error).endswith("try again")


def test_a_timeout_is_a_command_error_without_code() -> None:
    with pytest.raises(CommandError, match="timed out") as caught:
        run(
            _python("import time; print('started', flush=True); time.sleep(30)"),
            what="waiting",
            timeout=1,
        )
    assert caught.value.returncode is None


def test_a_missing_program_is_exit_127() -> None:
    with pytest.raises(CommandError) as caught:
        run(["/nonexistent/sdcore-tool"], what="running the tool")
    assert caught.value.returncode == 127


def test_streamed_lines_arrive_in_order_and_a_bad_listener_is_ignored() -> None:
    seen: list[str] = []

    def listen(line: str) -> None:
        seen.append(line)
        if line == "b":
            raise RuntimeError("display broke")

    done = run(
        _python("import sys; print('a'); print('b', file=sys.stderr, flush=True); print('c')"),
        what="streaming",
        on_line=listen,
    )
    assert sorted(seen) == ["a", "b", "c"] and done.returncode == 0
    assert set(done.stdout.split()) == {"a", "b", "c"}


def test_streamed_timeout_kills_the_process() -> None:
    with pytest.raises(CommandError, match="timed out") as caught:
        run(
            _python("import time; print('tick', flush=True); time.sleep(30)"),
            what="streaming",
            timeout=1,
            on_line=lambda _line: None,
        )
    assert "tick" in caught.value.output
