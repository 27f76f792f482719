# ruff: noqa: T201
"""Run the hardening corpus, the fault runs and the concurrency runs; print the tally.

Usage: python scripts/hardening_report.py [--with-spark] [--pipelines N] [--loaders N] [--keep]

Uses the same corpus and checker as ``tests/hardening`` (``tests/hardening/corpus.py``,
``tests/hardening/runs.py``). Everything happens under one temporary folder; traffic
stays on 127.0.0.1 (find-links folders, and a local index for the hanging-index run).
Exit code 0 when every line is as it must be.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO)]
for _key in [key for key in os.environ if key.startswith(("PIP_", "UV_"))]:
    del os.environ[_key]  # the machine's pip settings must not leak into the builds

from tests.hardening.corpus import (  # noqa: E402
    MAX_PEAK_MB,
    Outcome,
    make_resources,
    run_case,
)
from tests.hardening.corpus_runtime import ALL_CASES as CASES  # noqa: E402
from tests.hardening.runs import (  # noqa: E402
    ConcurrentRuns,
    cleanup_during_load,
    disk_full,
    executor_killed,
    kill_wheelhouse,
    load_disk_full,
    load_killed,
    loaders,
    pipelines,
    publish_killed,
    same_run_id,
    shared_wheelhouse,
)


def _corpus(root: Path, resources: Any) -> list[Outcome]:
    outcomes = []
    for case in CASES:
        outcomes.append(run_case(case, root / case.id, resources))
    return outcomes


def _index_faults(root: Path, resources: Any) -> list[tuple[str, bool, str]]:
    from tests.support.index import IndexServer

    from sparkdeps._build.publish import build
    from sparkdeps._core.errors import ResolutionError

    rows = []
    source = root / "requirements.txt"
    root.mkdir(parents=True, exist_ok=True)
    source.write_text("sdhard-dep\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    try:
        build(
            source,
            dest=root / "down",
            index_url=f"http://127.0.0.1:{port}/simple/",
            task_value_key=None,
        )
        rows.append(("index down (defaults)", False, "build succeeded?"))
    except ResolutionError as exc:
        took = time.monotonic() - started
        good = f"127.0.0.1:{port}" in str(exc) and took < 30
        rows.append(("index down (defaults)", good, f"ResolutionError after {took:.1f}s"))
    with IndexServer(resources.packages) as server:
        # requests still hanging when we leave end in broken pipes: keep them quiet
        server._httpd.handle_error = lambda *args: None  # type: ignore[method-assign]
        server.hang_seconds = 60
        started = time.monotonic()
        try:
            build(
                source,
                dest=root / "hang",
                index_url=server.url,
                index_timeout=2,
                index_retries=1,
                task_value_key=None,
            )
            rows.append(("index hanging (timeout 2s, 1 retry)", False, "build succeeded?"))
        except ResolutionError as exc:
            took = time.monotonic() - started
            good = "timed out" in str(exc) and took < 20
            rows.append(
                ("index hanging (timeout 2s, 1 retry)", good, f"ResolutionError after {took:.1f}s")
            )
    return rows


def _process_faults(root: Path, resources: Any) -> tuple[list[tuple[str, bool, str]], int]:

    rows = []
    half = 0
    killed = publish_killed(root / "publish-kill", resources)
    half += int(killed["final_present"])
    good = not killed["final_present"] and killed["next_ok"] and not killed["run_left"]
    rows.append(
        (
            "SIGKILL mid-publish",
            good,
            f"final name absent: {not killed['final_present']}; temp file left "
            f"{killed['partial_sizes']} bytes until cleanup; next run ok: {killed['next_ok']}",
        )
    )
    for at in ("start", "publish"):
        full = disk_full(root / f"disk-{at}", at)
        good = full["error"] == "StorageError" and not full["dest_left"] and not full["tmp_left"]
        half += len([p for p in full["dest_left"] if p.endswith((".zip", ".partial"))])
        rows.append(
            (
                f"file size limit from {at}",
                good,
                f"{full['error']}; left under dest: {full['dest_left'] or 'nothing'}",
            )
        )
    wheelhouse = kill_wheelhouse(root / "kill")
    redo = load_killed(root / "load-kill", wheelhouse, ["sdhard_kill0"])
    nxt = redo["next"]
    good = (
        redo["next_returncode"] == 0
        and nxt.get("reused") is False
        and redo["after_next"] == [nxt.get("digest")]
    )
    rows.append(
        (
            "SIGKILL mid-install (node cache)",
            good,
            f"partial folders left by the kill: {len(redo['after_kill'])}; "
            f"next load reused={nxt.get('reused')}, "
            f"install folders now {len(redo['after_next'])} (complete)",
        )
    )
    gone = cleanup_during_load(root / "cleanup-during-load", wheelhouse, ["sdhard_kill2"])
    good = gone["load_returncode"] == 0 and not gone["cleanup_error"] and not gone["run_left"]
    rows.append(
        (
            "cleanup of the run while a load reads it",
            good,
            f"cleanup removed {len(gone['cleanup_removed'])} paths "
            f"{gone['cleanup_error'] or 'without error'}; load exit {gone['load_returncode']}",
        )
    )
    full = load_disk_full(root / "load-disk-full")
    good = full.get("error") == "StorageError" and full.get("errno") == 28
    rows.append(
        (
            "load on a full disk (1 MiB tmpfs)",
            good,
            str(full.get("message", full) or "no tmpfs here (needs root and unshare -m)")[:160],
        )
    )
    return rows, half


def _spark(root: Path, resources: Any) -> tuple[str, bool, str]:
    code, report, stderr = executor_killed(root, resources)
    if code != 0 or not report:
        return ("executor SIGKILL after load", False, stderr.strip()[-300:])
    new = set(report["after"]["executors"]) - set(report["before"]["executors"])
    good = bool(report["replacement_ids"]) and report["after"]["ok"] and bool(new)
    return (
        "executor SIGKILL after load",
        good,
        f"killed executor {report['killed_executor']}, replacement {report['replacement_ids']}"
        f" after {report['waited_seconds']}s; imports ok on {len(report['after']['executors'])}"
        f" executor folders ({len(new)} new)",
    )


_PEAK_CHILD = """
import sys
sys.path[:0] = sys.argv[3:]
from sparkdeps._build.publish import build
try:
    build(sys.argv[1], dest=sys.argv[2], no_index=True, task_value_key=None, use_cache=False)
    outcome = "built"
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc).splitlines()[0][:90]
# VmHWM: this process's own peak (ru_maxrss may carry the parent's over fork and exec)
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(f"{int(peak.split()[1]) / 1024:.0f}|{outcome}")
"""


PATHS = (str(REPO / "src"), str(REPO))


def _lock_memory(root: Path) -> list[tuple[str, float, str]]:
    """Peak resident memory of a fresh process building each big lock file alone:
    the issue's sizes, refused, and files just under the 16 MB limit, parsed whole."""
    from tests.hardening.corpus import big_lock

    from sparkdeps._build.textread import MAX_TEXT_BYTES

    rows = []
    near = MAX_TEXT_BYTES - (64 << 10)
    for name, size in (
        ("poetry.lock", 83 << 20),
        ("pylock.toml", 42 << 20),
        ("poetry.lock", near),
        ("pylock.toml", near),
    ):
        folder = root / f"{name}-{size}"
        lock = big_lock(folder / "input" / name, size)
        done = subprocess.run(
            [sys.executable, "-c", _PEAK_CHILD, str(lock), str(folder / "dest"), *PATHS],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)  # never leave 100 MB behind
        peak, _, outcome = (done.stdout.strip().splitlines() or ["0|no answer"])[-1].partition("|")
        rows.append((f"{name} {size / (1 << 20):.1f} MB", float(peak), outcome))
    return rows


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--with-spark",
        action="store_true",
        help="also kill an executor on a local-cluster (about a minute)",
    )
    parser.add_argument("--pipelines", type=int, default=16)
    parser.add_argument("--loaders", type=int, default=8)
    parser.add_argument("--racers", type=int, default=6, help="builds racing for one run id")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sparkdeps-hardening-report-"))
    started = time.monotonic()
    try:
        resources = make_resources(root / "packages")
        outcomes = _corpus(root / "corpus", resources)
        locks = _lock_memory(root / "locks")
        faults = _index_faults(root / "index", resources)
        process_rows, fault_half = _process_faults(root / "faults", resources)
        faults += process_rows
        if args.with_spark:
            faults.append(_spark(root / "spark", resources))
        runs: list[ConcurrentRuns] = [
            pipelines(root / "pipelines", resources, count=args.pipelines),
        ]
        runs.append(same_run_id(root / "race", count=args.racers))
        shared = shared_wheelhouse(root / "shared", resources)
        runs.append(
            loaders(root / "loaders", shared, ["sdpipe_shared", "sdhard_dep"], count=args.loaders)
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print("Hostile-input corpus")
    widths = [40, 7, 24, 6, 8, 8, 5, 9, 9, 5, 7, 6]
    header = ["case", "phase", "error", "clear", "outside", "removed", "half", "installed"]
    print(_row([*header, "unchecked", "hung", "peakMB", "secs"], widths))
    for o in outcomes:
        print(
            _row(
                [
                    o.case,
                    o.phase,
                    o.error or "-",
                    "yes" if o.clear else "NO",
                    str(len(o.outside_writes)),
                    str(len(o.removed)),
                    str(len(o.half_written)),
                    "YES" if o.installed else "no",
                    str(len(o.unchecked)),
                    "YES" if o.hung else "no",
                    f"{o.peak_mb:.0f}",
                    f"{o.seconds:.2f}",
                ],
                widths,
            )
        )
        for problem in o.problems():
            print(f"    ! {problem}")
    print()
    print("Big lock files: peak memory of a process building each one alone (VmHWM)")
    for name, peak_mb, outcome in locks:
        mark = "ok  " if 0 < peak_mb < MAX_PEAK_MB else "FAIL"
        print(f"  {mark}  {name:22} {peak_mb:5.0f} MB  {outcome}")
    print()
    print("Faults")
    for name, good, detail in faults:
        print(f"  {'ok  ' if good else 'FAIL'}  {name}: {detail}")
    print()
    print("Concurrency")
    for run in runs:
        print(
            f"  {'ok  ' if run.ok else 'FAIL'}  {run.processes} {run.name}: "
            f"{run.succeeded}/{run.processes} succeeded in {run.seconds:.1f}s; "
            + "; ".join(run.notes)
        )
        for failure in run.failures:
            print(f"    ! {failure}")
    clear = sum(o.clear for o in outcomes)
    outside = sum(len(o.outside_writes) for o in outcomes)
    half = sum(len(o.half_written) for o in outcomes) + fault_half
    installed = sum(o.installed for o in outcomes)
    removed = sum(len(o.removed) for o in outcomes)
    hung = sum(o.hung for o in outcomes)
    unchecked = sum(bool(o.unchecked) for o in outcomes)
    peak = max((o.peak_mb for o in outcomes), default=0.0)
    raw = [o.case for o in outcomes if o.raw]
    print()
    print("Tally")
    print(
        f"  cases tried                        {len(outcomes)}"
        " ("
        + ", ".join(
            f"{sum(o.phase == phase for o in outcomes)} {phase}"
            for phase in ("build", "load", "cleanup", "export", "deliver", "twin")
        )
        + ")"
    )
    print(f"  clear errors                       {clear}/{len(outcomes)}")
    print(f"  files written outside work folder   {outside} (must be 0)")
    print(f"  wheelhouses left half-written      {half} (must be 0)")
    print(f"  hostile cases that installed       {installed} (must be 0)")
    print(f"  files removed outside sparkdeps'   {removed} (must be 0)")
    print(f"  installs of unchecked bytes        {unchecked} (must be 0)")
    print(f"  hostile cases that hung            {hung} (must be 0)")
    print(f"  raw (non-sparkdeps) errors         {len(raw)} (must be 0) {raw or ''}")
    print(f"  peak memory, worst hostile input   {peak:.0f} MB (must be < {MAX_PEAK_MB:.0f})")
    lock_peak = max((row[1] for row in locks), default=0.0)
    print(f"  peak memory, worst big lock file   {lock_peak:.0f} MB (a process of its own)")
    print(f"  faults handled                     {sum(g for _n, g, _d in faults)}/{len(faults)}")
    for run in runs:
        print(f"  concurrent: {run.processes} {run.name}: {'as required' if run.ok else 'FAILED'}")
    for run in runs:
        if run.name.startswith("builds racing"):
            winners = sum(bool(d.get("ok")) for d in run.details)
            print(f"  winners per contested run id       {winners} (must be 1)")
    print(f"  total time                         {time.monotonic() - started:.0f}s")
    good = (
        clear == len(outcomes)
        and outside == 0
        and half == 0
        and installed == 0
        and removed == 0
        and hung == 0
        and unchecked == 0
        and not raw
        and peak < MAX_PEAK_MB
        and all(0 < row[1] < MAX_PEAK_MB for row in locks)
        and all(g for _n, g, _d in faults)
        and all(run.ok for run in runs)
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
