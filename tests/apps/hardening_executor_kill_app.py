"""Kill an executor after ``load`` on a real local-cluster; its replacement must import.

Usage: python hardening_executor_kill_app.py OPTIONS_JSON  (``root``, ``find_links``)

Builds a wheelhouse (a pure dependency chain from find-links plus a compiled wheel),
starts ``local-cluster[2,1,1024]`` with executors on a clean venv, loads, probes the
imports, SIGKILLs one executor JVM (``CoarseGrainedExecutorBackend`` of this app, found
with ``ps``), waits for the standalone master to launch a replacement, probes again
and runs ``verify``. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MODULES = ["sdhard_dep", "sdhard_leaf", "sdhard_killcext"]


def _executors(app_id: str) -> dict[int, str]:
    """pid -> executor id of this app's executor JVMs."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True
    ).stdout
    found: dict[int, str] = {}
    for line in listing.splitlines():
        if "CoarseGrainedExecutorBackend" not in line or app_id not in line:
            continue
        pid, _, args = line.strip().partition(" ")
        words = args.split()
        executor = words[words.index("--executor-id") + 1] if "--executor-id" in words else "?"
        found[int(pid)] = executor
    return found


def _probe(spark: Any, partitions: int) -> dict[str, Any]:
    from sparkdeps._runtime.verify import run_probe

    reports = run_probe(spark, MODULES, partitions)
    files, failures = [], []
    for report in reports:
        for name, outcome in report["imports"].items():
            if outcome["ok"]:
                files.append(outcome["file"])
                # split into the application's folder above the executor's own
                node = os.path.dirname(report["spark_files"]) + os.sep
                if not outcome["file"].startswith(node):
                    failures.append(f"{name} from {outcome['file']}, outside the Spark files")
            else:
                failures.append(f"{name} on {report['cwd']}: {outcome['error']}")
    return {
        "ok": not failures,
        "failures": failures,
        "executors": sorted({report["spark_files"] for report in reports}),
        "files": sorted(set(files)),
    }


def _probe_until_new(spark: Any, before: set[str], wait_seconds: float = 60) -> dict[str, Any]:
    """Probes until the replacement answered (merged): one job's tasks all go to the other
    executor while the new one is busy with its first task (a background warm-up)."""
    merged: dict[str, Any] = {"ok": True, "failures": [], "executors": [], "files": []}
    deadline = time.monotonic() + wait_seconds
    while True:
        found = _probe(spark, 16)
        merged["ok"] = merged["ok"] and found["ok"]
        for key in ("failures", "executors", "files"):
            merged[key] = sorted(set(merged[key]) | set(found[key]))
        if set(merged["executors"]) - before or time.monotonic() > deadline:
            return merged
        time.sleep(1)


def main() -> int:
    options = json.loads(sys.argv[1])
    root = Path(options["root"])
    from tests.support.wheels import make_cext_wheel

    from sparkdeps._build.publish import build
    from sparkdeps._runtime.cleanup import cleanup
    from sparkdeps._runtime.load import load
    from sparkdeps._runtime.verify import verify
    from sparkdeps.testing.localspark import clean_python, local_cluster_session

    source = root / "input"
    source.mkdir(parents=True)
    (source / "requirements.txt").write_text("sdhard-dep\n")
    make_cext_wheel(
        source, "sdhard-killcext", "1.0", module="sdhard_killcext", python=sys.executable
    )
    built = build(
        source,
        dest=root / "dest",
        no_index=True,
        find_links=[options["find_links"]],
        task_value_key=None,
    )
    python = clean_python(root / "clean-venv")
    spark = local_cluster_session(2, 1, 1024, python=python, work_dir=root / "spark")
    report: dict[str, Any] = {"uri": built.uri}
    try:
        loaded = load(built.uri, spark=spark)
        report["delivery"] = loaded.delivery
        report["before"] = _probe(spark, 8)
        app_id = spark.sparkContext.applicationId
        before = _executors(app_id)
        report["executor_pids_before"] = sorted(before)
        victim = min(before)
        report["killed_pid"] = victim
        report["killed_executor"] = before[victim]
        os.kill(victim, signal.SIGKILL)
        tracker = spark.sparkContext._jsc.sc()
        deadline = time.monotonic() + 120
        replacements: list[str] = []
        while time.monotonic() < deadline:
            now = _executors(app_id)
            replacements = sorted(set(now.values()) - set(before.values()))
            registered = int(tracker.getExecutorMemoryStatus().size()) - 1
            if replacements and registered >= 2 and victim not in now:
                break
            time.sleep(0.5)
        report["replacement_ids"] = replacements
        report["waited_seconds"] = round(120 - (deadline - time.monotonic()), 1)
        report["after"] = _probe_until_new(spark, set(report["before"]["executors"]))
        checked = verify(spark, MODULES, partitions=16)
        report["verify_executors"] = list(checked.executors)
        report["cleanup"] = list(cleanup(built.run_uri).removed)
    finally:
        spark.stop()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
