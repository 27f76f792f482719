"""The runtime-twin tests' wheels: fetched once by scripts/twin_wheels.py, served on 127.0.0.1.

The twin of dbr-14.3 needs pyspark 3.5.0, numpy 1.23.5, pandas 1.5.3 and pyarrow 8.0.0
for CPython 3.10 (dbr-17.3: pyspark 4.0.0 and its set for 3.12). The setup step in
README's test command downloads them from PyPI; the tests only read the folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sparkdeps._core.runner import clean_env, run, uv_command
from sparkdeps.testing._interpreters import InterpreterNotFoundError, find_interpreter
from sparkdeps.testing.twin import twin_spec

if TYPE_CHECKING:
    from tests.support.index import IndexServer

REPO = Path(__file__).resolve().parents[2]


def twin_wheels_dir() -> Path:
    chosen = os.environ.get("SPARKDEPS_TEST_WHEELS")
    return Path(chosen) if chosen else Path.home() / ".cache" / "sparkdeps-test-wheels"


def require_twin_wheels(profile: str) -> Path:
    """The folder, or skip (fail on CI, where the setup step must have run) saying why."""
    folder = twin_wheels_dir()
    if not (folder / f".{profile}.done").is_file():
        message = (
            f"the {profile} twin wheels are not in {folder}: run "
            f"`python scripts/twin_wheels.py` first (README's test command does)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


def require_python(profile: str) -> Path:
    """A local interpreter of the profile's Python, or skip saying why."""
    version = twin_spec(profile).python_version
    try:
        return find_interpreter(version)
    except InterpreterNotFoundError as exc:
        pytest.skip(f"no Python {version} on this machine for the {profile} twin: {exc}")


def link_folder(source: Path, dest: Path) -> None:
    """Symlink every file of ``source`` into ``dest`` (first one of a name wins)."""
    dest.mkdir(parents=True, exist_ok=True)
    for file in sorted(source.iterdir()):
        target = dest / file.name
        if file.is_file() and not file.name.startswith(".") and not target.exists():
            target.symlink_to(file.absolute())


def tools_for_twin(twin: Path, index: IndexServer, folder: Path) -> Path:
    """pytest for the twin's Python, kept outside the twin (the twin stays the runtime's)."""
    if not folder.exists():
        run(
            [
                *uv_command(),
                "pip",
                "install",
                "--target",
                folder,
                "--python",
                twin / "bin" / "python",
                "--index-url",
                index.url,
                "pytest",
                "packaging",
            ],
            what="installing pytest for the twin",
            env=clean_env(),
        )
        (folder / "sparkdeps").symlink_to(REPO / "src" / "sparkdeps")
    return folder


def env_for_twin(tools: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a process on the twin: pytest from ``tools``, nothing of ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "PYSPARK_", "SPARK_", "PYTEST_"))
        and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    # uv (a twin's creation needs it) on PATH: the test venv's, alone in a folder so no
    # other program of the test venv (its python) comes with it
    uv_dir = tmp / "uv-bin"
    if not uv_dir.exists():
        uv_dir.mkdir()
        (uv_dir / "uv").symlink_to(uv_command()[0])
    env.update(
        PATH=str(uv_dir) + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=str(tools),
        PYTHONNOUSERSITE="1",
        SPARK_LOCAL_IP="127.0.0.1",
        SPARKDEPS_CACHE_DIR=str(tmp / "cache"),
        **extra,
    )
    return env


def pytest_on_twin(
    twin: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """pytest on the twin's interpreter with sparkdeps' plugin, in ``cwd`` (ten minutes)."""
    return subprocess.run(
        [
            str(twin / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "sparkdeps.testing.pytest_plugin",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
