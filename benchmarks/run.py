"""Run the sparkdeps benchmarks: a table to stdout, JSON to benchmarks/out/<timestamp>.json.

    python benchmarks/run.py [--workloads W0,W1,W2] [--runs 5] [--json out.json] [--smoke]

Every measurement talks only to 127.0.0.1: W1/W2 are served from the mirror
that ``benchmarks/prepare.py`` fills (run first, automatically, if incomplete).
``--smoke``: W0 only, one warm-up and two runs, no Spark (what CI runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for entry in (str(HERE), str(REPO / "src"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import prepare  # noqa: E402
from _harness import Goal, Pair, Series, run_group, table  # noqa: E402
from _measures import (  # noqa: E402
    BARE_PROCESS,
    BARE_UDF,
    PHASES,
    READINESS,
    WARM_PROCESS,
    Workload,
    build_group,
    egress_group,
    executor_group,
    install_group,
    phases_group,
    scaling_row,
)
from tests.support.index import IndexServer  # noqa: E402

ALL_WORKLOADS = ("W0", "W1", "W2")
ALL_MEASURES = ("install", "build", "executor", "egress")
# asked for by name only (--measures phases): where an executor's first import spends
EXTRA_MEASURES = ("phases",)


def _version(argv: list[str]) -> str:
    try:
        return (
            subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=60
            ).stdout.strip()
            or "?"
        )
    except OSError:
        return "absent"


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    from sparkdeps._core.runner import uv_command

    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    try:
        import pyspark

        pyspark_version = pyspark.__version__
    except ImportError:
        pyspark_version = "absent"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "pip": _version([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
        "uv": _version([*uv_command(), "--version"]),
        "pyspark": pyspark_version,
        "java": java.splitlines()[0] if java else "?",
        "loadavg_start": os.getloadavg(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    parser.add_argument(
        "--measures",
        default=",".join(ALL_MEASURES),
        help="install (driver install, warm load, memory), build, executor (Spark), egress; "
        "phases (extract / bytecode / import on an executor, no Spark) only when named",
    )
    parser.add_argument(
        "--executor-workloads",
        default="W1",
        help="workloads for executor readiness (a fresh Spark app per sample: slow)",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmups", type=int, default=1)
    parser.add_argument(
        "--json", type=Path, default=None, help="default benchmarks/out/<timestamp>.json"
    )
    parser.add_argument("--smoke", action="store_true", help="W0, 1 warm-up + 2 runs, no Spark")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch folder (default: system temp)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.workloads, args.runs, args.warmups = "W0", 2, 1
        args.measures = ",".join(m for m in args.measures.split(",") if m != "executor")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    measures = {m.strip() for m in args.measures.split(",") if m.strip()}
    unknown = (set(workloads) - set(ALL_WORKLOADS)) | (measures - {*ALL_MEASURES, *EXTRA_MEASURES})
    if unknown:
        raise SystemExit(f"unknown workload or measure: {sorted(unknown)}")
    prepare.prepare(workloads)
    # The machine's pip/uv settings (find-links, constraints) must not leak into any measurement.
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            del os.environ[key]
    os.environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    started = time.time()
    info = machine()
    print(
        f"machine: {info['nproc']} cpus ({info['cpu']}), {info['memory_gb']} GB, "
        f"Python {info['python']}, "
        f"{info['pip']}, {info['uv']}, pyspark {info['pyspark']}, load {info['loadavg_start']}",
        flush=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="sparkdeps-bench-", dir=args.workdir))
    results: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    scaling: list[dict[str, Any]] = []
    out = (
        args.json or HERE / "out" / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(complete: bool) -> None:
        # Rewritten after every group, so a long run that stops keeps what it measured.
        info["loadavg_end"] = os.getloadavg()
        document = {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 1),
            "complete": complete,
            "machine": info,
            "config": {
                "workloads": workloads,
                "measures": sorted(measures),
                "runs": args.runs,
                "warmups": args.warmups,
                "smoke": args.smoke,
            },
            "results": results,
            "scaling": scaling,
            "raw": raw,
        }
        out.write_text(json.dumps(document, indent=1, default=str) + "\n")

    def record(name: str, group: str, series: dict[str, Series], pairs: list[Pair]) -> None:
        raw[f"{name}/{group}"] = {
            key: {
                "unit": s.unit,
                "error": s.error,
                "samples": [{"value": x.value, **x.extra} for x in s.samples],
                "warmup": [{"value": x.value, **x.extra} for x in s.warmup],
            }
            for key, s in series.items()
        }
        results.extend(pair.result() for pair in pairs)
        save(complete=False)

    try:
        for name in workloads:
            with IndexServer(prepare.wheels_dir(name)) as index:
                workload = Workload.setup(name, index.url, scratch / name)
                raw[f"{name}/workload"] = workload.describe()
                print(
                    f"\n== {name}: {len(workload.wheels)} wheels, {workload.wheelhouse_mb:.1f} MB "
                    f"wheelhouse, {workload.installed_mb:.1f} MB installed",
                    flush=True,
                )
                if "install" in measures:
                    print("-- driver install, cold / load, warm / peak memory", flush=True)
                    series = run_group(
                        install_group(workload), runs=args.runs, warmups=args.warmups
                    )
                    scaling.append(scaling_row(workload, series))
                    record(name, "install", series, _install_pairs(name, series))
                if "build" in measures:
                    print("-- build", flush=True)
                    series = run_group(build_group(workload), runs=args.runs, warmups=args.warmups)
                    record(name, "build", series, _build_pairs(name, series))
                if "executor" in measures and name in args.executor_workloads.split(","):
                    print("-- executor readiness (local-cluster[2,1,1024])", flush=True)
                    series = run_group(
                        executor_group(workload), runs=args.runs, warmups=args.warmups
                    )
                    record(name, "executor", series, _executor_pairs(name, series))
                if "phases" in measures:
                    print("-- executor first import: extract, bytecode, import", flush=True)
                    series = run_group(phases_group(workload), runs=args.runs, warmups=args.warmups)
                    record(name, "phases", series, _phases_pairs(name, series))
                if "egress" in measures and name in args.executor_workloads.split(","):
                    for count in (2, 4):
                        print(f"-- driver egress (local-cluster[{count},1,512])", flush=True)
                        series = run_group(egress_group(workload, count), runs=1, warmups=0)
                        record(name, f"egress{count}", series, _egress_pairs(name, count, series))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    save(complete=True)
    print("\n" + table(results))
    if scaling:
        print("\n" + scaling_table(scaling))
    print(f"\nJSON: {out}")
    errors = [r for r in results if r["status"] == "ERROR"]
    return 1 if errors else 0


def scaling_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "workload",
        "wheels",
        "wheelhouse MB",
        "installed MB",
        "files",
        "install s (median)",
        "installed MB/s",
        "peak RSS MB",
        "RSS delta MB",
        "peak during load MB",
    )
    lines = [header]
    for r in rows:

        def num(key: str, digits: int = 1, row: dict[str, Any] = r) -> str:
            value = row.get(key)
            return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"

        lines.append(
            (
                r["workload"],
                str(r["wheels"]),
                num("wheelhouse_mb"),
                num("installed_mb"),
                str(r["files"]),
                num("install_s", 3),
                num("mb_per_s"),
                num("peak_rss_mb"),
                num("rss_delta_mb"),
                num("hwm_delta_mb"),
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "scaling (driver install, cold):\n" + "\n".join(text)


# --------------------------------------------------------------------------- pairs and targets


def _derived(series: Series, name: str, key: str, unit: str = "MB") -> Series:
    """A series made of one extra field of another series' samples (same runs)."""
    from _harness import Sample

    out = Series(name, unit, error=series.error)
    out.samples = [
        Sample(float(s.extra[key])) for s in series.samples if s.extra.get(key) is not None
    ]
    return out


def _install_pairs(workload: str, s: dict[str, Series]) -> list[Pair]:
    cold, pip, uv, unzip, warm = (
        s[k]
        for k in (
            "sparkdeps install, cold",
            "pip install --target",
            "uv pip install --no-cache --target",
            "unzip every wheel",
            "sparkdeps load, warm",
        )
    )
    pairs = [
        Pair("driver install, cold", workload, cold, unzip, Goal("ratio", 1.25, "A/B <= 1.25")),
        Pair(
            "driver install, cold", workload, cold, pip, Goal("ratio", 1 / 3, "A/B <= 0.333 (3x)")
        ),
        Pair("driver install, cold", workload, cold, uv),
        # CPU time (user + system) of the same samples: steadier than wall time on a busy machine.
        Pair(
            "driver install, cold (CPU s)",
            workload,
            _derived(cold, "sparkdeps install, cold", "cpu_s", "s"),
            _derived(unzip, "unzip every wheel", "cpu_s", "s"),
        ),
        Pair(
            "driver install, cold (CPU s)",
            workload,
            _derived(cold, "sparkdeps install, cold", "cpu_s", "s"),
            _derived(pip, "pip install --target", "cpu_s", "s"),
        ),
        Pair(
            "driver install, cold (CPU s)",
            workload,
            _derived(cold, "sparkdeps install, cold", "cpu_s", "s"),
            _derived(uv, "uv pip install --no-cache --target", "cpu_s", "s"),
        ),
        Pair("load, warm", workload, warm, pip, Goal("ratio", 0.01, "A/B <= 0.01 (100x)")),
        Pair("load, warm", workload, warm, cold),
        Pair(
            "load, warm, whole process",
            workload,
            s[WARM_PROCESS],
            s[BARE_PROCESS],
            Goal("diff", 0.100, "A-B <= 100 ms"),  # the 40 ms goal is retired
        ),
    ]
    memory_goal = Goal("abs", 150.0, "A <= 150 MB") if workload == "W2" else None
    pairs.append(
        Pair(
            "driver peak memory, cold load",
            workload,
            _derived(cold, "sparkdeps load: peak RSS", "rss_peak_mb"),
            _derived(pip, "pip install: peak RSS", "maxrss_mb"),
            memory_goal,
        )
    )
    pairs.append(
        Pair(
            "driver memory growth during load",
            workload,
            _derived(cold, "sparkdeps load: peak - after imports", "rss_delta_mb"),
            None,
        )
    )
    pairs.append(
        Pair(
            "driver memory growth during load",
            workload,
            _derived(cold, "sparkdeps load: VmHWM - RSS before", "hwm_delta_mb"),
            None,
        )
    )
    pairs.append(
        Pair(
            "driver peak memory, warm load",
            workload,
            _derived(warm, "sparkdeps warm load: peak RSS", "rss_peak_mb"),
            None,
        )
    )
    return pairs


def _build_pairs(workload: str, s: dict[str, Series]) -> list[Pair]:
    cold, unchanged = s["sparkdeps build, cold"], s["sparkdeps build, unchanged input"]
    return [
        Pair("build, cold", workload, cold, s["pip download -r (host)"]),
        Pair("build, cold", workload, cold, s["uv pip compile + pip download --no-deps (target)"]),
        Pair(
            "build, unchanged input", workload, unchanged, cold, Goal("ratio", 0.05, "A/B <= 0.05")
        ),
        # The same runs, timed inside build() (without interpreter start-up and imports).
        Pair(
            "build, unchanged input (in-process)",
            workload,
            _derived(unchanged, "build(), unchanged input", "in_process_s", "s"),
            _derived(cold, "build(), cold", "in_process_s", "s"),
            Goal("ratio", 0.05, "A/B <= 0.05"),
        ),
    ]


def _executor_pairs(workload: str, s: dict[str, Series]) -> list[Pair]:
    bare = s[BARE_UDF]
    pairs = []
    for payload, variant in READINESS.items():
        if variant not in s:
            continue
        goal = (
            Goal("diff", 1.0, "A-B <= 1 s")
            if workload == "W1" and payload in ("wheels", "shared")
            else None
        )
        pairs.append(Pair("executor readiness", workload, s[variant], bare, goal))
    for payload in ("wheels", "tree"):
        series = s.get(READINESS[payload])
        if series is None:
            continue
        pairs.append(
            Pair(
                "bytes per executor / wheelhouse",
                workload,
                _ratio_series(series, f"{payload}: fetched per executor / wheelhouse"),
                None,
                Goal("abs", 1.1, "A <= 1.1") if payload == "wheels" else None,
            )
        )
        pairs.append(
            Pair(
                "node cache / installed size",
                workload,
                _node_series(series, f"{payload}: node cache / installed"),
                None,
                Goal("abs", 1.2, "A <= 1.2") if payload == "wheels" else None,
            )
        )
    wheels = s.get(READINESS["wheels"])
    if wheels is not None:
        pairs.append(
            Pair(
                "driver peak memory, load with classic delivery",
                workload,
                _derived(wheels, "sparkdeps load + deliver: peak RSS", "rss_peak_mb"),
                None,
            )
        )
    return pairs


def _phases_pairs(workload: str, s: dict[str, Series]) -> list[Pair]:
    """Each way of getting bytecode against today's (none written); each phase on its own."""
    today = s[PHASES["none"]]
    pairs = [
        Pair("executor first import, by bytecode", workload, series, today, None)
        for key, series in s.items()
        if key != today.variant
    ]
    for series in s.values():
        for phase in ("extract_s", "compile_s", "import_s", "import_again_s"):
            if series.samples and phase in series.samples[0].extra:
                derived = _derived(series, f"{series.variant}: {phase}", phase, unit="s")
                pairs.append(Pair("executor first import, phase", workload, derived, None))
    return pairs


def _ratio_series(series: Series, name: str) -> Series:
    """Bytes the executors fetched, per executor, over the wheelhouse's size (same runs)."""
    from _harness import Sample

    out = Series(name, "x", error=series.error)
    out.samples = [
        Sample(
            sample.extra["egress_bytes"]
            / max(1, len(sample.extra["executors"]))
            / sample.extra["wheelhouse_bytes"]
        )
        for sample in series.samples
        if sample.extra.get("egress_bytes") is not None
    ]
    return out


def _node_series(series: Series, name: str) -> Series:
    from _harness import Sample

    out = Series(name, "x", error=series.error)
    out.samples = [
        Sample(sample.extra["node_cache_bytes"] / sample.extra["installed_bytes"])
        for sample in series.samples
        if sample.extra.get("installed_bytes")
    ]
    return out


def _egress_pairs(workload: str, count: int, s: dict[str, Series]) -> list[Pair]:
    pairs = []
    for payload in ("wheels", "tree"):
        series = s[f"{payload} payload, {count} executors"]
        egress = _derived(series, f"{payload}: driver egress, {count} executors", "egress_bytes")
        egress.samples = [type(x)(x.value / 1e6) for x in egress.samples]
        pairs.append(Pair(f"driver egress MB, {count} executors", workload, egress, None))
        pairs.append(
            Pair(
                f"driver egress / ({count} x wheelhouse)",
                workload,
                _ratio_series(series, f"{payload}: egress / ({count} x wheelhouse)"),
                None,
                Goal("abs", 1.1, "A <= 1.1") if payload == "wheels" else None,
            )
        )
    return pairs


if __name__ == "__main__":
    raise SystemExit(main())
