"""The measured variants: sparkdeps and its baselines, per workload.

Each variant does its untimed setup and teardown itself (fresh folders, fresh
caches) and returns the timed value. sparkdeps' driver install and warm load
are timed inside a fresh child process around ``load()`` (``child.py``); the
baselines are timed as whole processes (``pip``, ``uv``, ``unzip``), which is
what a user running them pays.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prepare
from _harness import MeasureError, Proc, Sample, Series, Variant, run_timed

import sparkdeps
from sparkdeps._build.bytecode import compile_wheels
from sparkdeps._core.manifest import Manifest, inspect_wheel
from sparkdeps._core.runner import uv_command
from sparkdeps._core.target import host_target
from sparkdeps._core.wheelhouse import write_wheelhouse

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child.py"
PY = sys.executable


def bench_env(**extra: str) -> dict[str, str]:
    """This environment without pip/uv settings, pointing sparkdeps at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # every run starts from the same files
    env.update(extra)
    return env


def _tree_size(folder: Path) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            if not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return files, size


def built_wheelhouse(
    wheels: list[Path], out: Path, *, input_digest: str, bytecode: bool = True
) -> Path:
    """``out``: ``wheels`` as ``sparkdeps build`` writes them for this host, with the
    bytecode it compiles (``bytecode=False``: as ``--no-bytecode`` does)."""
    target = host_target()
    compiled = compile_wheels(wheels, target, out.parent) if bytecode else None
    manifest = Manifest(
        format="requirements",
        target=target.to_dict(),
        wheels=tuple(inspect_wheel(path, source="index") for path in wheels),
        input_digest=input_digest,
        bytecode=compiled[1] if compiled else None,
    )
    write_wheelhouse(wheels, manifest, out, bytecode=compiled[0] if compiled else None)
    if compiled:
        compiled[0].unlink()
    return out


@dataclass
class Workload:
    name: str
    index_url: str
    work: Path
    requirements: Path
    wheels: list[Path]
    """The closure of the requirements for this host (what every installer installs)."""
    wheelhouse: Path
    installed_files: int = 0
    installed_bytes: int = 0
    _counter: list[int] = field(default_factory=lambda: [0])

    @property
    def wheelhouse_mb(self) -> float:
        return self.wheelhouse.stat().st_size / 1e6

    @property
    def installed_mb(self) -> float:
        return self.installed_bytes / 1e6

    def fresh(self, label: str) -> Path:
        """A new empty folder under the workload's scratch folder."""
        self._counter[0] += 1
        path = self.work / f"{label}-{self._counter[0]}"
        path.mkdir(parents=True)
        return path

    @classmethod
    def setup(cls, name: str, index_url: str, work: Path) -> Workload:
        work.mkdir(parents=True, exist_ok=True)
        requirements = prepare.requirements_file(name)
        closure = work / "closure"
        # The closure for this host, resolved offline from the mirror (not timed).
        run_timed(
            [
                PY,
                "-m",
                "pip",
                "--isolated",
                "download",
                "--no-index",
                "--find-links",
                str(prepare.wheels_dir(name)),
                "--only-binary=:all:",
                "-d",
                str(closure),
                "--progress-bar",
                "off",
                "-r",
                str(requirements),
            ],
            env=bench_env(),
        )
        wheels = sorted(closure.glob("*.whl"))
        digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
        wheelhouse = work / "wheelhouse.zip"
        built_wheelhouse(wheels, wheelhouse, input_digest=digest)
        workload = cls(name, index_url, work, requirements, wheels, wheelhouse)
        # One untimed install: the installed size, and proof that load works at all.
        probe_cache = workload.fresh("probe-cache")
        data = _load_child(workload, probe_cache, expect_reused=False)
        workload.installed_files, workload.installed_bytes = _tree_size(Path(data["folder"]))
        shutil.rmtree(probe_cache, ignore_errors=True)
        return workload

    def describe(self) -> dict[str, Any]:
        return {
            "requirements": self.requirements.read_text().split(),
            "wheels": [path.name for path in self.wheels],
            "wheelhouse_mb": round(self.wheelhouse_mb, 2),
            "installed_mb": round(self.installed_mb, 2),
            "installed_files": self.installed_files,
        }


# --------------------------------------------------------------------------- driver install


def _load_child(workload: Workload, cache_dir: Path, *, expect_reused: bool) -> dict[str, Any]:
    proc = run_timed(
        [
            PY,
            str(CHILD),
            "load",
            "--wheelhouse",
            str(workload.wheelhouse),
            "--cache-dir",
            str(cache_dir),
        ],
        env=bench_env(),
    )
    data = proc.last_json()
    if data["reused"] is not expect_reused:
        raise MeasureError(f"load reused={data['reused']}, expected {expect_reused} ({cache_dir})")
    if data["not_importable"]:
        raise MeasureError(
            f"after load these do not import from the install folder: {data['not_importable']}"
        )
    data["wall_seconds"] = proc.seconds
    data["child_maxrss_mb"] = proc.maxrss_mb
    return data


def _sample_from_child(data: dict[str, Any]) -> Sample:
    return Sample(float(data.pop("seconds")), data)


def _process_sample(proc: Proc) -> Sample:
    return Sample(proc.seconds, {"maxrss_mb": proc.maxrss_mb, "cpu_s": proc.cpu_s})


WARM_PROCESS = "python -c 'import sparkdeps; sparkdeps.load(<warm>)'"
BARE_PROCESS = "python -c pass"


def install_group(w: Workload) -> list[Variant]:
    wheel_args = [str(path) for path in w.wheels]
    closure = str(w.wheels[0].parent)

    def sparkdeps_cold() -> Sample:
        cache = w.fresh("cold-cache")
        try:
            return _sample_from_child(_load_child(w, cache, expect_reused=False))
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    warm_cache: list[Path] = []
    compiled: list[bool] = []

    def sparkdeps_warm() -> Sample:
        if not warm_cache:  # filled once, untimed
            warm_cache.append(w.fresh("warm-cache"))
            _load_child(w, warm_cache[0], expect_reused=False)
        return _sample_from_child(_load_child(w, warm_cache[0], expect_reused=True))

    def warm_process() -> Sample:
        """The whole process a job pays for a warm load: start, import sparkdeps, load.

        sparkdeps' own modules are byte-compiled first, as pip does when it installs the
        wheel on a cluster: an editable install under PYTHONDONTWRITEBYTECODE would
        otherwise compile every module on every run (tens of ms), which no job pays.
        """
        if not warm_cache:
            warm_cache.append(w.fresh("warm-cache"))
            _load_child(w, warm_cache[0], expect_reused=False)
        if not compiled:  # untimed, once (the warm cache may come from sparkdeps_warm)
            compiled.append(compileall.compile_dir(Path(sparkdeps.__file__).parent, quiet=1))
        code = (
            "import sparkdeps; sparkdeps.load("
            f"{str(w.wheelhouse)!r}, delivery='driver-only', cache_dir={str(warm_cache[0])!r})"
        )
        return _process_sample(run_timed([PY, "-c", code], env=bench_env()))

    def bare_process() -> Sample:
        return _process_sample(run_timed([PY, "-c", "pass"], env=bench_env()))

    def in_fresh_target(argv: Callable[[Path, Path], list[str]]) -> Callable[[], Sample]:
        def measure() -> Sample:
            target, cache = w.fresh("target"), w.fresh("xdg-cache")
            try:
                proc = run_timed(argv(target, cache), env=bench_env(XDG_CACHE_HOME=str(cache)))
                if not any(target.iterdir()):
                    raise MeasureError(f"nothing was installed into {target}")
                return _process_sample(proc)
            finally:
                shutil.rmtree(target, ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)

        return measure

    pip = in_fresh_target(
        lambda t, c: [
            PY,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--no-index",
            "--find-links",
            closure,
            "--no-input",
            "--progress-bar",
            "off",
            "--cache-dir",
            str(c),
            "--target",
            str(t),
            *wheel_args,
        ]
    )
    uv = in_fresh_target(
        lambda t, c: [
            *uv_command(),
            "pip",
            "install",
            "--no-cache",
            "--no-config",
            "--no-python-downloads",
            "--python",
            PY,
            "--no-index",
            "--find-links",
            closure,
            "--target",
            str(t),
            "--quiet",
            *wheel_args,
        ]
    )
    unzip = in_fresh_target(
        lambda t, c: [
            "bash",
            "-c",
            'target="$1"; shift; for w in "$@"; do unzip -qq -o "$w" -d "$target" || exit 1; done',
            "unzip-all",
            str(t),
            *wheel_args,
        ]
    )
    return [
        Variant("sparkdeps install, cold", sparkdeps_cold),
        Variant("pip install --target", pip),
        Variant("uv pip install --no-cache --target", uv),
        Variant("unzip every wheel", unzip),
        Variant("sparkdeps load, warm", sparkdeps_warm),
        Variant(WARM_PROCESS, warm_process),
        Variant(BARE_PROCESS, bare_process),
    ]


def scaling_row(w: Workload, series: dict[str, Series]) -> dict[str, Any]:
    cold = series["sparkdeps install, cold"]
    stats = cold.stats()

    def median(key: str) -> float | None:
        values = sorted(s.extra[key] for s in cold.samples if s.extra.get(key) is not None)
        return values[len(values) // 2] if values else None

    install_s = stats["median"] if stats else None
    return {
        "workload": w.name,
        "wheels": len(w.wheels),
        "wheelhouse_mb": w.wheelhouse_mb,
        "installed_mb": w.installed_mb,
        "files": w.installed_files,
        "install_s": install_s,
        "mb_per_s": w.installed_mb / install_s if install_s else None,
        "peak_rss_mb": median("rss_peak_mb"),
        "rss_delta_mb": median("rss_delta_mb"),
        "hwm_delta_mb": median("hwm_delta_mb"),
    }


# --------------------------------------------------------------------------- build


def build_group(w: Workload) -> list[Variant]:
    target = host_target()

    def sparkdeps_build(cache: Path, xdg: Path) -> tuple[Proc, dict[str, Any]]:
        dest = w.fresh("dest")
        try:
            proc = run_timed(
                [
                    PY,
                    "-m",
                    "sparkdeps",
                    "build",
                    str(w.requirements),
                    "--dest",
                    str(dest),
                    "--index-url",
                    w.index_url,
                    "--run-id",
                    uuid.uuid4().hex,
                    "--json",
                ],
                env=bench_env(SPARKDEPS_CACHE_DIR=str(cache), XDG_CACHE_HOME=str(xdg)),
            )
            data = proc.last_json()
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        if len(data.get("wheels", [])) != len(w.wheels):
            raise MeasureError(
                f"build made {len(data.get('wheels', []))} wheels, expected {len(w.wheels)}"
            )
        return proc, data

    def build_sample(proc: Proc, data: dict[str, Any]) -> Sample:
        return Sample(
            proc.seconds,
            {
                "maxrss_mb": proc.maxrss_mb,
                "cached": data.get("cached"),
                "timings": data.get("timings", {}),
                "in_process_s": data.get("timings", {}).get("total"),
            },
        )

    def cold() -> Sample:
        cache, xdg = w.fresh("build-cache"), w.fresh("xdg-cache")
        try:
            proc, data = sparkdeps_build(cache, xdg)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(xdg, ignore_errors=True)
        if data.get("cached"):
            raise MeasureError("a build from an empty cache said cached=true")
        return build_sample(proc, data)

    warm: list[tuple[Path, Path]] = []

    def unchanged() -> Sample:
        if not warm:
            warm.append((w.fresh("build-cache-warm"), w.fresh("xdg-cache-warm")))
            sparkdeps_build(*warm[0])
        proc, data = sparkdeps_build(*warm[0])
        if not data.get("cached"):
            raise MeasureError("a rebuild of an unchanged input was not a cache hit")
        return build_sample(proc, data)

    def pip_download() -> Sample:
        dest, cache = w.fresh("download"), w.fresh("pip-cache")
        try:
            proc = run_timed(
                [
                    PY,
                    "-m",
                    "pip",
                    "--isolated",
                    "download",
                    "-r",
                    str(w.requirements),
                    "-d",
                    str(dest),
                    "--index-url",
                    w.index_url,
                    "--cache-dir",
                    str(cache),
                    "--progress-bar",
                    "off",
                    "--no-input",
                ],
                env=bench_env(XDG_CACHE_HOME=str(cache)),
            )
            return _process_sample(proc)
        finally:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)

    def uv_then_pip() -> Sample:
        dest, cache = w.fresh("download"), w.fresh("uv-cache")
        pins = dest / "pins.txt"
        try:
            env = bench_env(XDG_CACHE_HOME=str(cache))
            compile_proc = run_timed(
                [
                    *uv_command(),
                    "pip",
                    "compile",
                    "--no-config",
                    "--no-header",
                    "--no-annotate",
                    "--no-python-downloads",
                    "--python",
                    PY,
                    "--cache-dir",
                    str(cache / "uv"),
                    "--only-binary",
                    ":all:",
                    "--python-version",
                    target.python_version,
                    "--python-platform",
                    target.uv_platform,
                    "--index-url",
                    w.index_url,
                    "-o",
                    str(pins),
                    str(w.requirements),
                ],
                env=env,
            )
            platforms = [arg for p in target.platforms for arg in ("--platform", p)]
            download_proc = run_timed(
                [
                    PY,
                    "-m",
                    "pip",
                    "--isolated",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--implementation",
                    "cp",
                    "--python-version",
                    target.python_version,
                    "--abi",
                    target.abi,
                    "--abi",
                    "abi3",
                    "--abi",
                    "none",
                    *platforms,
                    "-r",
                    str(pins),
                    "-d",
                    str(dest / "wheels"),
                    "--index-url",
                    w.index_url,
                    "--cache-dir",
                    str(cache / "pip"),
                    "--progress-bar",
                    "off",
                    "--no-input",
                ],
                env=env,
            )
            return Sample(
                compile_proc.seconds + download_proc.seconds,
                {"compile_s": compile_proc.seconds, "download_s": download_proc.seconds},
            )
        finally:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)

    return [
        Variant("sparkdeps build, cold", cold),
        Variant("pip download -r (host)", pip_download),
        Variant("uv pip compile + pip download --no-deps (target)", uv_then_pip),
        Variant("sparkdeps build, unchanged input", unchanged),
    ]


# --------------------------------------------------------------------------- executors


READINESS = {
    "wheels": "UDF importing every top-level, after load (wheels payload)",
    "tree": "UDF importing every top-level, after load (0.1 tree payload)",
    "shared": "UDF importing every top-level, after load (delivery='shared')",
}
BARE_UDF = "same UDF, no imports, no load"


def _executor_run(
    w: Workload, python: Path, payload: str | None, executors: int = 2, memory: int = 1024
) -> Sample:
    """One fresh local-cluster app (child.py executor); ``payload`` None: no load, no imports."""
    cache = w.fresh("spark-cache")
    argv = [
        PY,
        str(CHILD),
        "executor",
        "--wheelhouse",
        str(w.wheelhouse),
        "--cache-dir",
        str(cache),
        "--python",
        str(python),
        "--executors",
        str(executors),
        "--memory",
        str(memory),
        *(["--no-imports"] if payload is None else ["--payload", payload]),
    ]
    env = {k: v for k, v in bench_env().items() if k != "SPARK_HOME"}
    try:
        proc = run_timed(argv, env=env, cwd=cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    data = proc.last_json()
    if len(data["executors"]) < executors:
        raise MeasureError(
            f"only {len(data['executors'])} executor(s) ran the UDF: {data['executors']}"
        )
    if data["import_failures"]:
        raise MeasureError(f"imports failed on executors: {data['import_failures'][:5]}")
    if data["imported_outside_payload"]:
        raise MeasureError(
            f"modules came from outside the payload: {data['imported_outside_payload']}"
        )
    data["wall_seconds"] = proc.seconds
    data["wheelhouse_bytes"] = w.wheelhouse.stat().st_size
    return _sample_from_child(data)


def executor_group(
    w: Workload, payloads: tuple[str, ...] = ("wheels", "tree", "shared")
) -> list[Variant]:
    from sparkdeps.testing.localspark import clean_python

    python = clean_python(w.work / "executor-python")
    variants = [
        Variant(READINESS[payload], lambda payload=payload: _executor_run(w, python, payload))  # type: ignore[misc]
        for payload in payloads
    ]
    return [*variants, Variant(BARE_UDF, lambda: _executor_run(w, python, None))]


def egress_group(w: Workload, executors: int) -> list[Variant]:
    """Bytes served by the driver for ``executors`` executors (1 core, 512 MB each)."""
    from sparkdeps.testing.localspark import clean_python

    python = clean_python(w.work / "executor-python")
    return [
        Variant(
            f"{payload} payload, {executors} executors",
            lambda payload=payload: _executor_run(w, python, payload, executors, 512),  # type: ignore[misc]
        )
        for payload in ("wheels", "tree")
    ]


# --------------------------------------------------------------------------- executor phases

PHASES = {
    "none": "extract, import compiling (-B: no .pyc written)",
    "lazy": "extract, import writing .pyc (the bootstrap)",
    "serial": "extract, compileall (1 worker), import .pyc",
    "parallel": "extract, compileall (1 worker per core), import .pyc",
}


def _phases_run(w: Workload, bytecode: str) -> Sample:
    """One fresh folder: extract, bytecode as ``bytecode`` says, import all (child.py phases)."""
    cache = w.fresh("phases")
    argv = [PY, str(CHILD), "phases", "--wheelhouse", str(w.wheelhouse)]
    argv += ["--cache-dir", str(cache), "--bytecode", bytecode]
    try:
        proc = run_timed(argv, env=bench_env())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    data = proc.last_json()
    data["wall_seconds"] = proc.seconds
    return _sample_from_child(data)


def phases_group(w: Workload) -> list[Variant]:
    return [
        Variant(label, lambda key=key: _phases_run(w, key))  # type: ignore[misc]
        for key, label in PHASES.items()
    ]
