"""Unpacking a checked wheelhouse into an install folder: every wheel extracted, the
markers written, the folder renamed into place so it exists only when complete.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._core.errors import StorageError
from .._core.manifest import MANIFEST_NAME, WheelInfo
from .._core.progress import Tracker
from .extract import extract_bytecode, extract_wheel, open_stored_wheel, usable_bytecode
from .fetch import COMPLETE_MARKER, Prepared
from .install import bytecode_marker, interpreter_key

__all__ = ["unpack_into"]

logger = logging.getLogger(__name__)

_BIG_WHEEL = 4 << 20


def _extract_all(
    prepared: Prepared, folder: Path, leave_out: Collection[str] = (), *, bytecode: bool = False
) -> int:
    """Big wheels on a background thread, small ones on this one, side by side.

    Measured on 2 cores: big wheels spend their time in zlib and writes, which
    release the GIL, so one helper thread nearly halves a 25 MB wheelhouse; many
    small files are bound by Python overhead under the GIL, and more threads only
    add contention (a tzdata-sized wheelhouse was 3x slower with a pool of 4).
    """
    assert prepared.manifest is not None
    wheels = sorted(
        (wheel for wheel in prepared.manifest.wheels if wheel.filename not in leave_out),
        key=lambda wheel: -wheel.size,
    )
    tracker = Tracker(
        "install",
        total=len(wheels),
        bytes_total=sum(wheel.size for wheel in wheels),
        item_level=logging.DEBUG,  # hundreds of wheels: one INFO line at the end
    )

    def one(wheel: WheelInfo) -> int:
        tracker.start(wheel.filename)
        written = extract_wheel(prepared.zip_path, wheel.filename, folder)
        tracker.item_done(wheel.filename, wheel.size)
        return written

    big = [wheel for wheel in wheels if wheel.size >= _BIG_WHEEL]
    small = [wheel for wheel in wheels if wheel.size < _BIG_WHEEL]
    helpers = min(len(big), 4, max(1, (os.cpu_count() or 1) - 1))
    if not big or (os.cpu_count() or 1) < 2:
        written = sum(one(w) for w in wheels)
    else:
        with ThreadPoolExecutor(helpers, thread_name_prefix="sparkdeps-extract") as pool:
            try:
                futures = [pool.submit(one, w) for w in big]
            except RuntimeError:  # the interpreter is exiting (a driver install finishing
                futures = []  # after load() returned, pending.py): no new threads, so here
                small = wheels
            written = sum(one(w) for w in small)
            written += sum(future.result() for future in futures)
    shipped = usable_bytecode(prepared.manifest.bytecode) if bytecode else None
    marker = bytecode_marker(folder)
    if shipped is not None and marker is not None:
        names = {wheel.filename for wheel in wheels}
        written += extract_bytecode(prepared.zip_path, shipped, folder, names)
        # compiled as pip would: a shared install starts no compile of its own
        # (driver.py); a module left out (a package's tests) compiles at its import
        marker.write_text(json.dumps({"shipped": shipped.cache_tag}), "utf-8")
    tracker.finish()
    return written


def unpack_into(
    prepared: Prepared,
    installs: Path,
    folder: Path,
    *,
    leave_out: Collection[str] = (),
    bytecode: bool = False,
) -> int:
    """Extract into a partial folder, write the markers, rename: bytes written.

    ``bytecode``: with the shipped ``.pyc`` files (docs/delivery.md, "Bytecode").

    ``leave_out``: wheels not extracted (a Connect client's misfits); the marker lists
    them, the kept manifest and ``top_level`` still cover every wheel (executors get all).
    """
    manifest = prepared.manifest
    assert manifest is not None
    partial = installs / f".{prepared.digest}.{uuid.uuid4().hex}.partial"
    partial.mkdir()
    try:
        size = _extract_all(prepared, partial, leave_out, bytecode=bytecode)
        marker = {
            "uri": prepared.uri,
            "digest": prepared.digest,
            "wheels": [w.filename for w in manifest.wheels if w.filename not in leave_out],
            "left_out": sorted(leave_out),
            "top_level": list(manifest.top_level),
            "target": dict(manifest.target),
            # check_wheels passed on this interpreter: its warm loads skip the tag check
            "checked_for": interpreter_key(),
            # what LoadResult.shadows reports, so a warm load reads no manifest for it
            "shadows": manifest.shadowed(),
            **({"runtime": dict(manifest.runtime)} if manifest.runtime is not None else {}),
            "pid": os.getpid(),
            "installed": time.time(),
            "bytes": size,
        }
        (partial / MANIFEST_NAME).write_bytes(manifest.to_json())
        (partial / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1), "utf-8")
        partial.rename(folder)  # atomic: the folder exists only when complete
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if exc.errno in _NO_SPACE:
            raise _no_space(prepared, installs) from exc
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return size


_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _no_space(prepared: Prepared, installs: Path) -> StorageError:
    """The disk (or quota) of ``installs`` filled up: say where, how much, and what to do."""
    assert prepared.manifest is not None
    needed = 0
    for wheel in prepared.manifest.wheels:
        with (
            open_stored_wheel(prepared.zip_path, wheel.filename) as handle,
            zipfile.ZipFile(handle) as opened,
        ):
            needed += sum(info.file_size for info in opened.infolist())
    free = shutil.disk_usage(installs).free
    return StorageError(
        f"no space left in {installs} to install {prepared.uri}: the install needs about "
        f"{needed / 1e6:.1f} MB and {free / 1e6:.1f} MB is free there; free some space, or "
        "set SPARKDEPS_CACHE_DIR (or cache_dir=) to a folder on a bigger disk. Nothing was "
        "installed."
    )
