"""What one measured child process does; prints one JSON line (the last line of stdout).

    child.py load     --wheelhouse W --cache-dir C            driver-only load (cold or warm)
    child.py executor --wheelhouse W --cache-dir C --python P [--no-imports]
                      [--payload wheels|tree|shared] [--executors N] [--memory MB]
    child.py phases   --wheelhouse W --cache-dir C
                      --bytecode none|lazy|serial|parallel

Phases (issue 25, "say where each second goes"): an executor's first import without
Spark. The wheels are taken out of the wheelhouse (untimed: Spark unpacks the
archive), extracted as the executor bootstrap does (``_extract_all``), bytecode
written or not (``--bytecode``), then a fresh interpreter imports every top-level
name from the folder: ``none`` with ``-B`` (what a worker with
``PYTHONDONTWRITEBYTECODE`` does: compile everything, write nothing), ``lazy``
without it (the import writes ``.pyc`` as it goes), ``serial``/``parallel``
``compileall`` of the whole folder first (1 worker / one per core), then ``-B``.
``import_again_s`` is the next worker's import (``-B``): what the bytecode bought.
The executor bootstrap writes bytecode as ``lazy`` does, ``-B`` or not (bootstrap.py).

Executor readiness: a fresh local-cluster session, one untimed job with the
same UDF and no imports (JVM warm-up, Python workers started), then ``load``
(unless --no-imports), then the timed job: the UDF importing every top-level
module of the wheelhouse on every executor (or nothing).

Peak memory: ``ru_maxrss`` after the imports (the baseline) and after ``load``;
also Linux's VmHWM reset to the current RSS just before ``load`` (write 5 to
/proc/self/clear_refs), which is the peak *during* load even if the imports
peaked higher.

Egress: every executor fetches from the driver (``spark.files.useFetchCache=false``:
one executor per node, as on a real cluster, where local-cluster would share one
fetch per host); the executors' own logs (``Fetching spark://... with timestamp``)
say what each fetched, and the driver-side file sizes give the bytes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
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
        import sys as _sys
        import time as _time

        entered = _time.time()  # wall clock: compared with the driver's job start
        # what the Python worker imported before the UDF ran (numpy, pandas, dateutil with
        # the executors' pyarrow/pandas/numpy, as on every cluster): those keep the
        # executor's copy whatever is shipped (docs/facts.md, facts 12-13)
        preloaded = sorted(name for name in names if name in _sys.modules)
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
            "preloaded": preloaded,
        }
        return json.dumps(answer)

    return probe


_FETCHED = re.compile(r"Fetching (spark://\S+) with timestamp")


def _sizes(*folders: Path) -> dict[str, int]:
    """Basename -> size of every file under ``folders`` (the driver's payloads)."""
    sizes: dict[str, int] = {}
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                try:
                    sizes.setdefault(name, Path(root, name).stat().st_size)
                except OSError:
                    continue
    return sizes


def _egress(spark: Any, sizes: dict[str, int]) -> dict[str, Any]:
    """Bytes each executor fetched from the driver, from the executors' own logs."""
    home = Path(os.environ["SPARK_HOME"])
    app = spark.sparkContext.applicationId
    per_executor: dict[str, int] = {}
    names: set[str] = set()
    for log in sorted((home / "work" / app).glob("*/stderr")):
        fetched = 0
        for match in _FETCHED.finditer(log.read_text(errors="replace")):
            name = match.group(1).split("#", 1)[0].rsplit("/", 1)[-1]
            names.add(name)
            fetched += sizes.get(name, 0)
        per_executor[log.parent.name] = fetched
    return {
        "egress_bytes": sum(per_executor.values()),
        "egress_per_executor": per_executor,
        "fetched_names": sorted(names),
    }


def _disk(cache: Path, wheelhouse: Path, folder: Path | None) -> dict[str, Any]:
    """The node cache's bytes (a hard link to the wheelhouse adds none) and the install's."""
    linked = wheelhouse.stat()
    added = installed = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, names in os.walk(cache / "node"):
        for name in names:
            info = Path(root, name).lstat()
            key = (info.st_dev, info.st_ino)
            if key in seen or key == (linked.st_dev, linked.st_ino):
                continue
            seen.add(key)
            added += info.st_size
            if folder is not None and Path(root).is_relative_to(folder):
                installed += info.st_size
    return {"node_cache_bytes": added, "installed_bytes": installed}


def cmd_executor(args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql.functions import udf
    from pyspark.sql.types import StringType
    from tree_payload import ship_tree

    from sparkdeps.testing.localspark import local_cluster_session

    cache = Path(args.cache_dir)
    spark = local_cluster_session(
        args.executors,
        1,
        args.memory,
        python=args.python,
        app_name="sparkdeps-bench",
        conf={
            "spark.files.useFetchCache": "false",
            # local_cluster_session leaves 256 MB of a worker for overhead; Spark wants
            # at least 450 MB for an executor, so a 512 MB worker runs a 480 MB one
            **({"spark.executor.memory": "480m"} if args.memory < 1024 else {}),
        },
        work_dir=cache / "spark-home",
    )
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
        disk: dict[str, Any] = {}
        if not args.no_imports:
            load = _load_function()
            shared = args.payload == "shared"
            tree = args.payload == "tree"  # a driver-only load, then the 0.1 payload
            before = _memory_before()
            t0 = time.perf_counter()
            result = load(
                args.wheelhouse,
                spark=spark,
                cache_dir=args.cache_dir,
                delivery="shared" if shared else "driver-only" if tree else "auto",
                payload_dir=str(cache / "shared") if shared else None,
            )
            if tree:
                ship_tree(spark, result.folder, result.digest, cache / "node" / "payloads")
            load_seconds = time.perf_counter() - t0
            memory = _memory_after(before)
            names = tuple(result.top_level)
            if not shared:
                disk = _disk(cache, Path(args.wheelhouse), result.folder)
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
                if file
                and name not in a["preloaded"]
                and "sparkdeps_" not in file
                and "/userFiles-" not in file
                and not file.startswith(str(cache / "shared"))
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
            # in every answer, so before the first UDF too (later tasks of a reused worker
            # see every module the first one imported)
            "kept_from_executor_runtime": sorted(
                set.intersection(*(set(a["preloaded"]) for a in answers)) if answers else ()
            ),
            "payload": args.payload,
            **_egress(spark, _sizes(cache / "node" / "payloads", cache / "shared")),
            **disk,
            **memory,
        }
    finally:
        spark.stop()


_IMPORT_ALL = """
import importlib, json, sys, time
site, names = sys.argv[1], sys.argv[2:]
sys.path.insert(0, site)
t0 = time.perf_counter()
for name in names:
    importlib.import_module(name)
seconds = time.perf_counter() - t0
files = {n: getattr(sys.modules[n], "__file__", None) or site for n in names}
outside = [n for n, file in files.items() if not file.startswith(site)]
print(json.dumps({"seconds": seconds, "outside": outside}))
"""


def _import_all(site: Path, names: list[str], *, write_bytecode: bool) -> float:
    """A fresh interpreter importing ``names`` from ``site`` (no user site-packages)."""
    import subprocess

    flags = ["-s"] if write_bytecode else ["-s", "-B"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    completed = subprocess.run(
        [sys.executable, *flags, "-c", _IMPORT_ALL, str(site), *names],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"importing from {site} failed: {completed.stderr[-3000:]}")
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    if data["outside"]:
        raise SystemExit(f"imported from outside {site}: {data['outside']}")
    return float(data["seconds"])


def cmd_phases(args: argparse.Namespace) -> dict[str, Any]:
    import compileall
    import zipfile

    from sparkdeps._core.wheelhouse import read_manifest
    from sparkdeps._runtime import bootstrap

    cache = Path(args.cache_dir)
    manifest = read_manifest(Path(args.wheelhouse))
    archive = cache / "archive"
    with zipfile.ZipFile(args.wheelhouse) as wheelhouse:  # untimed: Spark's unpacking
        wheelhouse.extractall(
            archive, [n for n in wheelhouse.namelist() if n.startswith("wheels/")]
        )
    bootstrap.CONFIG.update(
        archive=archive.name,
        site=None,
        digest="bench",
        wheels=[[w.filename, w.sha256] for w in manifest.wheels],
    )
    names = sorted({name for w in manifest.wheels for name in w.top_level})
    site = archive / "site"
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    for wheel in manifest.wheels:  # everything, as the warm-up leaves it
        for part in ("metadata", "code", "later"):
            path = str(archive / "wheels" / wheel.filename)
            bootstrap._extract(path, str(site), part=part, written=[])
    phases["extract_s"] = time.perf_counter() - t0
    if args.bytecode in ("serial", "parallel"):
        t0 = time.perf_counter()
        workers = 1 if args.bytecode == "serial" else 0
        if not compileall.compile_dir(str(site), quiet=2, workers=workers):
            raise SystemExit(f"compileall reported failures in {site}")
        phases["compile_s"] = time.perf_counter() - t0
    lazy = args.bytecode == "lazy"
    phases["import_s"] = _import_all(site, names, write_bytecode=lazy)
    phases["import_again_s"] = _import_all(site, names, write_bytecode=False)
    pycs = sum(1 for _ in site.rglob("*.pyc"))
    sources = sum(1 for _ in site.rglob("*.py"))
    first = sum(v for k, v in phases.items() if k != "import_again_s")
    return {
        "seconds": first,
        "bytecode": args.bytecode,
        "pyc_files": pycs,
        "py_files": sources,
        "imports": len(names),
        **phases,
    }


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
    p_exec.add_argument("--payload", choices=("wheels", "tree", "shared"), default="wheels")
    p_exec.add_argument("--executors", type=int, default=2)
    p_exec.add_argument("--memory", type=int, default=1024)
    p_phases = sub.add_parser("phases")
    p_phases.add_argument("--wheelhouse", required=True)
    p_phases.add_argument("--cache-dir", required=True)
    p_phases.add_argument(
        "--bytecode", choices=("none", "lazy", "serial", "parallel"), required=True
    )
    args = parser.parse_args()
    handlers = {"load": cmd_load, "executor": cmd_executor, "phases": cmd_phases}
    out = handlers[args.command](args)
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUTF8", "1")
    raise SystemExit(main())
