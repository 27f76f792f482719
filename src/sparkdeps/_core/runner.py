"""The one way sparkdeps runs pip, uv and build backends.

Subprocesses get a clean environment (no ``PIP_*``/``UV_*`` from the caller,
so the index settings passed to sparkdeps are the only ones in force and the
build cache key means what it says), a timeout, and on failure a
:class:`CommandError` that keeps the redacted command, exit code and output.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence

from .errors import CommandError
from .redaction import redact
from .timing import Timer

__all__ = ["clean_env", "pip_command", "redact", "run", "uv_command"]

logger = logging.getLogger(__name__)

_OUTPUT_TAIL_LINES = 40


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus pip/uv settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_")) and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUTF8"] = "1"
    env["UV_NO_PROGRESS"] = "1"
    # uv otherwise downloads a CPython build for --python-version from the internet
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if extra:
        env.update(extra)
    return env


def pip_command(python: str | None = None) -> list[str]:
    """``python -m pip --isolated``: ignores pip config files and ``PIP_*``."""
    return [python or sys.executable, "-m", "pip", "--isolated"]


def uv_command() -> list[str]:
    """The uv binary from the ``uv`` package (``sparkdeps[build]``), else from PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        binary = str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise CommandError(
                "finding uv",
                ["uv"],
                127,
                "",
                hint="uv is needed to resolve for a target",
                fix="pip install 'sparkdeps[build]'",
            ) from None
        binary = found
    return [binary]


def _tail(text: str, lines: int = _OUTPUT_TAIL_LINES) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 1800,
    error: type[CommandError] = CommandError,
    hint: str | None = None,
    fix: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; raise ``error`` (a CommandError) if it fails or times out.

    Output is captured (stdout and stderr merged into ``stdout`` for the error
    message, kept apart in the returned object) and logged at DEBUG. With
    ``on_line``, stdout and stderr are merged and each line goes to ``on_line``
    as it comes (progress of a long download). ``hint`` (where to look) and ``fix``
    (what to do) go into the error.
    """
    argv = [os.fspath(part) for part in command]
    shown = [redact(part) for part in argv]
    logger.debug("running %s: %s", what, " ".join(shown))
    timer = Timer()

    def fail(code: int | None, output: str) -> CommandError:
        return error(what, shown, code, output, hint=hint, fix=fix)

    full_env = dict(env) if env is not None else clean_env()
    if on_line is not None:
        completed = _streamed(
            argv, cwd=cwd, env=full_env, timeout=timeout, on_line=on_line, fail=fail
        )
    else:
        completed = _captured(argv, cwd=cwd, env=full_env, timeout=timeout, fail=fail)
    logger.debug("%s finished in %.2fs with code %d", what, timer.stop(), completed.returncode)
    if completed.returncode != 0:
        output = (completed.stdout or "") + (completed.stderr or "")
        raise error(what, shown, completed.returncode, redact(_tail(output)), hint=hint, fix=fix)
    return completed


def _captured(
    argv: list[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: dict[str, str],
    timeout: float | None,
    fail: Callable[[int | None, str], CommandError],
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _output_text(exc.stdout) + _output_text(exc.stderr)
        raise fail(None, redact(_tail(output))) from exc
    except OSError as exc:
        raise fail(127, str(exc)) from exc


def _streamed(
    argv: list[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: dict[str, str],
    timeout: float | None,
    on_line: Callable[[str], None],
    fail: Callable[[int | None, str], CommandError],
) -> subprocess.CompletedProcess[str]:
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise fail(127, str(exc)) from exc
    lines: list[str] = []

    def pump() -> None:  # a thread, so the timeout holds even when no line comes
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            try:
                on_line(line.rstrip("\n"))
            except Exception:  # progress display only: never break the command
                logger.debug("on_line failed", exc_info=True)

    reader = threading.Thread(target=pump, name="sparkdeps-output", daemon=True)
    reader.start()
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.wait()
        reader.join(5)
        raise fail(None, redact(_tail("".join(lines)))) from exc
    reader.join()
    return subprocess.CompletedProcess(argv, returncode, "".join(lines), "")


def _output_text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
