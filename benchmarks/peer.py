"""sparkdeps against the packed-venv peer, end to end (issue 25).

The peer is the recipe the Spark docs give: the same packages installed in a venv
(pip compiles them at install), packed with venv-pack and shipped with
``spark.archives=env.tar.gz#environment`` and ``PYSPARK_PYTHON=./environment/bin/python``
(docs/facts.md, fact 18). Every sample is a fresh process: a fresh
``local-cluster[2,1,1024]`` with a cold node cache and a fresh Spark work folder, the
workers free to write bytecode (as on a cluster), then the first UDF, which imports
every top-level name of the workload on both executors and reports where each came from.

Timed inside the sample, from the parent's clock just before the process starts:
``total`` (process start to the first UDF's answer) and ``load + first UDF`` (the
session ready to that answer; sparkdeps' ``load`` sits in it, the peer has none).
Partial use: a UDF importing one package of W1 after loading all of W1, against the
same UDF after loading a wheelhouse of that package alone. ``floor`` is no delivery at
all: the executors run the peer's venv in place, W1 already installed and compiled, as
if baked into the cluster's image. No tool that ships packages can beat it, so its
ratios to the peer bound what any delivery can reach on this machine. ``--trace`` also
times each executor's first task phase by phase from the executor's own log
(``_phases.py``). ``--pin`` puts the driver on CPU 0 and the executors on CPU 1, a
driver node and an executor node with a core each, as on a cluster: on two shared
cores, work the executors do while the driver works takes the driver's time.

    python benchmarks/peer.py [--runs 5] [--variants peer,default,shared,partial,single]
                              (also: session, sessioncold, floor, nopyc, sharedwait,
                               nowarm, before)
                              [--json PATH] [--trace] [--pin]

Variants alternate within each round (A B C, C B A, ...); one warm-up round is dropped.
Traffic: none (the wheels come from ``benchmarks/.mirror``, filled by ``prepare.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

import prepare  # noqa: E402
from _harness import Goal, MeasureError, Pair, Sample, Series, Variant, run_group, run_timed  # noqa: E402
from _measures import Workload, bench_env, built_wheelhouse  # noqa: E402
from _node_disk import journal_of, node_disk  # noqa: E402
from _phases import executor_phases, phase_table, trace_conf  # noqa: E402

ONE_PACKAGE = ("yaml", "PyYAML")
"""The package the partial-use UDF imports: (import name, distribution name)."""

VARIANTS = {
    "peer": "peer: venv-pack archive, PYSPARK_PYTHON in it",
    "floor": "floor: W1 already in the executors' interpreter, nothing shipped",
    "default": "sparkdeps, default delivery",
    "nopyc": "sparkdeps, default, wheelhouse built --no-bytecode",
    "shared": "sparkdeps, delivery='shared'",
    "sharedwait": "sparkdeps, shared, load waits for its compile (as before)",
    "partial": "sparkdeps, W1 loaded, UDF imports yaml",
    "single": "sparkdeps, yaml-only wheelhouse, UDF imports yaml",
    "nowarm": "sparkdeps, default, warm_executors=False",
    "before": "sparkdeps as before issue 25: install, then ship, no warm-up",
    "session": "sparkdeps, default, unpacked as executors start (session_conf)",
    "sessioncold": "sparkdeps, session_conf, warm_executors=False",
}
_AT_START = ("session", "sessioncold")
"""The variants whose session is built with ``session_conf``."""


# --------------------------------------------------------------------------- child


def _udf(names: tuple[str, ...]) -> Any:
    def probe(_value: int) -> str:
        import importlib
        import json as _json
        import os as _os
        import sys as _sys
        import time as _time

        entered = _time.time()
        files, failed = {}, []
        for name in names:
            try:
                files[name] = getattr(importlib.import_module(name), "__file__", None) or ""
            except Exception as exc:
                failed.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        return _json.dumps(
            {
                "executor": _os.getcwd(),
                "entered": entered,
                "import_s": _time.time() - entered,
                "files": files,
                "failed": failed,
                "python": _sys.executable,
                "cpus": sorted(_os.sched_getaffinity(0)),
            }
        )

    return probe


_DRIVER_CPU, _EXECUTOR_CPU = 0, 1


def _pin_executors(stop: threading.Event) -> None:
    """``--pin``: the executors' JVMs (and the Python workers they fork) on CPU 1, this
    process and its JVM (the driver, local-cluster's master and workers) on CPU 0: a
    driver node and an executor node, each with a core of its own, as on a cluster. A
    thread inherits its creator's CPUs, so each executor thread is moved once."""
    moved: set[tuple[str, str]] = set()
    while not stop.wait(0.02):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                threads = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            if b"CoarseGrainedExecutorBackend" not in command:
                continue
            for tid in threads:
                if (pid, tid) not in moved:
                    moved.add((pid, tid))
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(int(tid), {_EXECUTOR_CPU})


def child(args: argparse.Namespace) -> int:
    started = args.started
    pinning = threading.Event()
    if args.pin:
        os.sched_setaffinity(0, {_DRIVER_CPU})
        threading.Thread(target=_pin_executors, args=(pinning,), daemon=True).start()
    from pyspark.sql.functions import udf
    from pyspark.sql.types import StringType

    from sparkdeps.testing.localspark import local_cluster_session

    work = Path(args.work)
    conf = {
        "spark.files.useFetchCache": "false",
        # pyspark 4.3 runs plain UDFs through Arrow by default, which needs pyarrow in
        # the workers' interpreter; the peer's venv holds W1 only (as fact 18 measured)
        "spark.sql.execution.pythonUDF.arrow.enabled": "false",
    }
    if args.variant == "peer":
        conf["spark.archives"] = f"{args.archive}#environment"
    if args.variant in _AT_START:  # its archive made in the setup, as the peer's is
        import sparkdeps

        conf.update(sparkdeps.session_conf(args.wheelhouse, payload_dir=args.session_payloads))
    spark = local_cluster_session(
        2,
        1,
        1024,
        python=args.python,
        app_name="sparkdeps-peer",
        conf=conf,
        work_dir=work / "spark-home",
    )
    timeline: list[tuple[float, str, str]] = []

    class Timeline(logging.Handler):
        """sparkdeps' own log lines, timed from the session's start: where the load goes."""

        def emit(self, record: logging.LogRecord) -> None:
            timeline.append((record.created - ready, record.name, record.getMessage()[:160]))

    try:
        ready = time.time()
        logging.getLogger("sparkdeps").addHandler(Timeline())
        logging.getLogger("sparkdeps").setLevel(logging.DEBUG)
        load_s = None
        if args.variant not in ("peer", "floor"):
            import sparkdeps

            shared = args.variant in ("shared", "sharedwait")
            if args.variant == "before":
                # the order before issue 25: the driver installs, then the executors are served
                import sparkdeps._runtime.load as load_module

                load_module.installs_beside_shipping = lambda *_args: False  # type: ignore[assignment]
            result = sparkdeps.load(
                args.wheelhouse,
                spark=spark,
                cache_dir=str(work / "cache"),
                delivery="shared" if shared else "auto",
                payload_dir=str(work / "shared") if shared else None,
                warm_executors=args.variant not in ("nowarm", "before", "sessioncold"),
            )
            if args.variant == "sharedwait":
                # the order before: load returned once the shared install was compiled
                from sparkdeps._runtime.bytecode import running_compile

                job = running_compile(result.folder)
                if job is not None:
                    job.wait()
            load_s = time.time() - ready
            timings = dict(result.timings)
        else:
            timings = {}
        names = tuple(args.names.split(","))
        time.sleep(args.pause)  # the driver's own work before its first UDF (reading input)
        frame = spark.range(0, 8, 1, 8).select(udf(_udf(names), StringType())("id").alias("a"))
        answers = [json.loads(row.a) for row in frame.collect()]
        done = time.time()
        time.sleep(0.5)  # a warm-up still running logs its end (it ran before the UDF's tasks)
        traced = executor_phases(work / "spark-home") if args.trace else None
    finally:
        spark.stop()
        pinning.set()
    print(
        json.dumps(
            {
                "total_s": done - started,
                "session_s": ready - started,
                "after_session_s": done - ready,
                "load_s": load_s,
                "udf_s": done - ready - (load_s or 0.0),
                "timings": timings,
                "answers": answers,
                "timeline": timeline,
                "udf_entered_s": sorted(a["entered"] - ready for a in answers),
                "phases": traced,
            }
        )
    )
    return 0


# --------------------------------------------------------------------------- parent


def _check(data: dict[str, Any], variant: str, work: Path, names: tuple[str, ...]) -> None:
    answers = data["answers"]
    executors = {a["executor"] for a in answers}
    if len(executors) < 2:
        raise MeasureError(f"only {len(executors)} executor(s) ran the UDF")
    failed = sorted({f for a in answers for f in a["failed"]})
    if failed:
        raise MeasureError(f"imports failed on executors: {failed[:5]}")
    expected = {"peer": "/environment/", "floor": "/peer/venv/"}.get(variant, "sparkdeps")
    outside = sorted(
        {
            f"{name}: {file}"
            for a in answers
            for name, file in a["files"].items()
            if expected not in file and not file.startswith(str(work / "shared"))
        }
    )
    # numpy may come from the executors' own interpreter (pyspark's runtime packages,
    # imported by the worker before the UDF: docs/facts.md, facts 12-13)
    outside = [entry for entry in outside if not entry.startswith("numpy:")]
    if outside:
        raise MeasureError(f"modules came from outside the payload: {outside[:5]}")


_BASE = "@base"
"""A variant name ending so runs the same variant from ``--baseline``'s checkout."""


def _name(variant: str) -> str:
    base = variant.endswith(_BASE)
    name = VARIANTS[variant.removesuffix(_BASE)]
    return f"{name} [baseline]" if base else name


def _sample(variant: str, setup: dict[str, Any], scratch: Path, counter: list[int]) -> Sample:
    counter[0] += 1
    script = Path(__file__)
    trace = setup["trace"]
    if variant.endswith(_BASE):  # the baseline's own peer.py imports the baseline's sparkdeps
        script = Path(setup["baseline"]) / "benchmarks" / "peer.py"
        variant = variant.removesuffix(_BASE)
        trace = None  # its peer.py may not know --trace
    # unique per run: a folder an earlier run could not remove (a worker still writing
    # into it as its JVM went away) must not fail this sample
    work = scratch / f"{variant}-{os.getpid()}-{counter[0]}"
    work.mkdir(parents=True)
    full = ",".join(setup["names"])
    wheelhouse, names, python = setup["wheelhouse"], full, setup["python"]
    if variant in ("partial", "single"):
        names = ONE_PACKAGE[0]
    if variant == "single":
        wheelhouse = setup["single"]
    if variant == "nopyc":  # the same delivery, the wheelhouse without bytecode
        wheelhouse, variant = setup["plain"], "default"
    if variant == "peer":
        python = "./environment/bin/python"
    if variant == "floor":  # the peer's venv itself, as if baked into the cluster's image
        python = str(Path(setup["archive"]).parent / "venv" / "bin" / "python")
    dropped = ("SPARK_HOME", "PYTHONDONTWRITEBYTECODE")  # workers write bytecode, as on a cluster
    env = {k: v for k, v in bench_env().items() if k not in dropped}
    # every file the sample writes (the executors' local folders, temporary files) on the
    # sample's own disk: with --node-disk, a fresh one with a journal (_node_disk.py)
    for variable, name in (("SPARK_LOCAL_DIRS", "local"), ("TMPDIR", "tmp")):
        (work / name).mkdir()
        env[variable] = str(work / name)
    if trace:
        env["SPARK_CONF_DIR"] = str(trace)
    argv = [
        sys.executable,
        str(script),
        "child",
        "--variant",
        variant,
        "--work",
        str(work),
        "--python",
        str(python),
        "--wheelhouse",
        str(wheelhouse),
        "--archive",
        str(setup["archive"]),
        "--session-payloads",
        str(setup["session_payloads"]),
        "--names",
        names,
        "--pause",
        str(setup["pause"]),
        "--started",
        repr(time.time()),
        *(["--trace"] if trace else []),
        *(["--pin"] if setup["pin"] else []),
    ]
    try:
        proc = run_timed(argv, env=env, cwd=work, timeout=600)
        data = proc.last_json()
        _check(data, variant, work, tuple(names.split(",")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    answers = data.pop("answers")
    data["import_s_max"] = max(a["import_s"] for a in answers)
    data["executor_python"] = sorted({a["python"] for a in answers})
    data["executor_cpus"] = sorted({cpu for a in answers for cpu in a.get("cpus", [])})
    if setup["pin"] and data["executor_cpus"] != [_EXECUTOR_CPU]:
        raise MeasureError(f"--pin: the UDF ran on CPUs {data['executor_cpus']}")
    return Sample(data["total_s"], data)


def _peer_archive(closure: list[Path], folder: Path) -> tuple[Path, dict[str, Any]]:
    """The peer's build step (untimed here, like sparkdeps build): venv, pip install, pack."""
    from sparkdeps.testing.localspark import _base_python

    venv = folder / "venv"
    archive = folder / "env.tar.gz"
    if archive.exists():
        return archive, json.loads((folder / "built.json").read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run([_base_python(), "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            *map(str, closure),
        ],
        check=True,
        env=bench_env(PYTHONDONTWRITEBYTECODE=""),
    )
    installed = time.perf_counter() - t0
    t0 = time.perf_counter()
    venv_pack = Path(sys.executable).with_name("venv-pack")
    subprocess.run([str(venv_pack), "-q", "-p", str(venv), "-o", str(archive)], check=True)
    built = {
        "install_s": installed,
        "pack_s": time.perf_counter() - t0,
        "archive_mb": archive.stat().st_size / 1e6,
    }
    (folder / "built.json").write_text(json.dumps(built))
    return archive, built


def _session_archive(wheelhouse: Path, payloads: Path) -> float:
    """sparkdeps' counterpart of the peer's build step (untimed in the samples):
    ``session_conf`` makes the archive executors unpack as they start, once per digest.
    Made afresh each run, so that it is this checkout's."""
    import sparkdeps

    shutil.rmtree(payloads, ignore_errors=True)
    started = time.perf_counter()
    sparkdeps.session_conf(wheelhouse, payload_dir=payloads)
    return time.perf_counter() - started


def _single_wheelhouse(w: Workload) -> Path:
    wheel = next(p for p in w.wheels if p.name.lower().startswith(ONE_PACKAGE[1].lower()))
    return built_wheelhouse([wheel], w.work / "single.zip", input_digest="0" * 64)


def parent(args: argparse.Namespace) -> int:
    from sparkdeps.testing.localspark import clean_python

    if not shutil.which("venv-pack", path=str(Path(sys.executable).parent)):
        print("venv-pack is needed in this venv: pip install venv-pack", file=sys.stderr)
        return 2
    prepare.prepare(["W1"])
    scratch = Path(args.workdir)
    scratch.mkdir(parents=True, exist_ok=True)
    w = Workload.setup("W1", "", scratch / "W1")
    from sparkdeps._core.wheelhouse import read_manifest

    names = tuple(read_manifest(w.wheelhouse).top_level)
    archive, built = _peer_archive(list(w.wheels), scratch / "peer")
    session_payloads = scratch / "session-payloads"
    if set(_AT_START) & set(args.variants.split(",")):
        built["session_conf_s"] = _session_archive(w.wheelhouse, session_payloads)
    setup = {
        "wheelhouse": w.wheelhouse,
        "single": _single_wheelhouse(w),
        "plain": built_wheelhouse(
            list(w.wheels), w.work / "plain.zip", input_digest="1" * 64, bytecode=False
        ),
        "archive": archive,
        "session_payloads": session_payloads,
        "names": names,
        "python": clean_python(scratch / "executor-python"),
        "pause": args.pause,
        "baseline": args.baseline,
        "trace": trace_conf(scratch / "trace-conf") if args.trace else None,
        "pin": args.pin,
    }
    counter = [0]
    chosen = args.variants.split(",")
    if any(v.endswith(_BASE) for v in chosen) and not args.baseline:
        print("variants ending in @base need --baseline CHECKOUT", file=sys.stderr)
        return 2
    if any(v.endswith(_BASE) for v in chosen) and args.pin and not _pins(args.baseline):
        print("--pin with @base needs a baseline whose peer.py has --pin", file=sys.stderr)
        return 2
    load = os.getloadavg()
    with contextlib.ExitStack() as stack:
        runs = scratch / "runs"
        if args.node_disk:  # the samples on a fresh disk with a journal, as a node's
            runs = stack.enter_context(node_disk(scratch / "disk")) / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        disk = journal_of(runs)
        variants = [
            Variant(_name(v), lambda v=v: _sample(v, setup, runs, counter))  # type: ignore[misc]
            for v in chosen
        ]
        series = run_group(variants, runs=args.runs, warmups=args.warmups)
    derived = _derived(series)
    results = _pairs(series, derived)
    samples = {name: [s.extra for s in s_.samples] for name, s_ in series.items()}
    report = {
        "machine": {
            "loadavg_before": load,
            "loadavg_after": os.getloadavg(),
            "samples_disk": f"ext4 {disk}" if disk != "unknown" else disk,
            "platform": platform.platform(),
            "python": sys.version,
            "pinned": "driver CPU 0, executors CPU 1" if args.pin else None,
        },
        "workload": {**w.describe(), "peer": built, "top_level": names},
        "baseline": _describe_baseline(args.baseline),
        "results": results,
        "samples": samples,
    }
    from _harness import table

    print(table(results))
    if args.trace:
        print(phase_table(samples))
    out = args.json or HERE / "out" / f"peer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"JSON: {out}")
    return 0


def _derived(series: dict[str, Series]) -> dict[str, Series]:
    """The same samples read as ``load + first UDF`` (session ready to the UDF's answer)."""
    out = {}
    for name, record in series.items():
        after = Series(f"{name} [load + first UDF]", "s", error=record.error)
        after.samples = [Sample(s.extra["after_session_s"], s.extra) for s in record.samples]
        out[name] = after
    return out


def _load_returns(record: Series) -> Series:
    """The same samples read as the time ``load`` took to return (session ready to it)."""
    out = Series(f"{record.variant} [load returns]", "s", error=record.error)
    out.samples = [Sample(s.extra["load_s"], s.extra) for s in record.samples]
    return out


def _pairs(series: dict[str, Series], after: dict[str, Series]) -> list[dict[str, Any]]:
    peer = VARIANTS["peer"]
    out = []
    goals = (("default", 0.8, 1.0), ("shared", 0.8, 1.0), ("session", 0.8, 1.0))
    for key, goal_total, goal_after in goals:
        name = VARIANTS[key]
        if name in series and peer in series:
            out.append(
                Pair(
                    "total",
                    "W1",
                    series[name],
                    series[peer],
                    Goal("ratio", goal_total, f"<= {goal_total}x peer"),
                ).result()
            )
            out.append(
                Pair(
                    "load+first UDF",
                    "W1",
                    after[name],
                    after[peer],
                    Goal("ratio", goal_after, f"<= {goal_after}x peer"),
                ).result()
            )
    floor = VARIANTS["floor"]
    if floor in series and peer in series:  # the bound: nothing shipped at all
        out.append(Pair("total", "W1", series[floor], series[peer]).result())
        out.append(Pair("load+first UDF", "W1", after[floor], after[peer]).result())
    partial, single = VARIANTS["partial"], VARIANTS["single"]
    if partial in series and single in series:
        out.append(
            Pair(
                "partial use",
                "W1",
                after[partial],
                after[single],
                Goal("ratio", 1.2, "<= 1.2x one-package wheelhouse"),
            ).result()
        )
    before, default = VARIANTS["before"], VARIANTS["default"]
    for other in (before, VARIANTS["nopyc"]):
        if other in series and default in series:
            out.append(Pair("load+first UDF", "W1", after[default], after[other]).result())
    for key, name in VARIANTS.items():  # each variant against itself on the baseline checkout
        base = _name(key + _BASE)
        if name in series and base in series:
            out.append(Pair("load+first UDF vs baseline", "W1", after[name], after[base]).result())
    waited, shared = VARIANTS["sharedwait"], VARIANTS["shared"]
    if waited in series and shared in series:
        out.append(Pair("load+first UDF", "W1", after[shared], after[waited]).result())
        returns = {n: _load_returns(series[n]) for n in (shared, waited)}
        out.append(Pair("load returns", "W1", returns[shared], returns[waited]).result())
    for name in series:
        if name not in (VARIANTS.get(k) for k in ("default", "shared", "sharedwait")):
            out.append(Pair("after session", "W1", after[name], None).result())
    return out


def _pins(checkout: str) -> bool:
    """Does the baseline's own peer.py (which runs its @base samples) know ``--pin``?"""
    script = Path(checkout) / "benchmarks" / "peer.py"
    return script.is_file() and '"--pin"' in script.read_text("utf-8")


def _describe_baseline(checkout: str | None) -> dict[str, str] | None:
    if not checkout:
        return None
    done = subprocess.run(
        ["git", "-C", checkout, "log", "-1", "--format=%H %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {"checkout": checkout, "commit": done.stdout.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run")
    run.add_argument("--runs", type=int, default=5)
    run.add_argument("--warmups", type=int, default=1)
    run.add_argument("--variants", default="peer,default,shared,partial,single,before")
    run.add_argument("--json", type=Path, default=None)
    run.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds of driver work between load and the first UDF (timed: subtract it)",
    )
    run.add_argument("--workdir", default=str(Path.home() / ".cache" / "sparkdeps-bench-peer"))
    run.add_argument(
        "--baseline",
        default=None,
        help="a checkout of another commit: variants named X@base run X from it, side by side",
    )
    one = sub.add_parser("child")
    for flag in ("--variant", "--work", "--python", "--wheelhouse", "--archive", "--names"):
        one.add_argument(flag, required=True)
    one.add_argument("--started", type=float, required=True)
    one.add_argument("--session-payloads", default=None)
    one.add_argument("--pause", type=float, default=0.0)
    one.add_argument("--trace", action="store_true")
    one.add_argument("--pin", action="store_true")
    run.add_argument(
        "--node-disk",
        action="store_true",
        help="run every sample on a fresh ext4 with a journal, loop-mounted (root only)",
    )
    run.add_argument(
        "--pin",
        action="store_true",
        help="the driver on CPU 0, the executors on CPU 1: a driver node and an executor node",
    )
    run.add_argument(
        "--trace",
        action="store_true",
        help="also time each executor's first task, phase by phase, from its own log",
    )
    argv = sys.argv[1:]
    if not argv or argv[0] not in ("run", "child"):
        argv = ["run", *argv]
    args = parser.parse_args(argv)
    return child(args) if args.command == "child" else parent(args)


if __name__ == "__main__":
    sys.exit(main())
