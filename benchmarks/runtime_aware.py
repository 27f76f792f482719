"""Item 5: full closure against runtime-aware (thin) wheelhouses, dbr-14.3 and dbr-17.3.

    python benchmarks/runtime_aware.py [--runs 3]

Input: ``workloads/W5.txt``, a dozen requirements typical of a Databricks job. The
mirror ``benchmarks/.mirror/W5-<profile>/`` is filled once from the package index
(the full closure for the profile's Python, the thin build's wheels, and the
runtime's own versions of the packages the thin build relies on, which the
resolver must see); every measurement then serves it on 127.0.0.1 only.

Per profile and variant: wheels, MB (wheelhouse.zip), the cold build (fresh
sparkdeps/uv/pip caches) and the cold driver install: ``load(delivery="driver-only",
strict=False)`` in a fresh child of the profile's Python (3.10 or 3.12; the thin
wheelhouse's relied-on packages are absent there, so the runtime check only warns).
Executor readiness is not measured here: it needs a Spark of the profile's Python.
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
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks._index import MirrorIndex  # noqa: E402
from tests.support.wheels import find_python  # noqa: E402

from sparkdeps import build  # noqa: E402
from sparkdeps._core.runner import clean_env, pip_command  # noqa: E402
from sparkdeps._core.target import PROFILES  # noqa: E402

REQUIREMENTS = HERE / "workloads" / "W5.txt"
PROFILE_NAMES = ("dbr-14.3", "dbr-17.3")
LOAD = (
    "import sys, time, json; sys.path[:0] = sys.argv[3].split(':');"
    "import sparkdeps; t = time.perf_counter();"
    "r = sparkdeps.load(sys.argv[1], delivery='driver-only', cache_dir=sys.argv[2], strict=False);"
    "print(json.dumps({'seconds': time.perf_counter() - t, 'wheels': len(r.wheels)}))"
)


def _variant_options(profile: str, variant: str) -> dict[str, Any]:
    if variant == "thin":
        return {"target": profile}
    return {"python_version": PROFILES[profile].python_version, "platform": "x86_64"}


def _wheels_of(zip_path: Path, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if name.startswith("wheels/") and name.endswith(".whl"):
                (dest / Path(name).name).write_bytes(archive.read(name))
                names.append(Path(name).name)
    return names


def fill_mirror(profile: str, mirror: Path, work: Path) -> None:
    """Once, from the package index: both closures and the runtime's relied-on versions."""
    if (mirror / ".complete").exists():
        return
    relied: list[tuple[str, str]] = []
    for variant in ("full", "thin"):
        result = build(
            REQUIREMENTS, dest=work / f"fill-{variant}", use_cache=False, task_value_key=None,
            **_variant_options(profile, variant),
        )  # fmt: skip
        _wheels_of(Path(result.uri), mirror)
        if result.manifest.runtime:
            relied = [(r["name"], r["version"]) for r in result.manifest.runtime["relied_on"]]
    target = PROFILES[profile]
    command = [*pip_command(), "download", "--no-deps", "--only-binary=:all:", "-d", str(mirror)]
    command += ["--implementation", "cp", "--python-version", target.python_version]
    command += ["--abi", target.abi, "--abi", "abi3", "--abi", "none"]
    for platform in target.platforms:
        command += ["--platform", platform]
    for name, version in relied:
        subprocess.run([*command, f"{name}=={version}"], check=True, env=clean_env())
    (mirror / ".complete").write_text(json.dumps({"relied_on": relied}))


def _packaging_path(work: Path) -> Path:
    """A folder holding only packaging (pure Python), for the profile's interpreter."""
    import packaging

    folder = work / "pkgpath"
    if not folder.exists():
        shutil.copytree(Path(packaging.__file__).parent, folder / "packaging")
    return folder


def measure(profile: str, variant: str, index: MirrorIndex, work: Path) -> dict[str, Any]:
    run = Path(tempfile.mkdtemp(dir=work))
    os.environ["SPARKDEPS_CACHE_DIR"] = str(run / "cache")  # cold uv and pip caches
    started = time.perf_counter()
    result = build(
        REQUIREMENTS, dest=run / "dest", index_url=index.url, use_cache=False,
        task_value_key=None, **_variant_options(profile, variant),
    )  # fmt: skip
    build_seconds = time.perf_counter() - started
    python = find_python(PROFILES[profile].python_version)
    assert python is not None, f"no Python {PROFILES[profile].python_version} for {profile}"
    path = f"{REPO / 'src'}:{_packaging_path(work)}"
    out = subprocess.run(
        [str(python), "-I", "-c", LOAD, result.uri, str(run / "node"), path],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    zip_mb = Path(result.uri).stat().st_size / 1e6
    shutil.rmtree(run, ignore_errors=True)
    return {
        "wheels": len(result.wheels),
        "mb": zip_mb,
        "size_mb": sum(w.size for w in result.wheels) / 1e6,
        "build_s": build_seconds,
        "install_s": loaded["seconds"],
        "relied_on": len((result.manifest.runtime or {}).get("relied_on", ())),
        "shadows": len((result.manifest.runtime or {}).get("shadows", ())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    for key in [k for k in os.environ if k.startswith(("PIP_", "UV_"))]:
        if key != "PIP_CERT":
            del os.environ[key]
    work = Path(tempfile.mkdtemp(prefix="sparkdeps-bench-rt-"))
    rows: list[dict[str, Any]] = []
    try:
        for profile in PROFILE_NAMES:
            mirror = HERE / ".mirror" / f"W5-{profile}"
            fill_mirror(profile, mirror, work)
            with MirrorIndex(mirror) as index:
                samples: dict[str, list[dict[str, Any]]] = {"full": [], "thin": []}
                for number in range(args.runs + 1):  # the first round is a warm-up
                    order = ("full", "thin") if number % 2 == 0 else ("thin", "full")
                    for variant in order:
                        sample = measure(profile, variant, index, work)
                        if number:
                            samples[variant].append(sample)
                for variant, taken in samples.items():
                    rows.append({"profile": profile, "variant": variant, **_median(taken)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = samples[0].keys()
    return {key: statistics.median(s[key] for s in samples) for key in keys} | {"n": len(samples)}


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| profile | wheelhouse | wheels | MB (zip) | shadows | relies on | cold build (s) "
        "| driver install (s) | n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['profile']} | {r['variant']} | {r['wheels']:.0f} | {r['mb']:.1f} | "
            f"{r['shadows']:.0f} | {r['relied_on']:.0f} | {r['build_s']:.2f} | "
            f"{r['install_s']:.3f} | {r['n']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
