"""What replacing a wheelhouse in a live session needs, and what it costs.

On ``local-cluster[2,1,1024]`` (clean executor venv), for ``spark.python.worker.reuse``
true and false:

1. load a wheelhouse with ``sdswap`` 1.0 and import it on the executors;
2. load one with ``sdswap`` 2.0 (``replace=True`` where allowed) and import again:
   which version does each task see?
3. the cost: median wall time of a small job (8 tasks, each importing ``sdswap``)
   over 15 runs.

Run: ``SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/worker_reuse.py``.
Results go to stdout as JSON lines; docs/facts.md cites them.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import SessionConflictError
from sparkdeps._runtime.load import load
from sparkdeps.testing.localspark import clean_python, local_cluster_session


def _versions(spark: Any, tasks: int = 8) -> list[str]:
    def probe(_: Any) -> str:
        import sdswap

        return str(sdswap.VERSION)

    return sorted(spark.sparkContext.parallelize(range(tasks), tasks).map(probe).collect())


def _median_job(spark: Any, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _versions(spark)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="sparkdeps-reuse-"))
    houses = {}
    for version in ("1.0", "2.0"):
        files = {"sdswap/__init__.py": f"VERSION = '{version}'\n"}
        wheel = make_wheel(root / f"w{version}", "sdswap", version, files)
        houses[version] = make_wheelhouse(root / "runs", [wheel])
    python = clean_python(root / "venv")
    for reuse in ("true", "false"):
        spark = local_cluster_session(
            python=python, conf={"spark.python.worker.reuse": reuse}, app_name=f"reuse-{reuse}"
        )
        try:
            load(houses["1.0"], spark=spark, cache_dir=root / "cache")
            first = _versions(spark)
            cost = _median_job(spark)
            try:
                load(houses["2.0"], spark=spark, cache_dir=root / "cache", replace=True)
                outcome = "replaced"
            except SessionConflictError as exc:
                outcome = "refused: " + str(exc).splitlines()[-1][:80]
            after = _versions(spark)
            row = {"worker_reuse": reuse, "before": first, "median_job_s": round(cost, 3),
                   "second_load": outcome, "after": after}  # fmt: skip
            print(json.dumps(row), flush=True)
        finally:
            spark.stop()


if __name__ == "__main__":
    main()
