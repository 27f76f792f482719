"""Find a local CPython of a given minor version; never download one.

Looked for in order: the interpreter the caller names, ``pythonX.Y`` on PATH,
pyenv (``pyenv prefix``, then ``pyenv versions``), and uv-managed installs
(``uv python find``, which only looks). docs/facts.md, fact 9: such interpreters
are on the development machines, not promised elsewhere.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .._core.errors import TargetError
from .._core.runner import clean_env, uv_command

__all__ = ["InterpreterNotFoundError", "find_interpreter", "python_minor"]

logger = logging.getLogger(__name__)


class InterpreterNotFoundError(TargetError):
    """No local Python of the wanted minor version."""


def python_minor(python: str | os.PathLike[str]) -> str | None:
    """``"3.10"`` for the interpreter at ``python``; None when it does not run."""
    try:
        completed = subprocess.run(
            [os.fspath(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _quiet(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _pyenv_candidates(version: str) -> Iterator[Path]:
    if shutil.which("pyenv") is None:
        return
    prefix = _quiet(["pyenv", "prefix", version])
    if prefix:
        yield Path(prefix.splitlines()[0]) / "bin" / f"python{version}"
    names = _quiet(["pyenv", "versions", "--bare"]).split()
    matching = sorted((v for v in names if v.startswith(version + ".")), reverse=True)
    for name in matching:
        prefix = _quiet(["pyenv", "prefix", name])
        if prefix:
            yield Path(prefix.splitlines()[0]) / "bin" / f"python{version}"


def _uv_candidates(version: str) -> Iterator[Path]:
    try:
        uv = uv_command()
    except Exception:
        return
    try:
        completed = subprocess.run(
            [*uv, "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    if completed.returncode == 0 and completed.stdout.strip():
        yield Path(completed.stdout.strip().splitlines()[0])


def _candidates(version: str) -> Iterator[Path]:
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield Path(on_path)
    yield from _pyenv_candidates(version)
    yield from _uv_candidates(version)


def find_interpreter(version: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """A local CPython ``version`` (``"3.10"``); ``explicit`` must be one if given."""
    if explicit is not None:
        found = python_minor(explicit)
        if found != version:
            raise InterpreterNotFoundError(
                f"--python {os.fspath(explicit)} is Python {found or '(does not run)'}, "
                f"the runtime needs {version}",
                fix=f"pass a Python {version} interpreter",
            )
        return Path(explicit).absolute()
    for candidate in _candidates(version):
        if candidate.exists() and python_minor(candidate) == version:
            logger.info("using Python %s at %s", version, candidate)
            return candidate
    raise InterpreterNotFoundError(
        f"no Python {version} found (looked on PATH for python{version}, in pyenv and in "
        "uv-managed installs); sparkdeps never downloads interpreters",
        fix=f"install one (`pyenv install {version}` or `uv python install {version}`) or "
        f"pass --python /path/to/python{version}",
    )
