"""Databricks jobs: the entry points of the three-task job (process_deps, cleanup).

The shape (README, docs/facts.md, fact 10)::

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

import argparse
import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

from .._core.databricks import runtime_version, set_task_value
from .._core.errors import InputError
from .._core.paths import (
    PROCESS_DEPS_TASK_KEY,
    TASK_VALUE_KEY,
    WHEELHOUSE_NAME,
    pin_uri,
    split_pin,
)
from .._core.results import BuildResult, CleanupResult
from .._core.storage import join_uri, storage_for
from .._core.target import PROFILES

__all__ = [
    "BASE_ENV",
    "DBR_14_3_SPARK_VERSION",
    "DEFAULT_BASE",
    "PROCESS_DEPS_TASK_KEY",
    "TASK_VALUE_KEY",
    "WHEELHOUSE_REFERENCE",
    "ProcessDepsOutcome",
    "add_cleanup_arguments",
    "add_process_deps_arguments",
    "detect_target",
    "job_run_folder_name",
    "job_run_folders",
    "new_run_id",
    "run_cleanup",
    "run_process_deps",
]

logger = logging.getLogger(__name__)

CLEANUP_TASK_KEY = "cleanup"
WHEELHOUSE_REFERENCE = f"{{{{tasks.{PROCESS_DEPS_TASK_KEY}.values.{TASK_VALUE_KEY}}}}}"
JOB_RUN_ID_REFERENCE = "{{job.run_id}}"
BASE_ENV = "SPARKDEPS_BASE"
# Unity Catalog Volumes are the recommended home (docs/facts.md, fact 10); DBFS
# (``dbfs:/FileStore/sparkdeps``) still works through dbutils or the /dbfs mount.
DEFAULT_BASE = "/Volumes/main/default/sparkdeps"
DBR_14_3_SPARK_VERSION = "14.3.x-scala2.12"
SERVERLESS_ENVIRONMENT_VERSION = "2"
_RUN_PREFIX = "job-"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


# ---------------------------------------------------------------- entry points


def _unresolved(value: str | None) -> bool:
    """A ``{{...}}`` reference the Jobs service did not fill in (run outside a job)."""
    return value is None or value.strip() == "" or ("{{" in value and "}}" in value)


def new_run_id(job_run_id: str | None = None) -> str:
    """A run folder name no other run shares: the job run id (when known) plus a uuid.

    The uuid matters even with a job run id: a repaired run re-runs
    ``process_deps`` under the same job run id.
    """
    suffix = uuid.uuid4().hex[:12]
    if _unresolved(job_run_id):
        return f"run-{suffix}"
    assert job_run_id is not None
    if not _SAFE_ID.fullmatch(job_run_id):
        raise InputError(
            f"job run id {job_run_id!r} has characters a folder name cannot take; "
            "pass --job-run-id {{job.run_id}}"
        )
    return f"{_RUN_PREFIX}{job_run_id}-{suffix}"


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


def add_process_deps_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="the input: a requirements.txt, a folder, a .zip or a .whl (a /Workspace, "
        "/Volumes or local path)",
    )
    parser.add_argument(
        "--base",
        default=None,
        help=f"where run folders go (default ${BASE_ENV}, else {DEFAULT_BASE}; "
        "dbfs:/... also works)",
    )
    parser.add_argument(
        "--job-run-id",
        default=None,
        help="the job run id ({{job.run_id}}): names the run folder so cleanup finds it",
    )
    parser.add_argument(
        "--target",
        default="auto",
        help="runtime profile (dbr-14.3, ...), 'host', or 'auto' (from DATABRICKS_RUNTIME_VERSION)",
    )
    parser.add_argument("--python-version", default=None)
    parser.add_argument("--platform", default=None)
    parser.add_argument(
        "--runtime-packages",
        default=None,
        help="`pip list --format=freeze` of the cluster (a profile target carries its own)",
    )
    parser.add_argument(
        "--override-runtime",
        action="append",
        default=[],
        help="ship this protected runtime package anyway (repeatable)",
    )
    parser.add_argument("--index-url", default=None)
    parser.add_argument("--extra-index-url", action="append", default=[])
    parser.add_argument("--find-links", action="append", default=[])
    parser.add_argument("--no-index", action="store_true")
    parser.add_argument(
        "--allow-index-options",
        action="store_true",
        help="honour --index-url lines inside requirements files",
    )
    parser.add_argument(
        "--per-job-run",
        action="store_true",
        help="use <base>/job-<job run id>/ (no uuid), so later tasks can name the path "
        "without a task value; a repaired run reuses it",
    )
    parser.add_argument("--task-value-key", default=TASK_VALUE_KEY)
    parser.add_argument("--json", action="store_true", help="print the build result as JSON")


@dataclass(frozen=True)
class ProcessDepsOutcome:
    uri: str
    result: BuildResult | None
    """None when a repaired run reused the wheelhouse of its first attempt."""

    def to_dict(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result.to_dict()
        return {"uri": self.uri, "reused": True}


def run_process_deps(args: argparse.Namespace) -> ProcessDepsOutcome:
    """Build into the run folder and set the task value (the CLI prints the URI)."""
    from .._build.pipeline import build

    base = args.base if not _unresolved(args.base) else _default_base()
    if args.per_job_run:
        if _unresolved(args.job_run_id):
            raise InputError("--per-job-run needs --job-run-id={{job.run_id}}")
        run_id = job_run_folder_name(args.job_run_id)
        uri = join_uri(base, run_id, WHEELHOUSE_NAME)
        if storage_for(base).exists(uri):
            # A repaired run: its first attempt built this already; reuse it once checked.
            pinned = _reusable(join_uri(base, run_id), uri, args.source)
            logger.info("%s exists (a repaired run): reusing it", uri)
            set_task_value(args.task_value_key, pinned)
            return ProcessDepsOutcome(pinned, None)
    else:
        run_id = new_run_id(args.job_run_id)
    index_url = args.index_url or os.environ.get("SPARKDEPS_INDEX_URL") or None
    result = build(
        args.source,
        dest=base,
        run_id=run_id,
        target=detect_target(args.target),
        python_version=args.python_version,
        platform=args.platform,
        index_url=index_url,
        extra_index_urls=tuple(args.extra_index_url),
        find_links=tuple(args.find_links),
        no_index=args.no_index,
        task_value_key=args.task_value_key,
        allow_index_options=args.allow_index_options,
        runtime_packages=getattr(args, "runtime_packages", None),
        override_runtime=tuple(getattr(args, "override_runtime", ())),
    )
    if not result.task_value_set:
        logger.info("no task value set (not in a Databricks job): the URI goes to stdout")
    return ProcessDepsOutcome(result.pinned_uri, result)


def _reusable(run_uri: str, uri: str, source: str) -> str:
    """The pinned URI of a repaired run's wheelhouse, if it is the one this input builds.

    Its ``run.json`` must be sparkdeps' own, name the same input digest, and give
    the sha256 of the ``wheelhouse.zip`` beside it, which must open as a wheelhouse.
    """
    import tempfile
    from pathlib import Path

    from .._build.archive import ArchiveLimits
    from .._build.inputs import prepare_input
    from .._core.hashing import sha256_file
    from .._core.wheelhouse import open_wheelhouse
    from .._runtime.cleanup import read_run_marker

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
        local = storage.local_path(uri)
        if local is None:
            local = Path(work) / "wheelhouse.zip"
            storage.download(uri, local)
        if sha256_file(local) != marker.digest:
            raise InputError(f"{uri} is not the wheelhouse its run.json names; {fix}")
        open_wheelhouse(local, origin=uri)
    return pin_uri(uri, marker.digest)


def job_run_folder_name(job_run_id: str) -> str:
    """The one run folder of a job run in ``per_job_run`` mode: ``job-<job run id>``."""
    if not _SAFE_ID.fullmatch(job_run_id):
        raise InputError(f"job run id {job_run_id!r} is not a plain id; pass {{{{job.run_id}}}}")
    return f"{_RUN_PREFIX}{job_run_id}"


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
    from .._runtime.cleanup import run_folder_of

    path = split_pin(wheelhouse.strip())[0].rstrip("/")
    if path.rpartition("/")[2] != WHEELHOUSE_NAME:
        raise InputError(
            f"--wheelhouse {wheelhouse} does not end in /{WHEELHOUSE_NAME}; pass the "
            "wheelhouse a build published (or the run folder itself, without --wheelhouse); "
            "nothing was removed"
        )
    return run_folder_of(path)


def add_cleanup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_uri", nargs="*", help="run folders to remove")
    parser.add_argument(
        "--wheelhouse",
        action="append",
        default=[],
        help="a wheelhouse URI: its run folder is removed",
    )
    parser.add_argument("--base", default=None, help="with --job-run-id: where run folders are")
    parser.add_argument(
        "--job-run-id",
        default=None,
        help="remove every run folder this job run made under --base ({{job.run_id}})",
    )
    parser.add_argument(
        "--older-than",
        default=None,
        metavar="AGE",
        help="with --base: remove every run folder older than AGE (e.g. 7d, 12h, 30m, 3600)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --older-than: only list what would go"
    )
    parser.add_argument("--json", action="store_true")


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``"7d"`` -> seconds. Units: s, m, h, d, w; a bare number is seconds."""
    match = _AGE.match(text.lower())
    if match is None:
        raise InputError(f"--older-than {text!r} is not an age: use e.g. 7d, 12h, 30m or 3600")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def run_cleanup(args: argparse.Namespace) -> CleanupResult:
    """Remove the run folders named, found from a wheelhouse, or made by a job run."""
    from .._runtime.cleanup import cleanup, cleanup_older_than, run_folder_of

    if getattr(args, "older_than", None):
        if _unresolved(args.base):
            raise InputError("--older-than needs --base: the folder that holds the run folders")
        return cleanup_older_than(args.base, parse_age(args.older_than), dry_run=args.dry_run)
    # every argument is checked before anything is removed
    targets: list[str] = [run_folder_of(uri) for uri in args.run_uri if not _unresolved(uri)]
    targets += [_run_uri_of(uri) for uri in args.wheelhouse if not _unresolved(uri)]
    if not _unresolved(args.job_run_id):
        base = args.base if not _unresolved(args.base) else _default_base()
        targets += job_run_folders(base, args.job_run_id)
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
