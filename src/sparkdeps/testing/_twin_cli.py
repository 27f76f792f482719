"""``sparkdeps twin PROFILE DIR``: the handler (its arguments are in ``_cli``, with every
command's, so that parsing imports no twin machinery)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from .twin import create_twin

__all__ = ["run_twin"]


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
