"""The ``sparkdeps`` command line.

One ``_cmd_<name>(args) -> int`` per subcommand, registered in ``_parser``.
Progress goes through logging to stderr (``-v``/``-q``); results go to stdout,
where the last line of ``build`` is the wheelhouse URI (a script can take it
with ``tail -n 1``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._console import ConsoleHandler, live_progress
from ._core.errors import CommandError, SparkdepsError
from ._core.options import BuildOptions, option_fields, option_of
from ._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY
from ._core.progress import plural
from ._core.runner import redact
from ._jobs.names import BASE_ENV, DEFAULT_BASE
from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("sparkdeps")

Command = Callable[[argparse.Namespace], int]
# Each command imports its half of sparkdeps (and pyspark) when it runs, never at
# start: `sparkdeps cleanup` must work without sparkdeps[build], `--help` stays
# instant, and a warm `sparkdeps build` pays for the build half only (the job entry
# points pull the runtime half, the twin pulls importlib.metadata and packaging's
# requirements: about 60 ms that no other command needs). So the parsers below
# import nothing but constants; those imports carry `noqa: PLC0415`.


def _echo(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def _verbosity(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else 0
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more progress output on stderr (-vv for debug)",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=default, help="only errors on stderr"
    )


_HELP = {
    "check": "resolve for a target and show what would ship, what the runtime provides, "
    "what shadows and what conflicts (downloads no wheels)",
    "export": "print a wheelhouse's pins as pylock.toml or requirements (name==version with "
    "hashes)",
    "build": "build a wheelhouse from an input and publish it",
    "inspect": "show a wheelhouse's manifest",
    "process-deps": "job task 1: build into a fresh run folder, set the task value, print the URI",
    "cleanup": "remove run folders (by URI, by wheelhouse, or every folder of a job run)",
    "load": "install a wheelhouse into this node's cache (driver only; warms the cache)",
    "verify": "load a wheelhouse into the Spark session and import its modules on executors",
    "doctor": "try every delivery route on this compute (a tiny wheelhouse built here, no "
    "index) and print what works: route, driver, executors, time, what failed",
}


def _subcommand(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str
) -> argparse.ArgumentParser:
    """A subcommand with its own -v/-q (they add to the ones before it)."""
    parser = sub.add_parser(name, help=_HELP[name])
    _verbosity(parser, suppress=True)
    return parser


def _resolution_arguments(parser: argparse.ArgumentParser) -> None:
    """The input and the build options: the same for ``build`` and ``check``."""
    parser.add_argument("source", help="a .zip, a folder, or a requirements file")
    _option_arguments(parser)


def _option_arguments(
    parser: argparse.ArgumentParser, overrides: dict[str, tuple[Any, str]] | None = None
) -> None:
    """One flag per field of ``BuildOptions`` (``_core/options.py``), in groups as ``--help``
    shows them; ``overrides`` gives a command its own default and help for a field."""
    groups: dict[str, Any] = {
        "target": parser.add_argument_group("target"),
        "index": parser.add_argument_group("index"),
        "build": parser,
    }
    for item in option_fields():
        option = option_of(item)
        if option.flag is None:
            continue
        default, text = (overrides or {}).get(item.name, (item.default, option.help))
        # argparse appends to a list default (copied per parse); a tuple has no append
        default = list(default) if option.kind == "list" else default
        settings: dict[str, Any] = {"dest": item.name, "default": default}
        if option.kind in ("text", "float", "int", "list"):
            settings["metavar"] = option.metavar
        settings.update(_OPTION_ACTIONS[option.kind])
        group = groups[option.group]
        group.add_argument(option.flag, help=text, **settings)
        for alias in option.aliases:
            group.add_argument(alias, help=argparse.SUPPRESS, **settings)


_OPTION_ACTIONS: dict[str, dict[str, Any]] = {
    "text": {},
    "float": {"type": float},
    "int": {"type": int},
    "list": {"action": "append"},
    "switch": {"action": "store_true"},
    "negated": {"action": "store_false"},
}


def _build_options(args: argparse.Namespace) -> BuildOptions:
    """The parsed flags of ``_option_arguments`` as the value ``build()`` and ``check()`` take."""
    return BuildOptions(
        **{
            item.name: getattr(args, item.name)
            for item in option_fields()
            if option_of(item).flag is not None
        }
    )


def _add_build(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "build")
    _resolution_arguments(parser)
    parser.add_argument("--dest", help="base folder/URI for run folders (or SPARKDEPS_DEST)")
    parser.add_argument("--run-id", help="run folder name (default: a fresh uuid)")
    parser.add_argument("--no-cache", action="store_true", help="ignore the build cache")
    parser.add_argument(
        "--task-value-key", default=TASK_VALUE_KEY, help="Databricks task value key for the URI"
    )
    parser.add_argument(
        "--version-override",
        action="append",
        default=[],
        metavar="NAME=VERSION",
        help="the version of a git-versioned project (setuptools-scm, hatch-vcs) "
        "handed in without its .git, e.g. a 'Download ZIP'",
    )
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve only and show what would ship (as `sparkdeps check`)",
    )
    parser.set_defaults(handler=_cmd_build)


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "check")
    _resolution_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON (for CI)")
    parser.set_defaults(handler=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from ._build.preflight import check, format_check  # noqa: PLC0415

    result = check(args.source, **_build_options(args).keywords())
    if args.json:
        _echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        for line in format_check(result):
            _echo(line)
    return 0 if result.ok else 1


def _add_runtime_freeze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "runtime-freeze",
        help="print this Python's packages as a --runtime-packages file (run it on the driver)",
    )
    _verbosity(parser, suppress=True)
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.set_defaults(handler=_cmd_runtime_freeze)


def _cmd_runtime_freeze(args: argparse.Namespace) -> int:
    from ._runtime.freeze import runtime_freeze  # noqa: PLC0415

    text = runtime_freeze()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _add_inspect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "inspect")
    parser.add_argument("wheelhouse", help="wheelhouse.zip path/URI or its run folder")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument(
        "--pylock", action="store_true", help="print the wheelhouse's pylock.toml (PEP 751)"
    )
    parser.set_defaults(handler=_cmd_inspect)


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "export")
    parser.add_argument("wheelhouse", help="wheelhouse.zip path/URI or its run folder")
    parser.add_argument(
        "--format",
        choices=("requirements", "pylock", "pip"),
        default="requirements",
        help="requirements: name==version with hashes; pylock: PEP 751; pip: the run's "
        "published wheels by path with hashes (for %%pip, serverless dependencies)",
    )
    parser.add_argument(
        "--no-hashes", action="store_true", help="with --format pip: bare wheel paths"
    )
    parser.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.format == "pip":
        from ._runtime.inspect import requirement_lines  # noqa: PLC0415

        for line in requirement_lines(args.wheelhouse, hashes=not args.no_hashes):
            _echo(line)
        return 0
    sys.stdout.write(_exported(args.wheelhouse, args.format))
    return 0


def _exported(
    wheelhouse: str,
    output: Literal["requirements", "pylock"],
    *,
    stored_only: bool = False,
) -> str:
    """What ``export`` and ``inspect --pylock`` print: checked against the manifest and the
    bytes inside the zip first (docs/locks-and-export.md). ``stored_only``: the zip's own
    lock or an error (``inspect --pylock``); else an older wheelhouse's lock is written from
    its manifest."""
    from ._build.export import checked_export  # noqa: PLC0415
    from ._runtime.inspect import no_pylock, read_stored  # noqa: PLC0415

    stored = read_stored(wheelhouse)
    if stored_only and stored.pylock is None:
        raise no_pylock(stored.uri)
    return checked_export(
        stored.manifest, stored.wheels, stored.pylock, origin=stored.uri, output=output
    )


def _cmd_build(args: argparse.Namespace) -> int:
    from ._build.publish import build  # noqa: PLC0415
    from ._build.scm import pretend_versions  # noqa: PLC0415

    if args.dry_run:
        return _cmd_check(args)

    with pretend_versions(args.version_override):
        result = build(
            args.source,
            dest=args.dest,
            run_id=args.run_id,
            use_cache=not args.no_cache,
            task_value_key=args.task_value_key or None,
            **_build_options(args).keywords(),
        )
    if not args.quiet:
        _echo(
            f"timings: {_timings(result.timings)}{'  (cached)' if result.cached else ''}", err=True
        )
    if args.json:
        _echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        _echo(f"format: {result.format}  target: {result.target.description}")
        for wheel in result.wheels:
            _echo(f"  {wheel.filename}")
        _echo(result.uri)
    return 0


def _timings(timings: dict[str, float] | Any) -> str:
    """``resolve 1.20s  download 15.31s  total 17.02s``: phases that took no time are left out."""
    shown = [(key, value) for key, value in timings.items() if value >= 0.005 or key == "total"]
    return "  ".join(f"{key} {value:.2f}s" for key, value in shown)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ._runtime.inspect import inspect  # noqa: PLC0415

    if args.pylock:
        sys.stdout.write(_exported(args.wheelhouse, "pylock", stored_only=True))
        return 0
    manifest = inspect(args.wheelhouse)
    if args.json:
        _echo(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
        return 0
    target = {key: _visible(value) for key, value in manifest.target.items()}
    _echo(f"format:    {manifest.format}")
    _echo(
        f"target:    {target.get('profile') or '-'} CPython {target.get('python_version')} "
        f"{target.get('arch')} glibc {target.get('glibc')}"
    )
    _echo(f"input:     {_visible(manifest.input_digest)}")
    _echo(f"sparkdeps: {_visible(manifest.sparkdeps_version)}")
    _echo(f"wheels:    {len(manifest.wheels)}")
    for wheel in sorted(manifest.wheels, key=lambda w: w.filename):
        names = _visible(",".join(wheel.top_level) or "-")
        shadows = f"  shadows runtime {_visible(wheel.shadows)}" if wheel.shadows else ""
        _echo(
            f"  {_visible(wheel.name)} {_visible(wheel.version)}  "
            f"[{_visible('.'.join(wheel.tags))}]  {wheel.size} B  "
            f"imports: {names}  ({_visible(wheel.source or '?')}){shadows}"
        )
    runtime = manifest.runtime
    if runtime:
        relied = ", ".join(f"{r['name']} {r['version']}" for r in runtime.get("relied_on", ()))
        _echo(
            f"runtime:   {_visible(runtime.get('name'))} "
            f"(set {_visible(str(runtime.get('digest', ''))[:12])})"
        )
        _echo(f"relies on: {_visible(relied or '-')}")
        if runtime.get("overrides"):
            _echo(f"overrides: {_visible(', '.join(runtime['overrides']))}")
    return 0


def _visible(value: object) -> str:
    """A manifest value for a terminal: control and bidi characters shown as escapes."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf") else char
        for char in str(value)
    )


def _add_process_deps(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "process-deps")
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
    _option_arguments(
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
    _add_compute_options(parser)
    parser.add_argument("--json", action="store_true", help="print the build result as JSON")
    parser.set_defaults(handler=_cmd_process_deps)


def _add_compute_options(parser: argparse.ArgumentParser) -> None:
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


def _cmd_process_deps(args: argparse.Namespace) -> int:
    from ._jobs.tasks import ProcessDepsRequest, run_process_deps  # noqa: PLC0415

    outcome = run_process_deps(_request(ProcessDepsRequest, args))
    if args.json:
        _echo(json.dumps(outcome.to_dict(), indent=2, sort_keys=True))
    _echo(outcome.uri)  # the last line, for scripts; later tasks get it as the task value
    return 0


def _add_cleanup(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "cleanup")
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
    parser.set_defaults(handler=_cmd_cleanup)


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from ._jobs.tasks import CleanupRequest, run_cleanup  # noqa: PLC0415

    result = run_cleanup(_request(CleanupRequest, args))
    if args.json:
        removed, kept = list(result.removed), list(result.kept)
        _echo(json.dumps({"removed": removed, "kept": kept, "dry_run": result.dry_run}, indent=2))
        return 0
    for uri in result.removed:
        _echo(f"{'would remove' if result.dry_run else 'removed'} {uri}")
    if not result.removed:
        _echo("nothing to remove")
    return 0


_Request = TypeVar("_Request")


def _request(kind: type[_Request], args: argparse.Namespace) -> _Request:
    """The parsed options a job entry point takes, as its frozen request (lists as tuples;
    a field ``options`` gets the build options)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        if field.name == "options":
            values["options"] = _build_options(args)
            continue
        value = getattr(args, field.name)
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return kind(**values)


def _located_wheelhouse(parser: argparse.ArgumentParser) -> None:
    """``load`` and ``verify`` take the wheelhouse as ``load()`` locates it."""
    parser.add_argument(
        "wheelhouse",
        nargs="?",
        default=None,
        help="wheelhouse.zip path/URI (default: SPARKDEPS_WHEELHOUSE, task value)",
    )


def _add_load(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "load")
    _located_wheelhouse(parser)
    parser.add_argument("--task-key", default=PROCESS_DEPS_TASK_KEY)
    parser.add_argument("--key", default=TASK_VALUE_KEY)
    parser.add_argument("--mode", choices=("cache", "pip"), default="cache")
    parser.add_argument("--cache-dir", help="node cache root (or SPARKDEPS_CACHE_DIR)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.set_defaults(handler=_cmd_load)


def _cmd_load(args: argparse.Namespace) -> int:
    from ._runtime.load import load  # noqa: PLC0415

    result = load(
        args.wheelhouse,
        task_key=args.task_key,
        key=args.key,
        mode=args.mode,
        delivery="driver-only",
        cache_dir=args.cache_dir,
    )
    if args.json:
        _echo(json.dumps(result.to_dict(), indent=2))
    else:
        state = "reused" if result.reused else "installed"
        _echo(
            f"{state} {plural(len(result.wheels), 'wheel')} "
            f"in {result.timings.get('total', 0):.3f}s"
        )
        _echo(str(result.folder))
    return 0


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "verify")
    _located_wheelhouse(parser)
    parser.add_argument(
        "--modules",
        default=None,
        help="comma-separated modules (default: the manifest's top-level names)",
    )
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--master", default=None, help="Spark master (default: the session's)")
    parser.add_argument("--json", action="store_true", help="print every import as JSON")
    parser.set_defaults(handler=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from pyspark.sql import SparkSession  # noqa: PLC0415

    from ._runtime.load import load  # noqa: PLC0415
    from ._runtime.verify import verify  # noqa: PLC0415

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
        _echo(json.dumps(rows, indent=2))
    else:
        for item in result.imports:
            _echo(f"{item.module:30} {item.executor}  {item.file}")
        count = plural(len({i.module for i in result.imports}), "module")
        _echo(f"ok: {count} on {plural(len(result.executors), 'executor')}")
    return 0


def _add_twin(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "twin", help="create a local venv that looks like a runtime (Python, pyspark, packages)"
    )
    _verbosity(parser, suppress=True)
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
    parser.set_defaults(handler=_cmd_twin)


def _add_doctor(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(sub, "doctor")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--remote", help="a Spark Connect URL (sc://host:port)")
    where.add_argument("--master", help="a Spark master (local[2], local-cluster[2,1,1024])")
    parser.add_argument(
        "--route", action="append", default=None, help="only this route (repeatable)"
    )
    parser.add_argument("--dest", help="publish the tiny wheelhouses here (e.g. /Volumes/...)")
    parser.add_argument("--no-compiled", action="store_true", help="leave the compiled wheel out")
    parser.add_argument("--json", action="store_true", help="the report as JSON, for bug reports")
    parser.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ._jobs.doctor import doctor, session_for  # noqa: PLC0415
    from ._runtime.load import active_session  # noqa: PLC0415

    session = None if args.remote or args.master else active_session()
    if session is None:
        session = session_for(remote=args.remote, master=args.master)
    report = doctor(session, routes=args.route, dest=args.dest, compiled=not args.no_compiled)
    _echo(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    # a script can tell whether a plain load() works here
    return 0 if "auto" in report.working or (args.route and report.working) else 1


def _cmd_twin(args: argparse.Namespace) -> int:
    from .testing._twin_cli import run_twin  # noqa: PLC0415  (testing: on demand)

    return run_twin(args, _echo)


_ADDERS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_build,
    _add_check,
    _add_inspect,
    _add_export,
    _add_process_deps,
    _add_load,
    _add_verify,
    _add_cleanup,
    _add_runtime_freeze,
    _add_doctor,
    _add_twin,
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkdeps",
        description="Build wheelhouses for Spark clusters and load them on every node.",
    )
    parser.add_argument("--version", action="version", version=f"sparkdeps {__version__}")
    _verbosity(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


def _configure_logging(verbose: int, quiet: int) -> ConsoleHandler:
    # INFO (per-phase progress) by default; -v debug (commands run); -q warnings; -qq errors
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    level = levels[max(-2, min(1, verbose - quiet))]
    handler = ConsoleHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sparkdeps: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return handler


_FIX = re.compile(r"(?:^|[\s;(])fix(?: it)?:\s*(?P<fix>.+)", re.IGNORECASE | re.DOTALL)


def fix_of(exc: SparkdepsError) -> str | None:
    """The fix a message names: after its last ``fix:``, else its last ``; `` clause."""
    text = exc.hint if isinstance(exc, CommandError) and exc.hint else str(exc)
    matches = list(_FIX.finditer(text))
    if matches:
        return redact(matches[-1].group("fix").strip())
    head = text.splitlines()[0] if text else ""
    if "; " in head:
        return redact(head.rsplit("; ", 1)[1].strip())
    return None


def error_object(exc: SparkdepsError) -> dict[str, Any]:
    """What ``--json`` prints on stdout when a command fails."""
    return {
        "error": {
            "type": type(exc).__name__,
            "message": redact(str(exc)),
            "fix": fix_of(exc),
        }
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # main() is also called in-process (job entry points, tests): leave logging as found
    saved = (logger.handlers[:], logger.level, logger.propagate)
    console = _configure_logging(args.verbose, args.quiet)
    handler: Command = args.handler
    try:
        with live_progress(console, sys.stderr, enabled=args.verbose - args.quiet >= 0):
            return handler(args)
    except SparkdepsError as exc:
        if getattr(args, "json", False):
            _echo(json.dumps(error_object(exc), indent=2))
        _echo(f"sparkdeps: error: {redact(str(exc))}", err=True)
        return 1
    except KeyboardInterrupt:
        _echo("sparkdeps: interrupted", err=True)
        return 130
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
