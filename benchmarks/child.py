"""What one measured child process does; prints one JSON line (the last line of stdout).

    child.py load     --wheelhouse W --cache-dir C            driver-only load (cold or warm)
    child.py executor --wheelhouse W --cache-dir C --python P [--no-imports]

Executor readiness: a fresh local-cluster session, one untimed job with the
same UDF and no imports (JVM warm-up, Python workers started), then ``load``
(unless --no-imports), then the timed job: the UDF importing every top-level
module of the wheelhouse on every executor (or nothing).

Peak memory: ``ru_maxrss`` after the imports (the baseline) and after ``load``;
also Linux's VmHWM reset to the current RSS just before ``load`` (write 5 to
/proc/self/clear_refs), which is the peak *during* load even if the imports
peaked higher.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _load_function() -> Any:
    try:
        from sparkdeps import load
    except ImportError:  # the public face imports modules that may not exist yet
        from sparkdeps._runtime.load import load
    return load


def _memory_before() -> dict[str, Any]:
    return {
        "rss_base_mb": _maxrss_mb(),
        "rss_current_mb": _status_mb("VmRSS"),
        "hwm_reset": _reset_hwm(),
    }


def _memory_after(before: dict[str, Any]) -> dict[str, Any]:
    after = _maxrss_mb()
    hwm = _status_mb("VmHWM") if before["hwm_reset"] else None
    return {
        **before,
        "rss_peak_mb": after,
        "rss_delta_mb": after - before["rss_base_mb"],
        "hwm_during_mb": hwm,
        "hwm_delta_mb": (hwm - before["rss_current_mb"])
        if hwm and before["rss_current_mb"]
        else None,
    }


def _check_importable(folder: Path, top_level: tuple[str, ...]) -> list[str]:
    """Top-level names that do not resolve inside ``folder`` (not timed)."""
    wrong = []
    for name in top_level:
        spec = importlib.util.find_spec(name)
        origin = (spec.origin or "") if spec else ""
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not any(str(p).startswith(str(folder)) for p in [origin, *locations]):
            wrong.append(name)
    return wrong


def cmd_load(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    load = _load_function()
    imported = time.perf_counter() - started
    before = _memory_before()
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    result = load(args.wheelhouse, delivery="driver-only", cache_dir=args.cache_dir)
    seconds = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    memory = _memory_after(before)
    not_importable = _check_importable(result.folder, tuple(result.top_level))
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "import_seconds": imported,
        "reused": result.reused,
        "folder": str(result.folder),
        "timings": dict(result.timings),
        "not_importable": not_importable,
        **memory,
    }


def _probe(names: tuple[str, ...]) -> Any:
    def probe(_value: int) -> str:
        import importlib
        import os as _os
        import time as _time

        entered = _time.time()  # wall clock: compared with the driver's job start
        failed = []
        files = {}
        for name in names:
            try:
                module = importlib.import_module(name)
                files[name] = getattr(module, "__file__", None) or ""
            except Exception as exc:
                failed.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        answer = {
            "executor": _os.getcwd(),
            "failed": failed,
            "files": files,
            "entered": entered,
            "import_s": _time.time() - entered,
        }
        return json.dumps(answer)

    return probe


def cmd_executor(args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql.functions import udf
    from pyspark.sql.types import StringType

    from sparkdeps.testing.localspark import local_cluster_session

    spark = local_cluster_session(2, 1, 1024, python=args.python, app_name="sparkdeps-bench")
    partitions = 8  # several tasks per executor, so every executor runs the UDF

    def probe_frame(names: tuple[str, ...]) -> Any:
        udf_probe = udf(_probe(names), StringType())
        return spark.range(0, partitions, 1, partitions).select(udf_probe("id").alias("probe"))

    try:
        # A first job before anything is timed: the JVMs' warm-up and the start of the
        # executors' Python workers are the same with or without sparkdeps.
        t0 = time.perf_counter()
        warmup_executors = {json.loads(row.probe)["executor"] for row in probe_frame(()).collect()}
        first_job = time.perf_counter() - t0
        names: tuple[str, ...] = ()
        memory: dict[str, Any] = {}
        load_seconds = None
        if not args.no_imports:
            load = _load_function()
            before = _memory_before()
            t0 = time.perf_counter()
            result = load(args.wheelhouse, spark=spark, cache_dir=args.cache_dir)
            load_seconds = time.perf_counter() - t0
            memory = _memory_after(before)
            names = tuple(result.top_level)
        frame = probe_frame(names)
        t0, epoch = time.perf_counter(), time.time()
        rows = frame.collect()
        seconds = time.perf_counter() - t0
        answers = [json.loads(row.probe) for row in rows]
        executors = sorted({a["executor"] for a in answers})
        failed = sorted({f for a in answers for f in a["failed"]})
        outside = sorted(
            {
                f"{name}: {file}"
                for a in answers
                for name, file in a["files"].items()
                if file and "sparkdeps_" not in file and "/userFiles-" not in file
            }
        )
        return {
            "seconds": seconds,
            "load_seconds": load_seconds,
            "first_job_seconds": first_job,
            # Where the time goes: job start to the first UDF call on each executor (task
            # dispatch, archive fetch and unpack, worker start), and the slowest task's imports.
            "to_first_call_s": {
                ex: min(a["entered"] for a in answers if a["executor"] == ex) - epoch
                for ex in executors
            },
            "import_s_max": max(a["import_s"] for a in answers),
            "warmup_executors": len(warmup_executors),
            "executors": executors,
            "imports": len(names),
            "import_failures": failed,
            "imported_outside_payload": outside[:10],
            **memory,
        }
    finally:
        spark.stop()


def main() -> int:
    if str(SRC) not in sys.path and importlib.util.find_spec("sparkdeps") is None:
        sys.path.insert(0, str(SRC))
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load")
    p_load.add_argument("--wheelhouse", required=True)
    p_load.add_argument("--cache-dir", required=True)
    p_exec = sub.add_parser("executor")
    p_exec.add_argument("--wheelhouse", required=True)
    p_exec.add_argument("--cache-dir", required=True)
    p_exec.add_argument("--python", required=True)
    p_exec.add_argument("--no-imports", action="store_true")
    args = parser.parse_args()
    handlers = {"load": cmd_load, "executor": cmd_executor}
    out = handlers[args.command](args)
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUTF8", "1")
    raise SystemExit(main())
