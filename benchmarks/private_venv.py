"""What ``process-deps --private-venv`` adds to a job run beyond the build (issue 25).

The private venv of ``three_task_job``'s ``process_deps`` task: ``python -m venv`` and
``pip install 'sparkdeps[build]==<version>'`` into it, cold (a fresh node cache: a new
cluster's first run) and warm (the venv reused on the node). The wheels are served on
127.0.0.1: sparkdeps built from this tree, its build extra repackaged from this venv
(as tests/jobs/test_private_venv.py does), so no index traffic is timed.

    python benchmarks/private_venv.py [--runs 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests.support.index import IndexServer  # noqa: E402
from tests.support.wheels import wheel_from_installed  # noqa: E402

from sparkdeps._jobs.private_venv import default_build_requirement, ensure_private_venv  # noqa: E402

BUILD_EXTRA = ("packaging", "build", "pyproject-hooks", "pip", "setuptools", "wheel", "uv")


def _index_folder(folder: Path) -> None:
    for name in BUILD_EXTRA:
        wheel_from_installed(name, folder)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(folder), str(REPO)], check=True, capture_output=True)


def _one(index: IndexServer, cache: Path) -> dict[str, float]:
    started = time.perf_counter()
    cold = ensure_private_venv(default_build_requirement(), [f"--index-url={index.url}"], cache)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = ensure_private_venv(default_build_requirement(), [f"--index-url={index.url}"], cache)
    warm_s = time.perf_counter() - started
    assert not cold.reused and warm.reused
    return {"cold_s": cold_s, "warm_s": warm_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.pop("PIP_INDEX_URL", None)
    with tempfile.TemporaryDirectory(prefix="sparkdeps-bench-venv-") as scratch:
        folder = Path(scratch) / "index"
        _index_folder(folder)
        samples = []
        with IndexServer(folder) as index:
            for run in range(args.runs):
                cache = Path(scratch) / f"cache-{run}"
                samples.append({**_one(index, cache), "loadavg": os.getloadavg()[0]})
                shutil.rmtree(cache, ignore_errors=True)
                print(f"run {run + 1}: {samples[-1]}", flush=True)
    summary = {
        key: statistics.median(sample[key] for sample in samples) for key in ("cold_s", "warm_s")
    }
    print(
        f"private venv, cold (venv + pip install): median {summary['cold_s']:.1f} s; "
        f"warm (reused): {summary['warm_s'] * 1000:.0f} ms; n={len(samples)}"
    )
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "median": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
