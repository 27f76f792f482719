"""What the load's delivery probe costs (docs/delivery.md; goal: at most 1 s on a warm session).

On a local Spark Connect session (``remote("local[2]")``, workers on a clean venv):

1. the first ``load()`` into a fresh session: its probe starts the Python workers;
2. a second wheelhouse loaded into the now warm session: its probe (``timings["probe"]``);
3. the probe alone on the warm session (``probe_executors``), median of ``--runs``.

Each wheelhouse is the load tests' five packages (pure, compiled, data), new names
each time so every probe imports for real. With ``--classic`` the same on
``local-cluster[2,1,1024]`` with ``probe=True``.

Run (its own network namespace, as the tests do)::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python benchmarks/probe_cost.py \\
        --json benchmarks/results/probe-cost.json'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names

from sparkdeps._runtime.load import load
from sparkdeps._runtime.probe import probe_executors
from sparkdeps.testing.localspark import clean_python, connect_session, local_cluster_session


def _wheelhouse(root: Path, tag: str) -> Path:
    return make_wheelhouse(root / "runs", load_test_wheels(root / f"wheels{tag}", tag=tag))


def measure(spark: Any, root: Path, runs: int, *, probe: bool | None) -> dict[str, float]:
    cache = root / "cache"
    first = load(_wheelhouse(root, "_bench1"), spark=spark, cache_dir=cache, probe=probe)
    second = load(_wheelhouse(root, "_bench2"), spark=spark, cache_dir=cache, probe=probe)
    alone = []
    names = module_names("_bench2")
    for _ in range(runs):
        started = time.perf_counter()
        result = probe_executors(spark, names)
        alone.append(time.perf_counter() - started)
        assert result.ok, result.describe()
    return {
        "load probe, fresh session (s)": first.timings["probe"],
        "load total, fresh session (s)": first.timings["total"],
        "load probe, warm session (s)": second.timings["probe"],
        "load total, warm session (s)": second.timings["total"],
        "probe alone, warm session, median (s)": statistics.median(alone),
        "probe alone, warm session, max (s)": max(alone),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--classic", action="store_true", help="local-cluster, probe=True")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sparkdeps-probe-bench-"))
    python = clean_python(root / "venv")
    if args.classic:
        spark = local_cluster_session(python=python, work_dir=root / "spark-home")
        kind = "classic local-cluster[2,1,1024], probe=True"
    else:
        spark = connect_session(python=python)
        kind = "Spark Connect local[2]"
    busy = os.getloadavg()[0]  # the machine is shared: say how busy it was
    try:
        rows = measure(spark, root, args.runs, probe=True if args.classic else None)
    finally:
        spark.stop()
    busy = max(busy, os.getloadavg()[0])
    print(f"probe cost on {kind} ({args.runs} runs; 1-minute load average up to {busy:.1f})")
    width = max(len(name) for name in rows)
    for name, value in rows.items():
        print(f"  {name:<{width}}  {value:7.3f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"session": kind, "runs": args.runs, "load_average": busy, "measures": rows}
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
