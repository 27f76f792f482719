"""Executors fetching the wheelhouse from storage against fetching it from the driver.

The wheelhouse (one wheel carrying ``--size-mb`` MB of incompressible data) lives on an
S3-compatible store on 127.0.0.1 (moto's server, tests/support/s3server.py). For 2 and 4
executors (``local-cluster[N,1,768]``, executors on a clean venv), each route runs in a
fresh Spark application (a child process), alternating the order:

- ``driver``: ``SPARKDEPS_PRESIGN_SECONDS=0``: the driver downloads the wheelhouse and
  serves it to every executor (``addArchive`` of a local file);
- ``storage``: the driver hands ``addArchive`` a presigned URL: every executor downloads
  the wheelhouse from the store, the driver serves only the stub zip;
- ``none``: the same application and job without ``load()``, the baseline.

Measured per run: the driver's egress, the bytes its JVM sent on its TCP connections
(``ss -ti``'s ``bytes_sent`` of every established socket the JVM owns, read after the
job: Spark keeps its RPC and file-download connections open for the application's life;
the py4j gateway to the Python driver is among them, a few KB), the store's egress (its
GETs of the wheelhouse, from its request log, times the wheelhouse's size), and the wall
time of ``load()`` plus the first job that imports the package on every executor.
Prints a table and writes JSON.

Run (its own network namespace keeps Spark on loopback)::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python benchmarks/executor_fetch.py'
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUCKET = "sparkdeps-bench"
ROUTES = ("driver", "storage")
BASELINE = "none"
"""The same application and job without a wheelhouse: what the driver writes anyway."""


def _bytes_sent(pid: int) -> int:
    """Bytes sent on the established TCP sockets ``pid`` owns (``ss -tinpH``)."""
    out = subprocess.run(
        ["ss", "-tinpH", "state", "established"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    total, mine = 0, False
    for line in out:
        if not line.startswith(("\t", " ")):  # a socket's first line: who owns it
            mine = f"pid={pid}," in line
            continue
        if mine:
            for field in line.split():
                if field.startswith("bytes_sent:"):
                    total += int(field.split(":", 1)[1])
    return total


def _wheelhouse(root: Path, size_mb: int) -> Path:
    from tests.support.wheelhouses import make_wheelhouse
    from tests.support.wheels import make_wheel

    files: dict[str, str | bytes] = {
        "sdbench_fetch/__init__.py": "from pathlib import Path\nHERE = Path(__file__).parent\n",
        "sdbench_fetch/blob.bin": os.urandom(size_mb * 1024 * 1024),
    }
    wheel = make_wheel(root / "wheels", "sdbench-fetch", "1.0", files)
    return make_wheelhouse(root / "runs", [wheel])


def _child(args: argparse.Namespace) -> None:
    """One Spark application: load from S3 by ``args.route``, then a job on every executor."""
    from sparkdeps._runtime.load import load
    from sparkdeps.testing.localspark import local_cluster_session

    if args.route == "driver":
        os.environ["SPARKDEPS_PRESIGN_SECONDS"] = "0"
    # one fetch per executor, as with one executor per node (docs/facts.md, fact 22)
    spark = local_cluster_session(
        args.executors,
        1,
        768,
        python=args.python,
        work_dir=args.workdir,
        wait_seconds=180,
        conf={"spark.files.useFetchCache": "false"},
    )
    context = spark.sparkContext
    jvm_pid = int(context._jvm.java.lang.ProcessHandle.current().pid())
    tasks = args.executors * 4

    def probe(_: Any) -> str:
        import socket

        if args.route != BASELINE:
            import sdbench_fetch

            assert sdbench_fetch.HERE.is_dir()
        return f"{socket.gethostname()}:{os.getpid()}:{os.environ.get('SPARK_EXECUTOR_ID', '')}"

    before = _bytes_sent(jvm_pid)
    started = time.perf_counter()
    result = load(args.uri, spark=spark, cache_dir=args.cache) if args.route != BASELINE else None
    loaded = time.perf_counter()
    answers = context.parallelize(range(tasks), tasks).map(probe).collect()
    done = time.perf_counter()
    after = _bytes_sent(jvm_pid)
    archives = [a for a in context.listArchives if "sparkdeps_" in a]
    spark.stop()
    print(
        json.dumps(
            {
                "driver_bytes": after - before,
                "load_s": loaded - started,
                "first_job_s": done - loaded,
                "total_s": done - started,
                "workers": len(set(answers)),
                "from_store": all(a.startswith("http") for a in archives),
                "payload": result.payload if result is not None else None,
            }
        )
    )


def _run_one(
    args: argparse.Namespace, store: Any, executors: int, route: str, uri: str, scratch: Path
) -> dict[str, Any]:
    env = {**os.environ, **store.env(), "PYTHONPATH": str(REPO)}
    command = [sys.executable, __file__, "--child", route, "--executors", str(executors)]
    command += ["--uri", uri, "--python", str(args.python), "--workdir", str(scratch / "home")]
    command += ["--cache", str(Path(tempfile.mkdtemp(dir=scratch, prefix="cache-")))]
    seen = len(store.requests())
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    key = "/" + uri.removeprefix("s3://")
    gets = [
        (path, agent)
        for method, path, agent in store.requests()[seen:]
        if method == "GET" and path.split("?")[0] == key
    ]
    if completed.returncode != 0:
        raise RuntimeError(f"{route} x{executors} failed:\n{completed.stderr[-4000:]}")
    row: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    size = int(args.size_bytes)
    executor_gets = sum(1 for _, agent in gets if agent.startswith("Java/"))
    row.update(route=route, executors=executors, store_bytes=len(gets) * size)
    row.update(store_gets=len(gets), executor_gets=executor_gets)
    return row


def _baseline(rows: list[dict[str, Any]], executors: int) -> float:
    mine = [
        r["driver_bytes"] for r in rows if r["executors"] == executors and r["route"] == BASELINE
    ]
    return statistics.median(mine) if mine else 0.0


def _table(rows: list[dict[str, Any]], size: int) -> str:
    lines = [
        f"wheelhouse: {size / 1e6:.2f} MB; medians; {BASELINE!r}: the same application and "
        "job without load() (what the driver sends anyway)",
        "| executors | route | driver egress MB | above baseline MB | store egress MB (GETs) "
        "| load + first job s | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for executors in sorted({row["executors"] for row in rows}):
        base = _baseline(rows, executors)
        for route in (*ROUTES, BASELINE):
            mine = [r for r in rows if r["executors"] == executors and r["route"] == route]
            if not mine:
                continue
            driver = statistics.median(r["driver_bytes"] for r in mine) / 1e6
            above = (statistics.median(r["driver_bytes"] for r in mine) - base) / 1e6
            store = statistics.median(r["store_bytes"] for r in mine) / 1e6
            gets = statistics.median(r["store_gets"] for r in mine)
            seconds = statistics.median(r["total_s"] for r in mine)
            lines.append(
                f"| {executors} | {route} | {driver:.3f} | {above:.3f} | {store:.2f} ({gets:g}) | "
                f"{seconds:.2f} | {len(mine)} |"
            )
    return "\n".join(lines)


def _paper(rows: list[dict[str, Any]], size: int, executors: int = 1000) -> dict[str, Any]:
    """The 1,000-executor figure, from the measured bytes per executor."""
    per: dict[str, float] = {}
    for route in ROUTES:
        mine = [r for r in rows if r["route"] == route]
        per[route] = statistics.median(
            max(0.0, r["driver_bytes"] - _baseline(rows, r["executors"])) / r["executors"]
            for r in mine
        )
    return {
        "executors": executors,
        "driver_egress_GB": {route: per[route] * executors / 1e9 for route in ROUTES},
        "seconds_at_10_Gbit_s": {route: per[route] * executors * 8 / 10e9 for route in ROUTES},
        "store_egress_GB": {"driver": 0.0, "storage": size * executors / 1e9},
        "driver_egress_per_executor_bytes": per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=(*ROUTES, BASELINE))
    parser.add_argument("--executors", default="2,4")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--size-mb", type=int, default=25)
    parser.add_argument("--uri")
    parser.add_argument("--python", type=Path)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--report", type=Path, help="print the table of a JSON written before")
    args = parser.parse_args()
    if args.report:
        report = json.loads(args.report.read_text())
        print(_table(report["rows"], report["wheelhouse_bytes"]))
        print(json.dumps(_paper(report["rows"], report["wheelhouse_bytes"]), indent=2))
        return
    if args.child:
        args.executors = int(args.executors)
        args.route = args.child
        _child(args)
        return
    _parent(args)


def _parent(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="sparkdeps-fetch-bench-"))
    try:
        _measure(args, scratch)
    finally:  # executor venv, Spark homes, caches: about 2 GB after 12 applications
        shutil.rmtree(scratch, ignore_errors=True)


def _measure(args: argparse.Namespace, scratch: Path) -> None:
    from tests.support.s3server import S3Server

    from sparkdeps._core.storage import storage_for
    from sparkdeps.testing.localspark import clean_python

    args.python = clean_python(scratch / "executor-venv")
    local = _wheelhouse(scratch, args.size_mb)
    size = local.stat().st_size
    args.size_bytes = size
    rows: list[dict[str, Any]] = []
    with S3Server(log=scratch / "s3-requests.log") as store:
        store.create_bucket(BUCKET)
        os.environ.update(store.env())
        run = f"s3://{BUCKET}/runs/{local.parent.name}"
        for name in ("run.json", "wheelhouse.zip"):
            storage_for(run).publish(local.parent / name, f"{run}/{name}")
        for round_ in range(args.runs):
            for executors in (int(n) for n in args.executors.split(",")):
                routes = (*ROUTES, BASELINE)
                order = routes if round_ % 2 == 0 else routes[::-1]
                for route in order:
                    row = _run_one(args, store, executors, route, f"{run}/wheelhouse.zip", scratch)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    report = {"wheelhouse_bytes": size, "rows": rows, "paper": _paper(rows, size)}
    out = args.json or REPO / "benchmarks" / "out" / f"executor_fetch-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(_table(rows, size))
    print(json.dumps(report["paper"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
