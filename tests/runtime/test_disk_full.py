"""A full disk during load is a sparkdeps error naming the folder and the space needed.

The disk really fills: the node cache is a 1 MiB tmpfs mounted in a private mount
namespace (``unshare -m``, root), and a wheelhouse that unpacks to about 3 MB is loaded
into it by a fresh interpreter. The executor side (the bootstrap) is filled the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._runtime.load import load
from sparkdeps._runtime.wheelpayload import archive_name, boot_zip, wheelhouse_payload

REPO = Path(__file__).resolve().parents[2]

LOAD = """
import json, sys
from sparkdeps._runtime.load import load
try:
    load(sys.argv[1], delivery="driver-only", cache_dir=sys.argv[2])
    print(json.dumps({"error": None}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                      "errno": getattr(exc.__cause__, "errno", None)}))
"""

WORKER = """
import importlib, json, sys
sys.path.insert(1, sys.argv[1])
try:
    importlib.import_module("sdfull")
    print(json.dumps({"error": None}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def _tiny_disk(mount: Path, command: list[str], cwd: Path | None = None) -> dict[str, object]:
    """Run ``command`` with a 1 MiB tmpfs on ``mount``; its last stdout line as JSON."""
    if shutil.which("unshare") is None or getattr(os, "geteuid", lambda: -1)() != 0:
        pytest.skip("needs root and unshare to mount a tmpfs in a private mount namespace")
    mount.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size=1m,mode=0700 tmpfs {mount} && exec "$@"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _big_wheelhouse(tmp_path: Path) -> Path:
    # 3 MB that deflate about 40:1 (well under the zip-bomb ratio): the wheel fits the tiny
    # disk, what it unpacks to does not
    payload = b"".join(os.urandom(16) + bytes(784) for _ in range(3750))
    wheel = make_wheel(
        tmp_path / "wheels",
        "sdfull",
        "1.0",
        {"sdfull/__init__.py": "X = 1\n", "sdfull/blob.bin": payload},
    )
    return make_wheelhouse(tmp_path / "runs", [wheel])


def test_a_full_disk_on_the_driver_names_the_folder_and_the_space(tmp_path: Path) -> None:
    wheelhouse = _big_wheelhouse(tmp_path)
    cache = tmp_path / "small-cache"
    out = _tiny_disk(cache, [sys.executable, "-c", LOAD, str(wheelhouse), str(cache)])
    assert out["error"] == "StorageError", out
    message = str(out["message"])
    assert out["errno"] == 28, "a real ENOSPC"
    assert f"no space left in {cache / 'node' / 'installs'}" in message, message
    assert "needs about 3.0 MB" in message and "SPARKDEPS_CACHE_DIR" in message, message
    assert "Nothing was installed" in message


def test_a_full_disk_on_an_executor_names_the_folder_and_the_space(tmp_path: Path) -> None:
    wheelhouse = _big_wheelhouse(tmp_path)
    loaded = load(wheelhouse, delivery="driver-only", cache_dir=tmp_path / "cache")
    sys.modules.pop("sdfull", None)
    payload = wheelhouse_payload(wheelhouse, loaded.digest, tmp_path / "payloads")
    stubs = boot_zip(loaded.folder, loaded.digest, tmp_path / "payloads")
    # the executor's folder is the tiny disk: Spark unpacks the archive, then the worker runs
    executor = tmp_path / "executor"
    unpack = (
        "import shutil, sys, zipfile; "
        f"zipfile.ZipFile({str(payload)!r}).extractall(sys.argv[1] + '/{archive_name(loaded.digest)}'); "
        f"shutil.copyfile({str(stubs)!r}, sys.argv[1] + '/{stubs.name}')"
    )
    script = f"{sys.executable} -c \"{unpack}\" {executor} && {sys.executable} -I -c '{WORKER}' {executor / stubs.name}"
    with zipfile.ZipFile(payload) as archive:
        assert sum(info.file_size for info in archive.infolist()) < 1_048_576, "the wheels fit"
    out = _tiny_disk(executor, ["sh", "-c", script], cwd=tmp_path)
    assert out["error"] == "ImportError", out
    message = str(out["message"])
    assert f"no space left in {executor / archive_name(loaded.digest)}" in message, message
    assert "needs about 3.0 MB" in message
