"""Cleanup keeps node payloads a live application still serves (issue 21, item 6).

Two runs with one digest (a build-cache hit publishes the same bytes twice) share
``node/payloads/<digest>.wheels/``. Each holder is a real process that made the
executor payload exactly as delivery does (``payload_files``: stubs, the linked
wheelhouse, the holder file) and then stays alive as a Spark driver would; one is
SIGKILLed, as a driver can be. No Spark is needed to hold a payload.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._runtime.cleanup import cleanup
from sparkdeps._runtime.holders import HOLDERS

REPO = Path(__file__).resolve().parents[2]
HOLDER = REPO / "tests" / "apps" / "payload_holder_app.py"


def _same_digest_runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Run folders ``run-a`` and ``run-b`` with one wheelhouse (one digest), and ``run-c``."""
    wheel = make_wheel(tmp_path / "wheels", "sdhold", "1.0", {"sdhold/__init__.py": "X = 1\n"})
    first = make_wheelhouse(tmp_path / "runs", [wheel], run_id="run-a")
    second = tmp_path / "runs" / "run-b"
    second.mkdir()
    shutil.copyfile(first, second / "wheelhouse.zip")
    marker = json.loads((first.parent / "run.json").read_text())
    (second / "run.json").write_text(json.dumps({**marker, "run_id": "run-b"}))
    other = make_wheel(tmp_path / "wheels", "sdhold-c", "1.0", {"sdhold_c.py": "X = 1\n"})
    third = make_wheelhouse(tmp_path / "runs", [other], run_id="run-c")
    return first.parent, second, third.parent


def _holder(wheelhouse: Path, cache: Path, release: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    process = subprocess.Popen(
        [sys.executable, str(HOLDER), str(wheelhouse), str(cache), str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.communicate(timeout=30)
    return process, str(json.loads(line)["stubs"])


def test_cleanup_keeps_a_payload_until_its_last_holder_ends(tmp_path: Path) -> None:
    run_a, run_b, run_c = _same_digest_runs(tmp_path)
    cache = tmp_path / "cache"
    release = tmp_path / "release"
    first, stubs = _holder(run_a / "wheelhouse.zip", cache, release)
    second, stubs_b = _holder(run_b / "wheelhouse.zip", cache, release)
    wheels = Path(stubs).parent
    assert Path(stubs_b).parent == wheels, "one digest, one node payload"
    assert len(list((wheels / HOLDERS).glob("*.hold"))) == 2
    try:
        gone_a = cleanup(str(run_a), cache_dir=cache)
        assert str(run_a) in gone_a.removed and not run_a.exists()
        assert gone_a.kept == (str(wheels),), "two live holders: the payload stays"
        assert Path(stubs).is_file()

        first.send_signal(signal.SIGKILL)  # a driver killed: its lock goes with it
        first.wait(timeout=30)
        gone_b = cleanup(str(run_b), cache_dir=cache)
        assert gone_b.kept == (str(wheels),), "one live holder left: the payload stays"
        assert Path(stubs).is_file()
        assert len(list((wheels / HOLDERS).glob("*.hold"))) == 1, "the dead holder's file went"
    finally:
        release.touch()
        for process in (first, second):
            process.wait(timeout=30)
    assert second.returncode == 0, second.communicate()[1]
    # every holder ended: the next cleanup sweeps it once unused for a while (aged here)
    old = time.time() - 7200
    os.utime(wheels, (old, old))
    gone_c = cleanup(str(run_c), cache_dir=cache)
    assert str(wheels) in gone_c.removed and not wheels.exists()


def test_a_recent_unheld_payload_of_another_digest_is_left_alone(tmp_path: Path) -> None:
    run_a, _run_b, run_c = _same_digest_runs(tmp_path)
    cache = tmp_path / "cache"
    release = tmp_path / "release"
    release.touch()  # the holder ends at once
    process, stubs = _holder(run_a / "wheelhouse.zip", cache, release)
    process.wait(timeout=30)
    gone = cleanup(str(run_c), cache_dir=cache)
    assert str(Path(stubs).parent) not in gone.removed and Path(stubs).is_file()


def test_the_process_that_delivered_keeps_its_payload_from_its_own_cleanup(
    tmp_path: Path,
) -> None:
    # a job that loads with a session and cleans up its run in the same process (the
    # session may still run): its payload stays until the process ends
    from sparkdeps._runtime.delivery import payload_files
    from sparkdeps._runtime.load import load

    run_a, _run_b, _run_c = _same_digest_runs(tmp_path)
    cache = tmp_path / "cache"
    wheelhouse = run_a / "wheelhouse.zip"
    loaded = load(wheelhouse, delivery="driver-only", cache_dir=cache)
    sys.modules.pop("sdhold", None)
    payloads = cache / "node" / "payloads"
    for _ in range(2):  # a second delivery in one process records no second holder
        _archive, stubs = payload_files(
            loaded.folder, loaded.digest, payloads, source=(wheelhouse, wheelhouse), site=None
        )
    assert len(list((stubs.parent / HOLDERS).glob("*.hold"))) == 1
    gone = cleanup(str(run_a), cache_dir=cache)
    assert gone.kept == (str(stubs.parent),) and stubs.is_file()
