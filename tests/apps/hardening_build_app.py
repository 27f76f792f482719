"""Run ``build()`` in a fresh process, with optional fault hooks; print one JSON line.

Usage: python hardening_build_app.py OPTIONS_JSON

OPTIONS_JSON holds ``source`` and any ``build()`` keyword arguments. Hooks (environment):

* ``HARDENING_STALL_PUBLISH=<file>``: while publishing ``wheelhouse.zip``, write half of
  it under the temporary name, create ``<file>``, then sleep (the test kills us, -9).
* ``HARDENING_RACE=<folder>``: on reaching the publish step, create ``<folder>/ready-<pid>``
  and wait for ``<folder>/go``, so several builds publish at the same moment.
* ``HARDENING_FSIZE=<bytes>`` with ``HARDENING_FSIZE_AT=start|publish``: set
  ``RLIMIT_FSIZE`` (SIGXFSZ ignored, so a write fails with EFBIG as on a full disk)
  from the start, or just before the publish step.

Exit code 0 with ``{"ok": true, ...}``, 3 with ``{"ok": false, "error": ..., "message": ...}``
for a SparkdepsError; anything else is a crash (traceback, exit 1).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _limit_file_size(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _install_hooks() -> None:
    stall = os.environ.get("HARDENING_STALL_PUBLISH")
    if stall:
        original = shutil.copyfile

        def stalling_copy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            name = Path(dst).name
            if name.startswith(".wheelhouse.zip.") and name.endswith(".partial"):
                data = Path(src).read_bytes()
                with open(dst, "wb") as out:
                    out.write(data[: len(data) // 2])
                    out.flush()
                    os.fsync(out.fileno())
                Path(stall).touch()
                time.sleep(600)
            return original(src, dst, *args, **kwargs)

        shutil.copyfile = stalling_copy  # type: ignore[assignment]

        def no_links(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            # A destination on another file system (a /Volumes path): published by copy.
            raise OSError(18, "Invalid cross-device link")

        os.link = no_links  # type: ignore[assignment]
    race = os.environ.get("HARDENING_RACE")
    if race:
        from sparkdeps._build import publish as _racing

        original = _racing._publish

        def racing_publish(*args: Any, **kwargs: Any) -> None:
            (Path(race) / f"ready-{os.getpid()}").touch()
            deadline = time.monotonic() + 120
            while not (Path(race) / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            original(*args, **kwargs)

        _racing._publish = racing_publish  # type: ignore[assignment]
    size = os.environ.get("HARDENING_FSIZE")
    if size:
        if os.environ.get("HARDENING_FSIZE_AT", "start") == "start":
            _limit_file_size(int(size))
        else:
            from sparkdeps._build import publish as _build

            original_publish = _build._publish

            def limited_publish(*args: Any, **kwargs: Any) -> None:
                _limit_file_size(int(size))
                original_publish(*args, **kwargs)

            _build._publish = limited_publish  # type: ignore[assignment]


def main() -> int:
    options: dict[str, Any] = json.loads(sys.argv[1])
    _install_hooks()
    from sparkdeps._build.publish import build
    from sparkdeps._core.errors import SparkdepsError

    source = options.pop("source")
    try:
        result = build(source, **options)
    except SparkdepsError as exc:
        print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
        return 3
    print(json.dumps({"ok": True, **result.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
