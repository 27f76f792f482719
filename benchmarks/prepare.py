"""Fill ``benchmarks/.mirror/`` once: the wheels of each workload, for this host.

W1 and W2 come from the package index through ``pip download --only-binary=:all:``
(the one step that leaves the machine, like ``pip install``; skipped when the
mirror is complete). W0 is the set of packages the tests build (offline).
Every measurement afterwards serves these folders on 127.0.0.1 only.

    python benchmarks/prepare.py [--workloads W0,W1,W2] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MIRROR = HERE / ".mirror"
WORKLOADS_DIR = HERE / "workloads"
REMOTE_WORKLOADS = ("W1", "W2")
# What W0 asks for: the test packages, a C extension, a marker, a PyPI-like pure package.
W0_REQUIREMENTS = ("sdtest-alpha", "sdtest-marker", "sdtest-cext", "python-dateutil")
_STAMP = ".complete.json"


def requirements_file(workload: str) -> Path:
    """The requirements input of a workload (W0's is written by :func:`prepare_w0`)."""
    if workload == "W0":
        return MIRROR / "W0.txt"
    return WORKLOADS_DIR / f"{workload}.txt"


def wheels_dir(workload: str) -> Path:
    """The folder the local index serves for ``workload``."""
    return MIRROR / workload


def _stamp_key(workload: str) -> str:
    text = (
        requirements_file(workload).read_text() if workload != "W0" else "\n".join(W0_REQUIREMENTS)
    )
    return hashlib.sha256(f"{workload}\n{sys.version}\n{text}".encode()).hexdigest()


def is_complete(workload: str) -> bool:
    stamp = wheels_dir(workload) / _STAMP
    try:
        return json.loads(stamp.read_text()).get("key") == _stamp_key(workload)
    except (OSError, ValueError):
        return False


def _write_stamp(workload: str) -> None:
    folder = wheels_dir(workload)
    files = sorted(
        p.name for p in folder.iterdir() if p.suffix == ".whl" or p.name.endswith(".tar.gz")
    )
    size = sum((folder / name).stat().st_size for name in files)
    (folder / _STAMP).write_text(
        json.dumps({"key": _stamp_key(workload), "files": files, "bytes": size}, indent=1)
    )


def prepare_remote(workload: str) -> None:
    """``pip download`` the workload's closure for this host (markers and tags of this Python)."""
    folder = wheels_dir(workload)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # The machine's own pip settings are kept on purpose: this is the ordinary client.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--only-binary=:all:",
            "--no-input",
            "-d",
            str(partial),
            "-r",
            str(requirements_file(workload)),
        ],
        check=True,
    )
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    _write_stamp(workload)


def prepare_w0() -> None:
    """Build the test packages (tests/conftest.py) for the running interpreter only."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.conftest import _build_test_packages

    folder = wheels_dir("W0")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    _build_test_packages(folder, {version: Path(sys.executable)})
    requirements_file("W0").write_text("".join(f"{name}\n" for name in W0_REQUIREMENTS))
    _write_stamp("W0")


def prepare(workloads: list[str], *, force: bool = False) -> None:
    MIRROR.mkdir(parents=True, exist_ok=True)
    for workload in workloads:
        if not force and is_complete(workload):
            continue
        print(f"prepare: filling {wheels_dir(workload)}", file=sys.stderr)
        if workload == "W0":
            prepare_w0()
        elif workload in REMOTE_WORKLOADS:
            prepare_remote(workload)
        else:
            raise SystemExit(f"unknown workload {workload!r}: use W0, W1 or W2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W0,W1,W2")
    parser.add_argument("--force", action="store_true", help="download again even if complete")
    args = parser.parse_args(argv)
    prepare([w.strip() for w in args.workloads.split(",") if w.strip()], force=args.force)
    for workload in args.workloads.split(","):
        stamp = json.loads((wheels_dir(workload) / _STAMP).read_text())
        print(f"{workload}: {len(stamp['files'])} files, {stamp['bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUTF8", "1")
    raise SystemExit(main())
