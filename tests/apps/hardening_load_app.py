"""``load()`` (driver-only) in a fresh process, then import the given modules; print JSON.

Usage: python hardening_load_app.py WHEELHOUSE [MODULE ...]

Hooks (environment):

* ``HARDENING_GO=<file>``: wait for ``<file>`` before loading (start several at once).
* ``HARDENING_STALL_INSTALL=<file>``: extract the first wheel into the partial folder,
  create ``<file>``, then sleep (the test kills us, -9, mid-install).
* ``HARDENING_PAUSE_INSTALL=<file>``: extract the first wheel, create ``<file>``, wait for
  ``<file>.go``, then go on (the test removes the run folder meanwhile).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    wheelhouse, modules = sys.argv[1], sys.argv[2:]
    go = os.environ.get("HARDENING_GO")
    if go:
        deadline = time.monotonic() + 120
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    stall = os.environ.get("HARDENING_STALL_INSTALL")
    if stall:
        from sparkdeps._runtime import unpack as _install

        original = _install.extract_wheel

        def stalling_extract(zip_path: Path, filename: str, folder: Path) -> int:
            written = original(zip_path, filename, folder)
            Path(stall).touch()
            time.sleep(600)
            return written

        _install.extract_wheel = stalling_extract  # type: ignore[assignment]
    pause = os.environ.get("HARDENING_PAUSE_INSTALL")
    if pause:
        from sparkdeps._runtime import unpack as _paused

        first = _paused.extract_wheel
        paused: list[bool] = []

        def pausing_extract(zip_path: Path, filename: str, folder: Path) -> int:
            written = first(zip_path, filename, folder)
            if not paused:
                paused.append(True)
                Path(pause).touch()
                deadline = time.monotonic() + 120
                while not Path(pause + ".go").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
            return written

        _paused.extract_wheel = pausing_extract  # type: ignore[assignment]
    from sparkdeps._runtime.load import load

    result = load(wheelhouse, delivery="driver-only")
    files: dict[str, Any] = {}
    for name in modules:
        files[name] = importlib.import_module(name).__file__
    print(json.dumps({**result.to_dict(), "files": files, "pid": os.getpid()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
