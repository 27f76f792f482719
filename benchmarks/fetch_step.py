"""Issue 24, item 2: can uv's PEP 751 lock replace the separate ``pip download`` step?

    python benchmarks/fetch_step.py [--mirror benchmarks/.mirror/W1] [--runs 3]

Serves a mirror folder (``benchmarks/prepare.py``'s W1 by default) on 127.0.0.1 and,
for the host's Python as a non-native target (``--python-version``/``--python-platform``
as for a cluster), times three ways from requirements to checked wheels, each round
with fresh caches (cold) and then once more on the caches it filled (warm):

- ``before``: ``uv pip compile`` to requirements.txt, then ``pip download --no-deps``
  of the ``name==version`` pins (the commands sparkdeps ran before this change);
- ``pip-urls``: ``uv pip compile --format pylock.toml``, then ``pip download`` of the
  lock's exact URLs, every sha256 checked by sparkdeps (``PipFetcher``);
- ``direct``: the same lock, then sparkdeps' own parallel GETs of the URLs, hashed as
  they are written, through the sha256-addressed cache (``DirectFetcher``).

Variants alternate (A B C, C B A, ...) after one discarded warm-up round. The files of
every variant are compared with ``before``'s (names and sha256): a variant that puts
down other files is reported as wrong. Then the dependency graph (the chains of a
conflict or a relaxation, from each pin's Requires-Dist) is timed from a fresh cache,
with the index serving PEP 658 ``.metadata`` files and without. Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import hashlib
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.support.index import IndexServer  # noqa: E402

from sparkdeps._build.backend import CompileRequest, Lock, PipFetcher, UvResolver  # noqa: E402
from sparkdeps._build.depgraph import MetadataReader, dependency_graph  # noqa: E402
from sparkdeps._build.download import download  # noqa: E402
from sparkdeps._build.fetch_http import DirectFetcher, FileCache  # noqa: E402
from sparkdeps._build.index import IndexSettings  # noqa: E402
from sparkdeps._build.resolve import Pin  # noqa: E402
from sparkdeps._core.runner import clean_env, pip_command, uv_command  # noqa: E402
from sparkdeps._core.target import Target, choose_target  # noqa: E402

VARIANTS = ("before", "pip-urls", "direct")


def _requirements(mirror: Path) -> list[str]:
    listed = HERE / "workloads" / f"{mirror.name}.txt"
    return [line.strip() for line in listed.read_text().splitlines() if line.strip()]


def _before(work: Path, cache: Path, target: Target, index: IndexSettings) -> dict[str, float]:
    started = time.perf_counter()
    out = work / "pins.txt"
    command = [*uv_command(), "pip", "compile", "--no-config", "--no-header", "--no-annotate"]
    command += [
        "--no-python-downloads",
        "--python",
        sys.executable,
        "--cache-dir",
        str(cache / "uv"),
    ]
    command += [
        "--python-version",
        target.python_full_version,
        "--python-platform",
        target.uv_platform,
    ]
    command += [
        "--only-binary",
        ":all:",
        *index.args(),
        "-o",
        str(out),
        str(work / "requirements.in"),
    ]
    subprocess.run(command, check=True, env=clean_env(index.uv_env()), capture_output=True)
    resolved = time.perf_counter()
    pins = [line for line in out.read_text().splitlines() if "==" in line]
    (work / "download.txt").write_text("\n".join(pins) + "\n")
    command = [
        *pip_command(),
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
    ]
    command += ["--python-version", target.python_version, "--abi", target.abi, "--abi", "abi3"]
    command += ["--abi", "none", *[arg for p in target.platforms for arg in ("--platform", p)]]
    command += ["--dest", str(work / "dest"), "--progress-bar", "off", *index.args()]
    command += ["--cache-dir", str(cache / "pip"), "-r", str(work / "download.txt")]
    env = clean_env({"PIP_CONFIG_FILE": "/dev/null"})
    subprocess.run(command, check=True, env=env, capture_output=True)
    return {"resolve_s": resolved - started, "fetch_s": time.perf_counter() - resolved}


def _locked(
    variant: str, work: Path, cache: Path, target: Target, index: IndexSettings
) -> dict[str, float]:
    started = time.perf_counter()
    request = CompileRequest(
        work / "requirements.in", work / "pylock.toml", target, index, cache / "uv"
    )
    lock = UvResolver().compile(request, what="benchmark compile")
    assert isinstance(lock, Lock), lock
    resolved = time.perf_counter()
    pins = [Pin(p.name, p.version, files=p.wheels) for p in lock.packages]
    files = FileCache(cache / "files")
    fetcher = PipFetcher(files) if variant == "pip-urls" else DirectFetcher(files)
    download(pins, target, index, work / "dest", cache_dir=cache / "pip", fetcher=fetcher)
    return {"resolve_s": resolved - started, "fetch_s": time.perf_counter() - resolved}


def _files(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.glob("*.whl"))
    }


def _once(
    variant: str, scratch: Path, cache: Path, target: Target, index: IndexSettings, reqs: list[str]
) -> tuple[dict[str, float], dict[str, str]]:
    work = Path(tempfile.mkdtemp(dir=scratch))
    (work / "dest").mkdir()
    (work / "requirements.in").write_text("\n".join(reqs) + "\n")
    run = _before if variant == "before" else lambda *a: _locked(variant, *a)
    times = run(work, cache, target, index)
    files = _files(work / "dest")
    shutil.rmtree(work)
    times["total_s"] = times["resolve_s"] + times["fetch_s"]
    return times, files


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure_graph(mirror: Path, runs: int, target: Target, reqs: list[str]) -> dict[str, Any]:
    """Seconds to build the dependency graph (the chains of a conflict or a relaxation)
    from a fresh file cache: with the index's PEP 658 ``.metadata`` files, and without
    (the wheels themselves are read, and kept for the download)."""
    samples: dict[str, list[float]] = {"pep658": [], "wheels": []}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        for number in range(runs + 1):
            for kind in ("pep658", "wheels") if number % 2 == 0 else ("wheels", "pep658"):
                with IndexServer(mirror, core_metadata=kind == "pep658") as server:
                    work = Path(tempfile.mkdtemp(dir=scratch))
                    (work / "requirements.in").write_text("\n".join(reqs) + "\n")
                    index = IndexSettings(index_url=server.url, timeout=30, retries=0)
                    request = CompileRequest(
                        work / "requirements.in", work / "pylock.toml", target, index, work / "uv"
                    )
                    lock = UvResolver().compile(request, what="benchmark compile")
                    assert isinstance(lock, Lock), lock
                    reader = MetadataReader(FileCache(work / "files"), index)
                    started = time.perf_counter()
                    graph = dependency_graph(lock, target, roots=reqs, reader=reader)
                    seconds = time.perf_counter() - started
                    assert all(graph.nodes[n].parents for n in graph.nodes), "an orphan pin"
                    shutil.rmtree(work)
                if number:
                    samples[kind].append(seconds)
    return {kind: _stats(values) for kind, values in samples.items()}


def measure(mirror: Path, runs: int) -> dict[str, Any]:
    reqs = _requirements(mirror)
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    target = choose_target(python_version=host, platform="manylinux_2_28_x86_64")
    samples: dict[str, dict[str, list[float]]] = {
        f"{v}/{state}": {} for v in VARIANTS for state in ("cold", "warm")
    }
    wrong: dict[str, list[str]] = {}
    loads: list[float] = []
    with IndexServer(mirror) as server, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        index = IndexSettings(index_url=server.url, timeout=30, retries=0)
        expected: dict[str, str] | None = None
        for number in range(runs + 1):  # round 0 is the warm-up, not kept
            order = VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                cache = Path(tempfile.mkdtemp(dir=scratch))
                for state in ("cold", "warm"):
                    loads.append(os.getloadavg()[0])
                    times, files = _once(variant, scratch, cache, target, index, reqs)
                    if variant == "before" and expected is None:
                        expected = files
                    if expected is not None and files != expected:
                        wrong.setdefault(variant, []).append(f"round {number} {state}")
                    if number:
                        bucket = samples[f"{variant}/{state}"]
                        for key, value in times.items():
                            bucket.setdefault(key, []).append(value)
                shutil.rmtree(cache)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mirror": mirror.name,
        "requirements": reqs,
        "wheels": len(expected or {}),
        "bytes": sum((mirror / name).stat().st_size for name in expected or {}),
        "target": target.description,
        "runs": runs,
        "loadavg_1m": {"min": min(loads), "max": max(loads)},
        "uv": subprocess.run(
            [*uv_command(), "--version"], check=True, capture_output=True, text=True
        ).stdout.strip(),
        "pip": subprocess.run(
            [*pip_command(), "--version"], check=True, capture_output=True, text=True
        ).stdout.split(" from")[0],
        "wrong_files": wrong,
        "results": {
            name: {key: _stats(values) for key, values in bucket.items()}
            for name, bucket in samples.items()
        },
        "graph_s": measure_graph(mirror, runs, target, reqs),
    }


def table(data: dict[str, Any]) -> str:
    lines = [
        f"{data['mirror']}: {data['wheels']} wheels, {data['bytes'] / 1e6:.1f} MB, "
        f"{data['target']}, medians of {data['runs']} [min-max], "
        f"load {data['loadavg_1m']['min']:.1f}-{data['loadavg_1m']['max']:.1f}",
        "| variant | caches | resolve s | fetch s | total s | same files as before |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in data["results"].items():
        variant, state = name.split("/")
        cells = [
            f"{result[key]['median']:.2f} [{result[key]['min']:.2f}-{result[key]['max']:.2f}]"
            for key in ("resolve_s", "fetch_s", "total_s")
        ]
        same = "no" if variant in data["wrong_files"] else "yes"
        lines.append(f"| {variant} | {state} | {' | '.join(cells)} | {same} |")
    lines += ["", "| dependency graph from | seconds |", "|---|---|"]
    for kind, stats in data["graph_s"].items():
        lines.append(f"| {kind} | {stats['median']:.2f} [{stats['min']:.2f}-{stats['max']:.2f}] |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=HERE / ".mirror" / "W1")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    data = measure(args.mirror, args.runs)
    print(table(data))
    out = args.json or HERE / "results" / f"{time.strftime('%Y-%m-%d')}-fetch-step.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
