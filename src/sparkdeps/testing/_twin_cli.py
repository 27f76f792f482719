"""``sparkdeps twin PROFILE DIR``: the arguments and the handler (wired in ``_cli``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from .twin import create_twin

__all__ = ["add_twin_arguments", "run_twin"]


def add_twin_arguments(parser: argparse.ArgumentParser) -> None:
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


def run_twin(args: argparse.Namespace, echo: Callable[[str], None]) -> int:
    twin = create_twin(
        args.profile,
        args.dir,
        python=args.python,
        packages=args.packages,
        pyspark=args.pyspark,
        index_url=args.index_url,
        find_links=args.find_links,
        no_index=args.no_index,
    )
    if args.json:
        payload = {
            "profile": twin.profile,
            "python": str(twin.python),
            "python_version": twin.python_version,
            "pyspark": twin.pyspark_version,
            "packages": twin.packages,
            "digest": twin.digest,
            "reused": twin.reused,
            "installed": dict(twin.installed),
            "not_installed": [item.__dict__ for item in twin.not_installed],
        }
        echo(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    state = "reused" if twin.reused else "created"
    echo(
        f"{state} twin of {twin.profile}: Python {twin.python_version}, "
        f"pyspark {twin.pyspark_version}, {len(twin.installed)} packages ({twin.packages})"
    )
    for item in twin.not_installed:
        echo(f"  not installed: {item.name}=={item.version}: {item.reason}")
    echo(str(twin.python))  # the last line, for scripts
    return 0
