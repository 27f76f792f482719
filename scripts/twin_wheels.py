# ruff: noqa: T201
"""Fetch, once, the wheels the runtime-twin tests serve from their 127.0.0.1 index.

Usage: python scripts/twin_wheels.py [--dest DIR] [--profile dbr-14.3 ...]

The tests must send traffic only to 127.0.0.1, and a twin holds the runtime's
pyspark, numpy, pandas and pyarrow at the runtime's versions. This setup step (part
of README's test command and .ci/run, before pytest) downloads them from PyPI for
the runtime's Python and platform, and builds the pyspark wheel (pyspark is
published as an sdist only). A second run finds everything and returns at once.

DIR: --dest, else $SPARKDEPS_TEST_WHEELS, else ~/.cache/sparkdeps-test-wheels;
the tests read the same place (tests/support/twins.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src")]

from sparkdeps.testing.twin import twin_spec  # noqa: E402

PROFILES = ("dbr-14.3", "dbr-17.3")
TEST_TOOLS = ("pytest>=8",)
# numpy 2 for 3.10 (the dbr-14.3 counter-test ships it); pyarrow 14.0.2 for 3.12 was
# compiled against numpy 1.x (the dbr-17.3 counter-test ships it onto numpy 2.1.3).
# pip download evaluates markers for the host (docs/facts.md, fact 5): pytest's
# python_version < "3.11" dependencies are named for 3.10.
EXTRA = {
    "dbr-14.3": ("numpy==2.2.6", "exceptiongroup", "tomli", "typing-extensions"),
    "dbr-17.3": ("pyarrow==14.0.2",),
}
PLATFORMS = ("manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64")


def default_dest() -> Path:
    chosen = os.environ.get("SPARKDEPS_TEST_WHEELS")
    return Path(chosen) if chosen else Path.home() / ".cache" / "sparkdeps-test-wheels"


def pip(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    command = [sys.executable, "-m", "pip", *args]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = completed.stdout[-3000:] + completed.stderr[-3000:]
        sys.exit(f"failed: {' '.join(command)}\n{output}")


def fetch(profile: str, dest: Path) -> None:
    spec = twin_spec(profile)
    stamp_text = f"{spec.digest}\n{PLATFORMS}\n{TEST_TOOLS}\n{EXTRA.get(profile)}\n"
    stamp = dest / f".{profile}.done"
    if stamp.exists() and stamp.read_text() == stamp_text:
        print(f"{profile}: wheels already in {dest}")
        return
    version = spec.python_version
    abi = "cp" + version.replace(".", "")
    wheel = dest / f"pyspark-{spec.pyspark_version}-py2.py3-none-any.whl"
    if not wheel.exists():
        print(f"{profile}: building the pyspark {spec.pyspark_version} wheel (a few minutes)")
        pip("wheel", "--no-deps", "-q", "-w", str(dest), f"pyspark=={spec.pyspark_version}")
    with tempfile.TemporaryDirectory() as scratch:
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in spec.constraints.items()))
        target = ["--only-binary=:all:", "--implementation", "cp", "--python-version", version]
        target += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
        for platform in PLATFORMS:
            target += ["--platform", platform]
        pins = [f"{n}=={v}" for n, v in spec.core.items()]
        print(f"{profile}: downloading {len(pins)} core package(s) and their dependencies")
        pip("download", "-q", "-d", str(dest), *target, "-c", str(constraints), str(wheel), *pins)
        # pytest runs inside the twin in the plugin test; EXTRA feeds the end-to-end tests
        pip("download", "-q", "-d", str(dest), *target, *TEST_TOOLS, *EXTRA.get(profile, ()))
    stamp.write_text(stamp_text)
    digest = hashlib.sha256(stamp_text.encode()).hexdigest()[:12]
    print(f"{profile}: ready in {dest} ({digest})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--profile", action="append", choices=PROFILES)
    args = parser.parse_args()
    dest = (args.dest or default_dest()).expanduser().absolute()
    dest.mkdir(parents=True, exist_ok=True)
    for profile in args.profile or PROFILES:
        fetch(profile, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
