"""Executors' first import of a whole wheelhouse, without Spark (issue 25).

Two fresh ``python -I`` workers start at once, each in its own executor folder laid out
as Spark leaves it (the wheelhouse as a file, or unpacked for a baseline whose bootstrap
expects that; the stub zip beside it), and import
every top-level name of W1 through the stub zip: the checks, the metadata, extraction
(or import in place), and the imports themselves, on two executors sharing the
machine's disk and cores as ``local-cluster[2,1,1024]`` does. Timed inside each worker;
a sample is the slower of the two. ``user`` and ``sys`` CPU seconds come with each
sample: creating files is kernel time (docs/facts.md, fact 28).

    python benchmarks/executor_import.py [--runs 7] [--baseline CHECKOUT] [--json PATH]
                                         [--executors 2] [--node-disk]

``--baseline`` runs the same measure with another checkout's bootstrap, alternating
within each round. The workers' folders live under ``--workdir`` (on the disk Spark's
work folders use here, ``~/.cache``). Traffic: none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

import prepare  # noqa: E402
from _harness import Pair, Sample, Variant, run_group, table  # noqa: E402
from _measures import Workload  # noqa: E402
from _node_disk import journal_of, node_disk  # noqa: E402

BOOTSTRAP = Path("src/sparkdeps/_runtime/bootstrap.py")

_WORKER = """
import importlib, json, os, sys, time
started, before = time.perf_counter(), os.times()
sys.path.insert(1, sys.argv[1])
files = {name: getattr(importlib.import_module(name), "__file__", "") or ""
         for name in sys.argv[2:]}
after = os.times()
print(json.dumps({"s": time.perf_counter() - started, "user": after.user - before.user,
                  "sys": after.system - before.system,
                  "in_place": sorted(n for n, f in files.items() if ".whl" + os.sep in f)}))
"""

_STUBS = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from sparkdeps._core.wheelhouse import read_manifest
from sparkdeps._runtime.wheelpayload import StubContents, archive_name, stub_zip_bytes
manifest = read_manifest(Path(sys.argv[2]))
contents = StubContents.of_manifest(manifest)
digest = "bench" + "0" * 59
Path(sys.argv[3]).write_bytes(stub_zip_bytes(Path("."), digest, contents=contents))
print(json.dumps({"archive": archive_name(digest), "names": list(contents.names)}))
"""


def _stubs(checkout: Path, wheelhouse: Path, out: Path) -> dict[str, Any]:
    """The stub zip ``checkout``'s sparkdeps writes for ``wheelhouse`` (its own bootstrap)."""
    done = subprocess.run(
        [sys.executable, "-c", _STUBS, str(checkout / "src"), str(wheelhouse), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, Any] = json.loads(done.stdout)
    return info


def _sample(checkout: Path, wheelhouse: Path, work: Path, executors: int = 2) -> Sample:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    info = _stubs(checkout, wheelhouse, work / "stubs.zip")
    roots = []
    # what Spark leaves before the first task (untimed): the wheelhouse as a file
    # (addFile), or unpacked (addArchive) for a checkout whose bootstrap cannot split it
    splits = "def _split(" in (checkout / BOOTSTRAP).read_text()
    for number in range(executors):
        root = work / f"executor-{number}"
        root.mkdir()
        if splits:
            shutil.copyfile(wheelhouse, root / f"{info['archive']}.zip")
        else:
            with zipfile.ZipFile(wheelhouse) as archive:
                members = [n for n in archive.namelist() if n.startswith(("wheels/", "bytecode/"))]
                archive.extractall(root / info["archive"], members)
        shutil.copyfile(work / "stubs.zip", root / "stubs.zip")
        roots.append(root)
    os.sync()
    workers = [
        subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER, str(root / "stubs.zip"), *info["names"]],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for root in roots
    ]
    reports = [json.loads(worker.communicate(timeout=300)[0]) for worker in workers]
    if any(worker.returncode for worker in workers):
        raise RuntimeError(f"a worker failed: {[worker.returncode for worker in workers]}")
    shutil.rmtree(work, ignore_errors=True)
    slower = max(reports, key=lambda report: report["s"])
    return Sample(slower["s"], {"workers": reports})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmups", type=int, default=1)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--node-disk",
        action="store_true",
        help="the executor folders on a fresh ext4 with a journal, loop-mounted (root only)",
    )
    parser.add_argument(
        "--executors",
        type=int,
        default=2,
        help="workers importing at once, each in its own executor folder (1: an executor "
        "whose other cores are free, as when the other tasks wait for the same wheels)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "sparkdeps-bench-import"
    )
    args = parser.parse_args()
    prepare.prepare(["W1"])
    w = Workload.setup("W1", "", args.workdir / "W1")
    checkouts = {"now": HERE.parent}
    if args.baseline is not None:
        checkouts["baseline"] = args.baseline.resolve()
    with contextlib.ExitStack() as stack:
        runs = args.workdir
        if args.node_disk:  # the executor folders on a fresh disk with a journal
            runs = stack.enter_context(node_disk(args.workdir / "disk"))
        disk = journal_of(runs)
        variants = [
            Variant(
                name,
                lambda c=checkout, n=name: _sample(c, w.wheelhouse, runs / n, args.executors),  # type: ignore[misc]
            )
            for name, checkout in checkouts.items()
        ]
        series = run_group(variants, runs=args.runs, warmups=args.warmups)
    base = series.get("baseline")
    results = [
        Pair(f"first import, {args.executors} executors", "W1", series["now"], base).result()
    ]
    print(table(results))
    out = args.json or HERE / "out" / f"executor-import-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "workload": w.describe(),
        "baseline": str(args.baseline) if args.baseline else None,
        "executors": args.executors,
        "disk": disk,
        "results": results,
        "samples": {name: [s.extra for s in s_.samples] for name, s_ in series.items()},
    }
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
