# ruff: noqa: T201
"""Download, once, the wheels the install-footprint tests serve on 127.0.0.1.

For every runtime profile: the real wheels of sparkdeps' plain-install dependencies
(and theirs) at the versions that profile ships (tests/support/floors.py says why).
This is the one step that leaves the machine, like ``pip install`` before it (the
machine's own pip settings are kept: this is the ordinary client); wheels already in
the folder are not downloaded again, so a second run needs no network.

    python scripts/fetch_floor_wheels.py [--dest .cache/floor-wheels]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.floors import (  # noqa: E402  (the repository root goes on sys.path first)
    FLOOR_WHEELS,
    closure,
    every_profile,
    runtime_requirements,
)

_MISSING = "missing wheel "


def _download(pin: str, dest: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--no-input", "-d", str(dest), pin]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(
            f"fetch_floor_wheels: `{' '.join(command)}` failed ({completed.returncode}):\n"
            f"{completed.stderr[-3000:]}\nCheck the network to the package index, then run again."
        )


def fetch(dest: Path) -> list[str]:
    """Download what is missing; return the problems that downloading cannot fix."""
    dest.mkdir(parents=True, exist_ok=True)
    requirements = runtime_requirements()
    for _round in range(10):  # each round reaches one level deeper into Requires-Dist
        problems: set[str] = set()
        for profile in every_profile():
            problems.update(closure(profile, dest, requirements)[1])
        missing = sorted(p[len(_MISSING) :] for p in problems if p.startswith(_MISSING))
        if not missing:
            return sorted(problems)
        for pin in missing:
            print(f"fetch_floor_wheels: downloading {pin}", file=sys.stderr)
            _download(pin, dest)
    raise SystemExit("fetch_floor_wheels: the dependency closure did not close in 10 rounds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=FLOOR_WHEELS)
    args = parser.parse_args(argv)
    problems = fetch(args.dest)
    wheels = sorted(path.name for path in args.dest.glob("*.whl"))
    print(f"fetch_floor_wheels: {len(wheels)} wheels in {args.dest}: {', '.join(wheels)}")
    for problem in problems:  # the tests fail on these; say so early
        print(f"fetch_floor_wheels: warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUTF8", "1")
    raise SystemExit(main())
