"""A Spark app run by the 3.10 test: its driver and its executors are Python 3.10.

Usage: python3.10 py310_app.py WHEELHOUSE OUT_JSON EXECUTOR_PYTHON MODULE...

Loads the wheelhouse through the public API, imports every module on the
executors, runs compiled code there, and writes what it saw to OUT_JSON.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    wheelhouse, out, executor_python, *modules = sys.argv[1:]
    import sparkdeps
    from sparkdeps._runtime.verify import run_probe
    from sparkdeps.testing.localspark import local_cluster_session

    spark = local_cluster_session(2, 1, 1024, python=executor_python, app_name="sparkdeps-py310")
    try:
        result = sparkdeps.load(wheelhouse, spark=spark)
        driver_files = {name: __import__(name).__file__ for name in modules}
        reports = run_probe(spark, modules, 8)
        compiled = [name for name in modules if "cext" in name]

        def compute(index: int) -> int:
            import importlib

            return int(importlib.import_module(compiled[0]).add(index, 100))

        values = spark.sparkContext.parallelize(range(4), 4).map(compute).collect()
        verified = sparkdeps.verify(spark, modules, partitions=8)
        payload = {
            "driver_version": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "result": result.to_dict(),
            "driver_files": driver_files,
            "reports": reports,
            "values": values,
            "verified_executors": list(verified.executors),
        }
    finally:
        spark.stop()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
