"""The ``sparkdeps`` command line (``[project.scripts]`` and ``python -m sparkdeps``).

The package's rooms: ``arguments`` (``-v``/``-q``, the build options as flags, the
job requests), ``wheelhouse_commands`` (``build``, ``check``, ``inspect``, ``export``),
``cluster_commands`` (``process-deps``, ``cleanup``, ``load``, ``verify``, ``doctor``,
``runtime-freeze``, ``twin``), ``printing`` (what goes to stdout, the ``inspect``
table), ``errors`` (a failed command on stderr and as ``--json``) and ``console``
(log lines and the live progress line on stderr).

Progress goes through logging to stderr (``-v``/``-q``); results go to stdout,
where the last line of ``build`` is the wheelhouse URI (a script can take it
with ``tail -n 1``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .._core.errors import SparkdepsError
from .._version import __version__
from . import cluster_commands, wheelhouse_commands
from .arguments import Subparsers, verbosity
from .console import ConsoleHandler, live_progress
from .errors import report

__all__ = ["build_parser", "main"]

logger = logging.getLogger("sparkdeps")

Command = Callable[[argparse.Namespace], int]

_ADDERS: tuple[Callable[[Subparsers], None], ...] = (
    wheelhouse_commands.add_build,
    wheelhouse_commands.add_check,
    wheelhouse_commands.add_inspect,
    wheelhouse_commands.add_export,
    cluster_commands.add_process_deps,
    cluster_commands.add_load,
    cluster_commands.add_session_conf,
    cluster_commands.add_verify,
    cluster_commands.add_cleanup,
    cluster_commands.add_runtime_freeze,
    cluster_commands.add_doctor,
    cluster_commands.add_twin,
)
"""The commands in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The whole argparse tree (also what docs/reference/cli.md renders)."""
    parser = argparse.ArgumentParser(
        prog="sparkdeps",
        description="Build wheelhouses for Spark clusters and load them on every node.",
    )
    parser.add_argument("--version", action="version", version=f"sparkdeps {__version__}")
    verbosity(parser, suppress=False)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (1 on a ``SparkdepsError``, 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    # main() is also called in-process (job entry points, tests): leave logging as found
    saved = (logger.handlers[:], logger.level, logger.propagate)
    console = _configure_logging(args.verbose, args.quiet)
    handler: Command = args.handler
    try:
        with live_progress(console, sys.stderr, enabled=args.verbose - args.quiet >= 0):
            return handler(args)
    except SparkdepsError as exc:
        report(exc, as_json=getattr(args, "json", False))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("sparkdeps: interrupted\n")
        return 130
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
