"""``process-deps --private-venv``: the build tools in a venv of their own, at task start.

On a job cluster every task library is installed cluster-wide, and ``sparkdeps[build]``
upgrades packaging, pip and setuptools: the packages under the user's code would
change. So ``three_task_job`` runs ``process_deps`` on the user's cluster with plain
``sparkdeps`` (one cluster start per run), and the processor puts its build extra
into a private venv: ``python -m venv`` from this interpreter (a venv made from a venv
is based on the base interpreter and sees none of the cluster's packages), ``pip
install 'sparkdeps[build]==<this version>'`` into it, then runs the same command
there. Nothing is installed into the interpreter the task started in.

The venv sits in a node cache (``SPARKDEPS_CACHE_DIR``, else ``~/.cache/sparkdeps``)
under a folder named after the sparkdeps version, the Python and a digest of the
requirement and index options: a second run on the same node reuses it. It is made
under a temporary name and renamed when complete, so a failed or concurrent set-up
never leaves a half venv behind under the final name (console scripts' shebangs then
name the temporary path: the venv is only ever run as ``python -m``).

What this interpreter has is read here, before switching: with ``--target auto`` on
Databricks the set the build runs against is this compute's (``_jobs/running.py``),
not the private venv's. The task value is set here too: dbutils is not in the venv.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.databricks import set_task_value
from .._core.errors import CommandError, InputError
from .._core.paths import cache_root
from .._core.runner import clean_env, run
from .._core.timing import Timer
from .._version import __version__

if TYPE_CHECKING:
    from .._core.options import BuildOptions
    from .tasks import ProcessDepsRequest

__all__ = ["IN_PRIVATE_VENV_ENV", "PrivateVenv", "ensure_private_venv", "request_argv"]

logger = logging.getLogger(__name__)

IN_PRIVATE_VENV_ENV = "SPARKDEPS_IN_PRIVATE_VENV"
"""Set for the command re-run inside the venv, so it builds instead of bootstrapping."""

_COMPLETE = ".sparkdeps-complete"


def default_build_requirement() -> str:
    """``sparkdeps[build]`` at exactly the version running here."""
    return f"sparkdeps[build]=={__version__}"


@dataclass(frozen=True)
class PrivateVenv:
    """A venv with the build extra; ``seconds`` is what this call spent making it."""

    root: Path
    python: Path
    reused: bool
    seconds: float


def venv_folder(requirement: str, pip_options: list[str], cache_dir: Path | None = None) -> Path:
    """Where the venv for this requirement and these index options lives on this node."""
    key = json.dumps([sys.version, sys.executable, requirement, pip_options])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return cache_root(cache_dir) / "build-venv" / f"{__version__}-{tag}-{digest}"


def ensure_private_venv(
    requirement: str, pip_options: list[str], cache_dir: Path | None = None
) -> PrivateVenv:
    """The venv for ``requirement``: reused when complete, else made now."""
    timer = Timer()
    folder = venv_folder(requirement, pip_options, cache_dir)
    python = folder / "bin" / "python"
    if (folder / _COMPLETE).is_file() and python.exists():
        logger.info("build tools: reusing the private venv %s", folder)
        return PrivateVenv(folder, python, reused=True, seconds=timer.seconds)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
    try:
        env = clean_env()
        run([sys.executable, "-m", "venv", staging], what="creating the build tools' venv", env=env)
        command: list[str | os.PathLike[str]] = [staging / "bin" / "python", "-m", "pip"]
        command.append("install")
        command += ["--disable-pip-version-check", "--no-input", *pip_options, requirement]
        run(command, what=f"installing {requirement} into the build tools' venv", env=env)
        (staging / _COMPLETE).write_text(requirement + "\n", encoding="utf-8")
        try:
            staging.rename(folder)
        except OSError:  # another task on this node finished first: use its venv
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    seconds = timer.seconds
    logger.info("build tools: private venv %s ready in %.1f s", folder, seconds)
    return PrivateVenv(folder, folder / "bin" / "python", reused=False, seconds=seconds)


def pip_options_of(options: BuildOptions) -> list[str]:
    """The build's index options, for installing the build tools from the same place."""
    index_url = options.index_url or os.environ.get("SPARKDEPS_INDEX_URL")
    pip = [f"--index-url={index_url}"] if index_url else []
    pip += [f"--extra-index-url={url}" for url in options.extra_index_urls]
    pip += [f"--find-links={link}" for link in options.find_links]
    return [*pip, "--no-index"] if options.no_index else pip


def request_argv(request: ProcessDepsRequest) -> list[str]:
    """The ``process-deps`` options that make ``request`` again (bootstrap options left out)."""
    argv = [f"--source={request.source}", f"--task-value-key={request.task_value_key}"]
    optional = {
        "--base": request.base,
        "--job-run-id": request.job_run_id,
        "--requirements-at": request.requirements_at,
    }
    argv += [f"{flag}={value}" for flag, value in optional.items() if value is not None]
    argv += ["--per-job-run"] if request.per_job_run else []
    return [*argv, *request.options.to_args()]


def run_in_private_venv(request: ProcessDepsRequest, venv: PrivateVenv) -> dict[str, Any]:
    """Run ``process-deps`` for ``request`` in ``venv``; its ``--json`` result.

    Logs go to this task's stderr as they come; a failure raises with the output.
    """
    command = [os.fspath(venv.python), "-m", "sparkdeps", "process-deps"]
    command += [*request_argv(request), "--json"]
    env = clean_env({IN_PRIVATE_VENV_ENV: "1"})  # no PYTHONPATH: nothing of the cluster's
    completed = subprocess.run(  # stderr streams: the build log shows in the task output
        command, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    if completed.returncode != 0:
        raise CommandError(
            "process-deps in the build tools' venv",
            command,
            completed.returncode,
            completed.stdout,
            hint="its log is above, in this task's output",
        )
    lines = completed.stdout.strip().splitlines()
    try:
        details: dict[str, Any] = json.loads("\n".join(lines[:-1]))
    except (json.JSONDecodeError, IndexError) as exc:
        raise InputError(f"process-deps in {venv.root} printed no result: {lines[-3:]}") from exc
    details["uri"] = lines[-1].strip()
    details["private_venv"] = {"root": str(venv.root), "seconds": round(venv.seconds, 3)}
    set_task_value(request.task_value_key, details["uri"])
    return details
