"""The commands that run on (or stand in for) the compute: the job tasks
``process-deps`` and ``cleanup``, then ``load``, ``session-conf``, ``verify``, ``doctor``,
``runtime-freeze`` and ``twin``.

Each ``add_<name>`` declares a command's arguments and sets ``cmd_<name>`` as its
handler. A handler imports what it needs when it runs (the job entry points, the
runtime half, pyspark, the twin), never at start, so those imports carry
``noqa: PLC0415``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TypedDict

from .._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY
from .._core.progress import plural
from .._jobs.names import BASE_ENV, DEFAULT_BASE
from .arguments import Subparsers, option_arguments, request, subcommand
from .printing import echo

__all__ = [
    "add_cleanup",
    "add_doctor",
    "add_load",
    "add_process_deps",
    "add_runtime_freeze",
    "add_session_conf",
    "add_twin",
    "add_verify",
    "cmd_cleanup",
    "cmd_doctor",
    "cmd_load",
    "cmd_process_deps",
    "cmd_runtime_freeze",
    "cmd_session_conf",
    "cmd_twin",
    "cmd_verify",
]


def add_process_deps(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "process-deps",
        "job task 1: build into a fresh run folder, set the task value, print the URI",
    )
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
    option_arguments(
        parser,
        {
            "target": (
                "auto",
                "a profile (dbr-14.3...), 'host', or 'auto' (on Databricks: what this compute has)",
            ),
            "index_url": (None, "the package index (default: $SPARKDEPS_INDEX_URL, else pip's)"),
        },
    )
    parser.add_argument(
        "--per-job-run",
        action="store_true",
        help="use <base>/job-<job run id>/ (no uuid), so later tasks can name the path "
        "without a task value; a repaired run reuses it",
    )
    parser.add_argument("--task-value-key", default=TASK_VALUE_KEY)
    _compute_options(parser)
    parser.add_argument("--json", action="store_true", help="print the build result as JSON")
    parser.set_defaults(handler=cmd_process_deps)


def _compute_options(parser: argparse.ArgumentParser) -> None:
    """What ``process-deps`` does for the compute it runs on."""
    parser.add_argument(  # a serverless environment's `-r PATH` (docs/compute.md)
        "--requirements-at",
        metavar="PATH",
        help="also write the run's wheel lines to this fixed file (replaced atomically)",
    )
    parser.add_argument(  # three_task_job's default on a job cluster (docs/compute.md)
        "--private-venv",
        action="store_true",
        help="install the build tools into a venv of their own first (node cache), "
        "leaving this interpreter's packages as they are",
    )
    parser.add_argument(
        "--build-requirement",
        default=None,
        help="with --private-venv: what that venv installs (default sparkdeps[build]==VERSION)",
    )


def cmd_process_deps(args: argparse.Namespace) -> int:
    from .._jobs.tasks import ProcessDepsRequest, run_process_deps  # noqa: PLC0415

    outcome = run_process_deps(request(ProcessDepsRequest, args))
    if args.json:
        echo(json.dumps(outcome.to_dict(), indent=2, sort_keys=True))
    echo(outcome.uri)  # the last line, for scripts; later tasks get it as the task value
    return 0


def add_cleanup(sub: Subparsers) -> None:
    parser = subcommand(
        sub, "cleanup", "remove run folders (by URI, by wheelhouse, or every folder of a job run)"
    )
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
    parser.set_defaults(handler=cmd_cleanup)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .._jobs.tasks import CleanupRequest, run_cleanup  # noqa: PLC0415

    result = run_cleanup(request(CleanupRequest, args))
    if args.json:
        removed, kept = list(result.removed), list(result.kept)
        echo(json.dumps({"removed": removed, "kept": kept, "dry_run": result.dry_run}, indent=2))
        return 0
    for uri in result.removed:
        echo(f"{'would remove' if result.dry_run else 'removed'} {uri}")
    if not result.removed:
        echo("nothing to remove")
    return 0


def _located_wheelhouse(parser: argparse.ArgumentParser) -> None:
    """``load`` and ``verify`` take the wheelhouse as ``load()`` locates it."""
    parser.add_argument(
        "wheelhouse",
        nargs="?",
        default=None,
        help="wheelhouse.zip path/URI (default: SPARKDEPS_WHEELHOUSE, task value)",
    )


def _cached_wheelhouse(parser: argparse.ArgumentParser) -> None:
    """``load`` and ``session-conf``: the wheelhouse located, the task value's name, the
    node cache."""
    _located_wheelhouse(parser)
    parser.add_argument("--task-key", default=PROCESS_DEPS_TASK_KEY)
    parser.add_argument("--key", default=TASK_VALUE_KEY)
    parser.add_argument("--cache-dir", help="node cache root (or SPARKDEPS_CACHE_DIR)")


class _Cached(TypedDict):
    task_key: str
    key: str
    cache_dir: str | None


def _cached_arguments(args: argparse.Namespace) -> _Cached:
    """What :func:`_cached_wheelhouse` declared, as ``load``/``session_conf`` take it."""
    return {"task_key": args.task_key, "key": args.key, "cache_dir": args.cache_dir}


def add_load(sub: Subparsers) -> None:
    parser = subcommand(
        sub, "load", "install a wheelhouse into this node's cache (driver only; warms the cache)"
    )
    _cached_wheelhouse(parser)
    parser.add_argument("--mode", choices=("cache", "pip"), default="cache")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.set_defaults(handler=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from .._runtime.load import load  # noqa: PLC0415

    result = load(
        args.wheelhouse, mode=args.mode, delivery="driver-only", **_cached_arguments(args)
    )
    if args.json:
        echo(json.dumps(result.to_dict(), indent=2))
    else:
        state = "reused" if result.reused else "installed"
        seconds = result.timings.get("total", 0)
        echo(f"{state} {plural(len(result.wheels), 'wheel')} in {seconds:.3f}s")
        echo(str(result.folder))
    return 0


def add_session_conf(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "session-conf",
        "print the spark-submit settings that have executors unpack a wheelhouse as they start",
    )
    _cached_wheelhouse(parser)
    parser.add_argument(
        "--payload-dir", help="where the archive is made and kept (default: the node cache)"
    )
    parser.add_argument("--json", action="store_true", help="print the settings as JSON")
    parser.set_defaults(handler=cmd_session_conf)


def cmd_session_conf(args: argparse.Namespace) -> int:
    from .._runtime.session_conf import session_conf  # noqa: PLC0415

    conf = session_conf(args.wheelhouse, payload_dir=args.payload_dir, **_cached_arguments(args))
    if args.json:
        echo(json.dumps(conf, indent=2))
    else:  # one argument pair per line, as spark-submit takes them
        for name, value in conf.items():
            echo(f"--conf {name}={value}")
    return 0


def add_verify(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "verify",
        "load a wheelhouse into the Spark session and import its modules on executors",
    )
    _located_wheelhouse(parser)
    parser.add_argument(
        "--modules",
        default=None,
        help="comma-separated modules (default: the manifest's top-level names)",
    )
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--master", default=None, help="Spark master (default: the session's)")
    parser.add_argument("--json", action="store_true", help="print every import as JSON")
    parser.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from pyspark.sql import SparkSession  # noqa: PLC0415

    from .._runtime.load import load  # noqa: PLC0415
    from .._runtime.verify import verify  # noqa: PLC0415

    builder = SparkSession.builder.appName("sparkdeps-verify")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    loaded = load(args.wheelhouse, spark=spark)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules else None
    result = verify(spark, modules or list(loaded.top_level), partitions=args.partitions)
    if args.json:
        rows = [
            {"module": i.module, "executor": i.executor, "file": i.file} for i in result.imports
        ]
        echo(json.dumps(rows, indent=2))
    else:
        for item in result.imports:
            echo(f"{item.module:30} {item.executor}  {item.file}")
        count = plural(len({i.module for i in result.imports}), "module")
        echo(f"ok: {count} on {plural(len(result.executors), 'executor')}")
    return 0


def add_doctor(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "doctor",
        "try every delivery route on this compute (a tiny wheelhouse built here, no "
        "index) and print what works: route, driver, executors, time, what failed",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--remote", help="a Spark Connect URL (sc://host:port)")
    where.add_argument("--master", help="a Spark master (local[2], local-cluster[2,1,1024])")
    parser.add_argument(
        "--route", action="append", default=None, help="only this route (repeatable)"
    )
    parser.add_argument("--dest", help="publish the tiny wheelhouses here (e.g. /Volumes/...)")
    parser.add_argument("--no-compiled", action="store_true", help="leave the compiled wheel out")
    parser.add_argument("--json", action="store_true", help="the report as JSON, for bug reports")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .._jobs.doctor import doctor, session_for  # noqa: PLC0415
    from .._runtime.load import active_session  # noqa: PLC0415

    session = None if args.remote or args.master else active_session()
    if session is None:
        session = session_for(remote=args.remote, master=args.master)
    report = doctor(session, routes=args.route, dest=args.dest, compiled=not args.no_compiled)
    echo(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    # a script can tell whether a plain load() works here
    return 0 if "auto" in report.working or (args.route and report.working) else 1


def add_runtime_freeze(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "runtime-freeze",
        "print this Python's packages as a --runtime-packages file (run it on the driver)",
    )
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.set_defaults(handler=cmd_runtime_freeze)


def cmd_runtime_freeze(args: argparse.Namespace) -> int:
    from .._runtime.freeze import runtime_freeze  # noqa: PLC0415

    text = runtime_freeze()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def add_twin(sub: Subparsers) -> None:
    parser = subcommand(
        sub, "twin", "create a local venv that looks like a runtime (Python, pyspark, packages)"
    )
    parser.add_argument("profile", help="a runtime profile with a package set, e.g. dbr-14.3")
    parser.add_argument("dir", help="the twin's folder (a venv); reused when current")
    parser.add_argument(
        "--python",
        default=None,
        help="an interpreter of the runtime's Python version "
        "(default: PATH, pyenv, uv-managed installs)",
    )
    parser.add_argument(
        "--packages",
        choices=("core", "all"),
        default="core",
        help="core: pyspark's runtime deps and the protected packages; "
        "all: every package of the runtime that installs from a wheel",
    )
    parser.add_argument(
        "--pyspark",
        default=None,
        help="pyspark version (default: the runtime's Spark version; "
        "required for serverless profiles)",
    )
    parser.add_argument("--index-url", default=None, help="package index (default: uv's)")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR_OR_URL")
    parser.add_argument("--no-index", action="store_true", help="only --find-links")
    parser.add_argument("--json", action="store_true", help="print the twin as JSON")
    parser.set_defaults(handler=cmd_twin)


def cmd_twin(args: argparse.Namespace) -> int:
    from ..testing._twin_cli import run_twin  # noqa: PLC0415

    return run_twin(args, echo)
