"""Fault and concurrency runs in separate processes, shared by the tests and the report.

Each function starts the apps in ``tests/apps/hardening_*.py`` with a private
environment (no ``PIP_*``/``UV_*``, ``SPARKDEPS_CACHE_DIR`` and ``TMPDIR`` under the
run's folder) and returns plain data for the caller to assert on or tally.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hardening.corpus import Resources, snapshot
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"
BUILD_APP = APPS / "hardening_build_app.py"
LOAD_APP = APPS / "hardening_load_app.py"
PIPELINE_APP = APPS / "hardening_pipeline_app.py"
EXECUTOR_KILL_APP = APPS / "hardening_executor_kill_app.py"


RUN_FILES = ["pylock.toml", "requirements.txt", "run.json", "wheelhouse.zip", "wheels"]
"""A published run folder: the marker, the zip and its pip-native form (wheels/, lock, reqs)."""


def app_env(cache: Path, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "HARDENING_"))}
    env.pop("SPARKDEPS_WHEELHOUSE", None)
    env.pop("SPARKDEPS_DEST", None)
    env["SPARKDEPS_CACHE_DIR"] = os.fspath(cache)
    env["TMPDIR"] = os.fspath(tmp)
    env["PYTHONPATH"] = os.pathsep.join([os.fspath(REPO / "src"), os.fspath(REPO)])
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def spawn(app: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, os.fspath(app), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, dict[str, Any], str]:
    """(exit code, the last stdout line as JSON or {}, stderr)."""
    out, err = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else {}
    except ValueError:
        data = {}
    return process.returncode, data, err


def kill_wheelhouse(folder: Path) -> Path:
    """Three small wheels ``sdhard-kill0..2`` in a wheelhouse: what :func:`load_killed`
    interrupts mid-install."""
    wheels = [
        make_wheel(
            folder / "wheels",
            f"sdhard-kill{n}",
            "1.0",
            {f"sdhard_kill{n}/__init__.py": f"N = {n}\n"},
        )
        for n in range(3)
    ]
    return make_wheelhouse(folder / "runs", wheels)


def executor_killed(
    root: Path, resources: Resources, timeout: float = 600
) -> tuple[int, dict[str, Any], str]:
    """Load on a local-cluster, SIGKILL one executor JVM, import again on every executor
    (tests/apps/hardening_executor_kill_app.py): (exit code, its report or {}, stderr)."""
    options = {"root": os.fspath(root), "find_links": os.fspath(resources.packages)}
    completed = subprocess.run(
        [sys.executable, os.fspath(EXECUTOR_KILL_APP), json.dumps(options)],
        env=app_env(root / "cache", root / "tmp"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if completed.returncode == 0 and lines else {}
    return completed.returncode, report, completed.stderr


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the app ended before {path.name}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def wheels_input(folder: Path, size: int = 0) -> Path:
    """A folder input holding one wheel (``sdhard-big``), ``size`` bytes of random payload."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {"sdhard_big/__init__.py": "X = 1\n"}
    if size:
        files["sdhard_big/payload.bin"] = os.urandom(size)
    make_wheel(folder, "sdhard-big", "1.0", files)
    return folder


# --------------------------------------------------------------------------- faults


def publish_killed(root: Path, resources: Resources) -> dict[str, Any]:
    """SIGKILL a build while it writes wheelhouse.zip; then build again with the same dest."""
    dest, cache, tmp = root / "dest", root / "cache", root / "tmp"
    source = wheels_input(root / "input", size=2_000_000)
    signal_file = root / "stalled"
    options = {
        "source": os.fspath(source),
        "dest": os.fspath(dest),
        "run_id": "killed",
        "no_index": True,
        "task_value_key": None,
    }
    env = app_env(cache, tmp, HARDENING_STALL_PUBLISH=os.fspath(signal_file))
    process = spawn(BUILD_APP, [json.dumps(options)], env)
    wait_for(signal_file, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    run = dest / "killed"
    after_kill = sorted(p.name for p in run.iterdir()) if run.exists() else []
    partials = [p for p in run.glob("*.partial")] if run.exists() else []
    partial_sizes = [p.stat().st_size for p in partials]
    # the next run (fresh run id, same dest and cache) must succeed
    again = {**options, "run_id": "next"}
    code, data, err = finish(spawn(BUILD_APP, [json.dumps(again)], app_env(cache, tmp)))
    from sparkdeps._runtime.cleanup import cleanup

    removed = cleanup(os.fspath(run), cache_dir=cache).removed if run.exists() else ()
    return {
        "killed_returncode": process.returncode,
        "after_kill": after_kill,
        "final_present": (run / "wheelhouse.zip").exists() or "wheelhouse.zip" in after_kill,
        "partial_sizes": partial_sizes,
        "next_ok": code == 0 and bool(data.get("ok")),
        "next_error": err[-2000:] if code else "",
        "next_uri": data.get("uri"),
        "cleanup_removed": list(removed),
        "run_left": run.exists(),
        "tmp_left": sorted(p.name for p in tmp.iterdir()),
    }


def disk_full(root: Path, at: str, limit: int = 1_000_000) -> dict[str, Any]:
    """A build whose writes fail with EFBIG past ``limit`` bytes (from ``start`` or ``publish``)."""
    dest, cache, tmp = root / "dest", root / "cache", root / "tmp"
    source = wheels_input(root / "input", size=3 * limit)
    options = {
        "source": os.fspath(source),
        "dest": os.fspath(dest),
        "run_id": "full",
        "no_index": True,
        "task_value_key": None,
        "use_cache": False,
    }
    env = app_env(cache, tmp, HARDENING_FSIZE=str(limit), HARDENING_FSIZE_AT=at)
    before = snapshot(source)
    code, data, err = finish(spawn(BUILD_APP, [json.dumps(options)], env))
    left = sorted(os.fspath(p.relative_to(dest)) for p in dest.rglob("*")) if dest.exists() else []
    return {
        "returncode": code,
        "error": data.get("error"),
        "message": data.get("message", ""),
        "stderr": err[-3000:],
        "dest_left": left,
        "tmp_left": sorted(p.name for p in tmp.iterdir()),
        "input_changed": snapshot(source) != before,
    }


def load_killed(root: Path, wheelhouse: Path, modules: list[str]) -> dict[str, Any]:
    """SIGKILL a load mid-extraction; the next load (another process) redoes the install."""
    cache, tmp = root / "cache", root / "tmp"
    signal_file = root / "stalled"
    env = app_env(cache, tmp, HARDENING_STALL_INSTALL=os.fspath(signal_file))
    process = spawn(LOAD_APP, [os.fspath(wheelhouse), *modules], env)
    wait_for(signal_file, process)
    installs = cache / "node" / "installs"
    during = sorted(p.name for p in installs.iterdir())
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    after_kill = sorted(p.name for p in installs.iterdir())
    code, data, err = finish(
        spawn(LOAD_APP, [os.fspath(wheelhouse), *modules], app_env(cache, tmp))
    )
    return {
        "during": during,
        "after_kill": after_kill,
        "next_returncode": code,
        "next_error": err[-2000:],
        "next": data,
        "after_next": sorted(p.name for p in installs.iterdir()),
        "install_log": (cache / "node" / "install.log").read_text().splitlines()
        if (cache / "node" / "install.log").exists()
        else [],
    }


def cleanup_during_load(root: Path, wheelhouse: Path, modules: list[str]) -> dict[str, Any]:
    """Remove the run folder while a load is between two wheels; the load must finish."""
    from sparkdeps._runtime.cleanup import cleanup

    cache, tmp, pause = root / "cache", root / "tmp", root / "paused"
    env = app_env(cache, tmp, HARDENING_PAUSE_INSTALL=os.fspath(pause))
    process = spawn(LOAD_APP, [os.fspath(wheelhouse), *modules], env)
    wait_for(pause, process)
    error = ""
    try:
        removed = list(cleanup(os.fspath(wheelhouse.parent), cache_dir=cache).removed)
    except Exception as exc:  # the outcome records it
        removed, error = [], f"{type(exc).__name__}: {exc}"
    Path(os.fspath(pause) + ".go").touch()
    code, data, err = finish(process)
    return {
        "cleanup_removed": removed,
        "cleanup_error": error,
        "load_returncode": code,
        "load_error": err.strip()[-800:] if code else "",
        "imported": data.get("files", {}),
        "run_left": wheelhouse.parent.exists(),
    }


# --------------------------------------------------------------------------- concurrency


@dataclass
class ConcurrentRuns:
    name: str
    processes: int
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.succeeded == self.processes and not self.failures


def pipelines(root: Path, resources: Resources, count: int = 16) -> ConcurrentRuns:
    """``count`` build -> load -> verify -> cleanup pipelines at once, one run folder each.

    All share ``dest`` and the cache root (the build cache and the node cache are meant to
    be shared); each input differs (its own ``sdpipe_<n>`` module), so each run has its
    own wheelhouse and install folder.
    """
    dest, cache, tmp, go = root / "dest", root / "cache", root / "tmp", root / "go"
    modules = [f"sdpipe_{n}" for n in range(count)]
    processes = []
    for n, module in enumerate(modules):
        source = root / "inputs" / f"pipe{n}"
        source.mkdir(parents=True)
        # prebuilt wheels + a loose module ("mixed"): uv still resolves the closure, but
        # no pip download runs, which keeps 16 processes affordable on 2 cores
        for wheel in resources.packages.glob("*.whl"):
            shutil.copyfile(wheel, source / wheel.name)
        (source / f"{module}.py").write_text(f"WHO = {n}\n")
        options = {
            "source": os.fspath(source),
            "dest": os.fspath(dest),
            "run_id": f"pipe-{n}",
            "find_links": [os.fspath(resources.packages)],
            "module": module,
            "others": [other for other in modules if other != module],
            "go": os.fspath(go),
        }
        processes.append(spawn(PIPELINE_APP, [json.dumps(options)], app_env(cache, tmp)))
    started = time.perf_counter()
    go.touch()
    outcome = ConcurrentRuns("build->load->verify->cleanup pipelines", count)
    for n, process in enumerate(processes):
        code, data, err = finish(process, timeout=300)
        problems = _pipeline_problems(n, modules[n], code, data, err)
        outcome.details.append(data)
        if problems:
            outcome.failures.append(f"pipeline {n}: {'; '.join(problems)}")
        else:
            outcome.succeeded += 1
    outcome.seconds = time.perf_counter() - started
    left = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
    if left:
        outcome.failures.append(f"left under dest after cleanup: {left}")
    tmp_left = sorted(p.name for p in tmp.iterdir())
    if tmp_left:
        outcome.failures.append(f"left in TMPDIR: {tmp_left}")
    folders = {d.get("folder") for d in outcome.details}
    if len(folders) != count:
        outcome.failures.append(f"{len(folders)} distinct install folders for {count} runs")
    outcome.notes.append(
        "driver-only load + import check in a fresh interpreter per pipeline; the executor "
        "side is the local-cluster executor-kill run"
    )
    return outcome


def _pipeline_problems(n: int, module: str, code: int, data: dict[str, Any], err: str) -> list[str]:
    if code != 0 or not data:
        return [f"exit {code}: {err.strip()[-800:]}"]
    problems = []
    if data.get("run_files") != RUN_FILES:
        problems.append(f"run folder holds {data.get('run_files')}")
    own = data["verify"]["own"]
    folder = data["folder"]
    if not all(str(path).startswith(folder) for path in own.values()):
        problems.append(f"imports not from its install folder: {own}")
    if data["verify"]["others_importable"]:
        problems.append(f"sees other runs' modules {data['verify']['others_importable']}")
    mine = {name for name in data["top_level"] if name.startswith("sdpipe_")}
    if mine != {module}:
        problems.append(f"its wheelhouse holds {sorted(mine)}")
    if data.get("run_folder_exists") or not data.get("cleanup"):
        problems.append("cleanup did not remove the run folder")
    return problems


def same_run_id(root: Path, count: int = 4) -> ConcurrentRuns:
    """``count`` builds of different inputs into one ``--run-id`` and dest, publishing at once.

    Exactly one may win; the others fail with a clear error, and the published
    ``run.json`` carries the digest of the ``wheelhouse.zip`` beside it.
    """
    import hashlib

    dest, cache, tmp, race = root / "dest", root / "cache", root / "tmp", root / "race"
    race.mkdir(parents=True)
    processes = []
    for n in range(count):
        source = root / "inputs" / f"race{n}"
        source.mkdir(parents=True)
        (source / f"sdrace_{n}.py").write_text(f"WHO = {n}\n")
        options = {
            "source": os.fspath(source),
            "dest": os.fspath(dest),
            "run_id": "contested",
            "no_index": True,
            "task_value_key": None,
            "name": f"sdrace-{n}",
        }
        env = app_env(cache / str(n), tmp, HARDENING_RACE=os.fspath(race))
        processes.append(spawn(BUILD_APP, [json.dumps(options)], env))
    started = time.perf_counter()
    deadline = time.monotonic() + 240
    while len(list(race.glob("ready-*"))) < count and time.monotonic() < deadline:
        if all(process.poll() is not None for process in processes):
            break
        time.sleep(0.05)
    (race / "go").touch()
    outcome = ConcurrentRuns("builds racing for one run id", count)
    results = [finish(process, timeout=300) for process in processes]
    outcome.seconds = time.perf_counter() - started
    winners = [data for code, data, _err in results if code == 0 and data.get("ok")]
    losers = [data for code, data, _err in results if code == 3]
    crashed = [err.strip()[-600:] for code, _data, err in results if code not in (0, 3)]
    outcome.details = [data for _code, data, _err in results]
    outcome.succeeded = count if len(winners) == 1 and len(losers) == count - 1 else 0
    if len(winners) != 1:
        outcome.failures.append(f"{len(winners)} builds reported success; exactly 1 must")
    for data in losers:
        if data.get("error") != "StorageError" or "already exists" not in data.get("message", ""):
            outcome.failures.append(f"a losing build said {data}")
    outcome.failures += [f"crashed: {err}" for err in crashed]
    run = dest / "contested"
    wheelhouse, marker = run / "wheelhouse.zip", run / "run.json"
    if wheelhouse.is_file() and marker.is_file():
        digest = hashlib.sha256(wheelhouse.read_bytes()).hexdigest()
        if json.loads(marker.read_text()).get("digest") != digest:
            outcome.failures.append("run.json's digest is not the wheelhouse's")
        if winners and winners[0].get("digest") != digest:
            outcome.failures.append("the winner's digest is not the published wheelhouse's")
    else:
        outcome.failures.append(f"run folder holds {sorted(p.name for p in run.iterdir())}")
    left = sorted(p.name for p in run.iterdir()) if run.exists() else []
    if left != RUN_FILES:
        outcome.failures.append(f"run folder holds {left}")
    outcome.notes.append(f"{len(winners)} winner, {len(losers)} refused")
    return outcome


def shared_wheelhouse(root: Path, resources: Resources) -> Path:
    """A built wheelhouse (prebuilt wheels + ``sdpipe_shared.py``) for the loaders run."""
    from sparkdeps._build.publish import build

    source = root / "input"
    source.mkdir(parents=True)
    (source / "requirements.txt").write_text("sdhard-dep\n")
    (source / "sdpipe_shared.py").write_text("SHARED = True\n")
    result = build(
        source,
        dest=root / "dest",
        no_index=True,
        find_links=[resources.packages],
        task_value_key=None,
    )
    return Path(result.uri)


def loaders(root: Path, wheelhouse: Path, modules: list[str], count: int = 8) -> ConcurrentRuns:
    """``count`` processes load the same wheelhouse on one node at once: one installs."""
    cache, tmp, go = root / "cache", root / "tmp", root / "go"
    env = app_env(cache, tmp, HARDENING_GO=os.fspath(go))
    processes = [spawn(LOAD_APP, [os.fspath(wheelhouse), *modules], env) for _ in range(count)]
    started = time.perf_counter()
    go.touch()
    outcome = ConcurrentRuns("loaders of one wheelhouse on one node", count)
    for n, process in enumerate(processes):
        code, data, err = finish(process)
        outcome.details.append(data)
        if code != 0 or not data:
            outcome.failures.append(f"loader {n}: exit {code}: {err.strip()[-800:]}")
        else:
            outcome.succeeded += 1
    outcome.seconds = time.perf_counter() - started
    installed = [d for d in outcome.details if d and d.get("reused") is False]
    log = cache / "node" / "install.log"
    lines = log.read_text().splitlines() if log.exists() else []
    if len(installed) != 1 or len(lines) != 1:
        outcome.failures.append(
            f"{len(installed)} processes installed ({len(lines)} install.log lines); expected 1"
        )
    if len({d.get("folder") for d in outcome.details if d}) != 1:
        outcome.failures.append("loaders ended with different folders")
    outcome.notes.append(f"{len(installed)} installed, {count - len(installed)} reused")
    return outcome


_LOAD_REPORT = """
import json, sys
from sparkdeps._runtime.load import load
try:
    load(sys.argv[1], delivery="driver-only", cache_dir=sys.argv[2])
    print(json.dumps({"error": None}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                      "errno": getattr(exc.__cause__, "errno", None)}))
"""


def load_disk_full(root: Path) -> dict[str, Any]:
    """A driver load into a node cache on a real 1 MiB tmpfs (``unshare -m``, root only):
    the wheelhouse unpacks to 3 MB. {} when this machine cannot mount one."""
    if shutil.which("unshare") is None or getattr(os, "geteuid", lambda: -1)() != 0:
        return {}
    payload = b"".join(os.urandom(16) + bytes(784) for _ in range(3750))  # 3 MB, ~40:1
    wheel = make_wheel(
        root / "wheels", "sdhard-full", "1.0", {"sdhard_full/__init__.py": "X = 1\n",
                                                "sdhard_full/blob.bin": payload}
    )  # fmt: skip
    wheelhouse = make_wheelhouse(root / "runs", [wheel])
    cache = root / "small-cache"
    cache.mkdir(parents=True)
    script = f'mount -t tmpfs -o size=1m,mode=0700 tmpfs {cache} && exec "$@"'
    command = [sys.executable, "-c", _LOAD_REPORT, os.fspath(wheelhouse), os.fspath(cache)]
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *command],
        env=app_env(root / "cache", root / "tmp"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    return (
        dict(json.loads(lines[-1])) if done.returncode == 0 and lines else {"stderr": done.stderr}
    )
