"""Databricks jobs: the entry points of the three-task job (process_deps, cleanup).

The shape (docs/how-to/job-cluster.md, docs/facts.md, fact 10)::

    process_deps  ->  the user's task(s)  ->  cleanup (run_if ALL_DONE)

``process_deps`` builds the wheelhouse under a run folder named after the job run
(``<base>/job-<job run id>/`` with ``--per-job-run``, the default of
``three_task_job``; else ``<base>/job-<job run id>-<uuid>/``), sets the task value
``wheelhouse_path`` where dbutils can, and prints the URI. Later tasks get the path
as ``--wheelhouse={{job.parameters.sparkdeps_base}}/job-{{job.run_id}}/wheelhouse.zip``:
``{{job.run_id}}`` resolves in every task type, while task values are documented
for notebooks only (docs/facts.md, fact 16). With ``path_via="task_value"`` they get
``--wheelhouse={{tasks.process_deps.values.wheelhouse_path}}`` instead.
``cleanup`` removes every run folder of this job run, found from the base and the
job run id alone, so it works even when ``process_deps`` failed before publishing
anything.

:func:`sparkdeps.three_task_job` (``_jobgraph``) returns that graph as a
``databricks.bundles.jobs.Job``, for a shared job cluster or for serverless.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._core.databricks import is_unresolved_reference, runtime_version, set_task_value
from .._core.errors import InputError
from .._core.hashing import sha256_file
from .._core.options import BuildOptions
from .._core.paths import (
    TASK_VALUE_KEY,
    WHEELHOUSE_NAME,
    pin_uri,
    run_folder_of,
    split_pin,
)
from .._core.pipform import REQUIREMENTS_NAME
from .._core.results import BuildResult, CleanupResult
from .._core.storage import join_uri, local_file, storage_for
from .._core.target import PROFILES, Target
from .._core.wheelhouse import read_manifest
from .._runtime.cleanup import cleanup, cleanup_older_than, read_run_marker
from .._runtime.inspect import requirement_lines
from .names import BASE_ENV, DEFAULT_BASE, RUN_PREFIX
from .private_venv import (
    IN_PRIVATE_VENV_ENV,
    default_build_requirement,
    ensure_private_venv,
    pip_options_of,
    run_in_private_venv,
)
from .running import running_set_text

__all__ = [
    "CleanupRequest",
    "ProcessDepsOutcome",
    "ProcessDepsRequest",
    "detect_target",
    "job_run_folder_name",
    "job_run_folders",
    "new_run_id",
    "run_cleanup",
    "run_process_deps",
]

logger = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


# ---------------------------------------------------------------- entry points


def _absent(value: str | None) -> bool:
    """No usable value: None, blank, or a reference the Jobs service did not fill in."""
    return value is None or value.strip() == "" or is_unresolved_reference(value)


def _usable(value: str | None) -> str | None:
    return None if _absent(value) else value


def new_run_id(job_run_id: str | None = None) -> str:
    """A run folder name no other run shares: the job run id (when known) plus a uuid.

    The uuid matters even with a job run id: a repaired run re-runs
    ``process_deps`` under the same job run id.
    """
    suffix = uuid.uuid4().hex[:12]
    if _absent(job_run_id):
        return f"run-{suffix}"
    assert job_run_id is not None
    if not _SAFE_ID.fullmatch(job_run_id):
        raise InputError(
            f"job run id {job_run_id!r} has characters a folder name cannot take",
            fix="pass --job-run-id {{job.run_id}}",
        )
    return f"{RUN_PREFIX}{job_run_id}-{suffix}"


def detect_target(explicit: str | None = None) -> str | None:
    """The runtime profile to build for; None means "this interpreter".

    ``auto`` (the default) maps ``DATABRICKS_RUNTIME_VERSION`` (``"14.3"``) to its
    profile (``dbr-14.3``); a runtime without a profile (serverless reports
    ``client.x``) or no runtime at all builds for the running interpreter, which
    on a cluster is the cluster's own Python.
    """
    if explicit not in (None, "", "auto"):
        return None if explicit == "host" else explicit
    version = runtime_version()
    if version is None:
        return None
    match = re.match(r"(\d+)\.(\d+)", version)
    if match:
        profile = f"dbr-{match.group(1)}.{match.group(2)}"
        if profile in PROFILES:
            logger.info("Databricks Runtime %s: building for profile %s", version, profile)
            return profile
    logger.info("Databricks Runtime %r has no profile: building for this interpreter", version)
    return None


def _default_base() -> str:
    return os.environ.get(BASE_ENV) or DEFAULT_BASE


@dataclass(frozen=True)
class ProcessDepsRequest:
    """What ``sparkdeps process-deps`` was asked (the command line is in ``_cli``)."""

    source: str
    base: str | None = None
    job_run_id: str | None = None
    per_job_run: bool = False
    task_value_key: str = TASK_VALUE_KEY
    options: BuildOptions = field(default_factory=lambda: BuildOptions(target="auto"))
    """The build options (``_core/options.py``); ``target="auto"``: what this compute has."""
    requirements_at: str | None = None
    """A fixed file rewritten with this run's wheel lines (``_jobs/serverless.py``)."""
    private_venv: bool = False
    """Install the build tools into a venv of their own first (``_jobs/private_venv.py``)."""
    build_requirement: str | None = None
    """With ``private_venv``: what that venv gets (default ``sparkdeps[build]==<version>``)."""


@dataclass(frozen=True)
class CleanupRequest:
    """What ``sparkdeps cleanup`` was asked (the command line is in ``_cli``)."""

    run_uri: tuple[str, ...] = ()
    wheelhouse: tuple[str, ...] = ()
    base: str | None = None
    job_run_id: str | None = None
    older_than: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ProcessDepsOutcome:
    uri: str
    result: BuildResult | None
    """None when a repaired run reused the wheelhouse of its first attempt, or the build
    ran in the private venv (its report is then ``details``)."""
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result.to_dict()
        return self.details or {"uri": self.uri, "reused": True}


def run_process_deps(args: ProcessDepsRequest) -> ProcessDepsOutcome:
    """Build into the run folder and set the task value (the CLI prints the URI)."""
    if args.private_venv and not os.environ.get(IN_PRIVATE_VENV_ENV):
        return _process_deps_privately(args)
    from .._build.publish import build  # noqa: PLC0415

    base = _usable(args.base) or _default_base()
    if args.per_job_run:
        job_run_id = _usable(args.job_run_id)
        if job_run_id is None:
            raise InputError("--per-job-run needs --job-run-id={{job.run_id}}")
        run_id = job_run_folder_name(job_run_id)
        uri = join_uri(base, run_id, WHEELHOUSE_NAME)
        if storage_for(base).exists(uri):
            # A repaired run: its first attempt built this already; reuse it once checked.
            pinned = _reusable(join_uri(base, run_id), uri, args.source)
            logger.info("%s exists (a repaired run): reusing it", uri)
            set_task_value(args.task_value_key, pinned)
            _point_requirements(args.requirements_at, join_uri(base, run_id))
            return ProcessDepsOutcome(pinned, None)
    else:
        run_id = new_run_id(args.job_run_id)
    index_url = args.options.index_url or os.environ.get("SPARKDEPS_INDEX_URL") or None
    with tempfile.TemporaryDirectory(prefix="sparkdeps-runtime-") as folder:
        target, runtime_packages = _target_and_set(args.options, Path(folder))
        options = replace(
            args.options, target=target, runtime_packages=runtime_packages, index_url=index_url
        )
        result = build(
            args.source,
            dest=base,
            run_id=run_id,
            task_value_key=args.task_value_key,
            **options.keywords(),
        )
    _point_requirements(args.requirements_at, result.run_uri)
    if not result.task_value_set:
        logger.info("no task value set (not in a Databricks job): the URI goes to stdout")
    return ProcessDepsOutcome(result.pinned_uri, result)


def _process_deps_privately(args: ProcessDepsRequest) -> ProcessDepsOutcome:
    """The build tools into a private venv, then the same request there: this
    interpreter's packages stay as they are (``_jobs/private_venv.py``)."""
    requirement = args.build_requirement or default_build_requirement()
    venv = ensure_private_venv(requirement, pip_options_of(args.options))
    with tempfile.TemporaryDirectory(prefix="sparkdeps-runtime-") as folder:
        # `auto` on Databricks: this compute's set, read here, not in the venv
        runtime_packages = _target_and_set(args.options, Path(folder))[1]
        if runtime_packages != args.options.runtime_packages:
            options = replace(args.options, target="host", runtime_packages=runtime_packages)
            args = replace(args, options=options)
        details = run_in_private_venv(args, venv)
    return ProcessDepsOutcome(details["uri"], None, details)


def _point_requirements(path: str | None, run_uri: str) -> None:
    """Replace the fixed requirements file at ``path`` with ``run_uri``'s wheel lines.

    Written under a temporary name and renamed (``Storage.publish``): an environment
    installing from it reads the previous run's lines or this run's, never a mix.
    """
    target = _usable(path)
    if target is None:
        return
    lines = requirement_lines(run_uri)
    text = f"# sparkdeps: the wheels of {run_uri}, written by process_deps\n"
    text += "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory(prefix="sparkdeps-pointer-") as folder:
        local = Path(folder) / REQUIREMENTS_NAME
        local.write_text(text, encoding="utf-8")
        storage_for(target).publish(local, target)
    logger.info("%s now names the %d wheels of %s", target, len(lines), run_uri)


def _target_and_set(
    options: BuildOptions, folder: Path
) -> tuple[str | Target | None, str | os.PathLike[str] | None]:
    """The target and runtime package file: with ``auto`` on Databricks (nothing explicit
    beside it), this interpreter and the set it really has (``_jobs/running.py``)."""
    if isinstance(options.target, Target):
        return options.target, options.runtime_packages
    target = detect_target(options.target)
    explicit = options.runtime_packages or options.python_version or options.platform
    version = runtime_version()
    if options.target not in (None, "", "auto") or explicit or version is None:
        return target, options.runtime_packages
    file = folder / f"running-runtime-{re.sub(r'[^A-Za-z0-9._-]', '_', version)}.txt"
    file.write_text(running_set_text(target), encoding="utf-8")
    logger.info("--target auto: this compute's Python and installed packages (%s)", version)
    return None, os.fspath(file)


def _reusable(run_uri: str, uri: str, source: str) -> str:
    """The pinned URI of a repaired run's wheelhouse, if it is the one this input builds.

    Its ``run.json`` must be sparkdeps' own, name the same input digest, and give
    the sha256 of the ``wheelhouse.zip`` beside it, which must open as a wheelhouse.
    """
    from .._build.archive import ArchiveLimits  # noqa: PLC0415
    from .._build.inputs import prepare_input  # noqa: PLC0415

    fix = (
        f"remove the run folder (`sparkdeps cleanup {run_uri}`) and run the task again, "
        "or build without --per-job-run"
    )
    storage = storage_for(run_uri)
    marker = read_run_marker(storage, run_uri)
    if marker is None:
        raise InputError(f"{uri} exists but its run folder has no run.json; {fix}")
    with tempfile.TemporaryDirectory(prefix="sparkdeps-reuse-") as work:
        layout = prepare_input(source, Path(work) / "input", ArchiveLimits())
    if marker.input_digest != layout.digest:
        raise InputError(f"{uri} was built from another input than {source}; {fix}")
    with local_file(storage, uri) as local:
        if sha256_file(local) != marker.digest:
            raise InputError(f"{uri} is not the wheelhouse its run.json names; {fix}")
        read_manifest(local, origin=uri)
    return pin_uri(uri, marker.digest)


def job_run_folder_name(job_run_id: str) -> str:
    """The one run folder of a job run in ``per_job_run`` mode: ``job-<job run id>``."""
    if not _SAFE_ID.fullmatch(job_run_id):
        raise InputError(f"job run id {job_run_id!r} is not a plain id", fix="pass {{job.run_id}}")
    return f"{RUN_PREFIX}{job_run_id}"


def job_run_folders(base: str, job_run_id: str) -> list[str]:
    """The run folders ``process_deps`` made for one job run (repairs make several)."""
    name = job_run_folder_name(job_run_id)
    storage = storage_for(base)
    return sorted(
        join_uri(base, entry.name)
        for entry in storage.list_dir(base)
        if entry.is_dir and (entry.name == name or entry.name.startswith(name + "-"))
    )


def _run_uri_of(wheelhouse: str) -> str:
    """The run folder of a ``.../wheelhouse.zip`` (a ``#sha256=`` pin allowed); nothing else."""
    path = split_pin(wheelhouse.strip())[0].rstrip("/")
    if path.rpartition("/")[2] != WHEELHOUSE_NAME:
        raise InputError(
            f"--wheelhouse {wheelhouse} does not end in /{WHEELHOUSE_NAME}; pass the "
            "wheelhouse a build published (or the run folder itself, without --wheelhouse); "
            "nothing was removed"
        )
    return run_folder_of(path)


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``"7d"`` -> seconds. Units: s, m, h, d, w; a bare number is seconds."""
    match = _AGE.match(text.lower())
    if match is None:
        raise InputError(f"--older-than {text!r} is not an age: use e.g. 7d, 12h, 30m or 3600")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def run_cleanup(args: CleanupRequest) -> CleanupResult:
    """Remove the run folders named, found from a wheelhouse, or made by a job run."""
    if args.older_than:
        base = _usable(args.base)
        if base is None:
            raise InputError("--older-than needs --base: the folder that holds the run folders")
        return cleanup_older_than(base, parse_age(args.older_than), dry_run=args.dry_run)
    # every argument is checked before anything is removed
    targets: list[str] = [run_folder_of(uri) for uri in args.run_uri if not _absent(uri)]
    targets += [_run_uri_of(uri) for uri in args.wheelhouse if not _absent(uri)]
    job_run_id = _usable(args.job_run_id)
    if job_run_id is not None:
        targets += job_run_folders(_usable(args.base) or _default_base(), job_run_id)
    elif not args.run_uri and not args.wheelhouse:
        raise InputError(
            "cleanup needs a run folder, --wheelhouse URI, or --base with --job-run-id"
        )
    removed: list[str] = []
    kept: list[str] = []
    for uri in dict.fromkeys(targets):  # de-duplicated, order kept
        result = cleanup(uri)
        removed += result.removed
        kept += result.kept
    return CleanupResult(removed=tuple(removed), kept=tuple(kept))
