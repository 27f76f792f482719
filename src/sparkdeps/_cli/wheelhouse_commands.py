"""The commands that make a wheelhouse or read one: ``build``, ``check``, ``inspect``,
``export``.

Each ``add_<name>`` declares a command's arguments and sets ``cmd_<name>`` as its
handler. A handler imports its half of sparkdeps when it runs, never at start
(``--help`` stays instant and parsing imports no half; ``tests/test_house.py``), so
those imports carry ``noqa: PLC0415``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Literal

from .._core.paths import TASK_VALUE_KEY
from .arguments import Subparsers, build_options, option_arguments, subcommand
from .printing import echo, manifest_lines, timings_line

__all__ = [
    "add_build",
    "add_check",
    "add_export",
    "add_inspect",
    "cmd_build",
    "cmd_check",
    "cmd_export",
    "cmd_inspect",
]


def _source_and_options(parser: argparse.ArgumentParser) -> None:
    """The input and the build options: the same for ``build`` and ``check``."""
    parser.add_argument("source", help="a .zip, a folder, or a requirements file")
    option_arguments(parser)


def add_build(sub: Subparsers) -> None:
    parser = subcommand(sub, "build", "build a wheelhouse from an input and publish it")
    _source_and_options(parser)
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
    parser.set_defaults(handler=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from .._build.publish import build  # noqa: PLC0415
    from .._build.scm import pretend_versions  # noqa: PLC0415

    if args.dry_run:
        return cmd_check(args)

    with pretend_versions(args.version_override):
        result = build(
            args.source,
            dest=args.dest,
            run_id=args.run_id,
            use_cache=not args.no_cache,
            task_value_key=args.task_value_key or None,
            **build_options(args).keywords(),
        )
    if not args.quiet:
        cached = "  (cached)" if result.cached else ""
        echo(f"timings: {timings_line(result.timings)}{cached}", err=True)
    if args.json:
        echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        echo(f"format: {result.format}  target: {result.target.description}")
        for wheel in result.wheels:
            echo(f"  {wheel.filename}")
        echo(result.uri)
    return 0


def add_check(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "check",
        "resolve for a target and show what would ship, what the runtime provides, "
        "what shadows and what conflicts (downloads no wheels)",
    )
    _source_and_options(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON (for CI)")
    parser.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from .._build.preflight import check, format_check  # noqa: PLC0415

    result = check(args.source, **build_options(args).keywords())
    if args.json:
        echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        for line in format_check(result):
            echo(line)
    return 0 if result.ok else 1


def add_inspect(sub: Subparsers) -> None:
    parser = subcommand(sub, "inspect", "show a wheelhouse's manifest")
    parser.add_argument("wheelhouse", help="wheelhouse.zip path/URI or its run folder")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument(
        "--pylock", action="store_true", help="print the wheelhouse's pylock.toml (PEP 751)"
    )
    parser.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .._runtime.inspect import inspect  # noqa: PLC0415

    if args.pylock:
        sys.stdout.write(_exported(args.wheelhouse, "pylock", stored_only=True))
        return 0
    manifest = inspect(args.wheelhouse)
    if args.json:
        echo(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
        return 0
    for line in manifest_lines(manifest):
        echo(line)
    return 0


def add_export(sub: Subparsers) -> None:
    parser = subcommand(
        sub,
        "export",
        "print a wheelhouse's pins as pylock.toml or requirements (name==version with hashes)",
    )
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
    parser.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "pip":
        from .._runtime.inspect import requirement_lines  # noqa: PLC0415

        for line in requirement_lines(args.wheelhouse, hashes=not args.no_hashes):
            echo(line)
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
    from .._build.export import checked_export  # noqa: PLC0415
    from .._runtime.inspect import no_pylock, read_stored  # noqa: PLC0415

    stored = read_stored(wheelhouse)
    if stored_only and stored.pylock is None:
        raise no_pylock(stored.uri)
    return checked_export(
        stored.manifest, stored.wheels, stored.pylock, origin=stored.uri, output=output
    )
