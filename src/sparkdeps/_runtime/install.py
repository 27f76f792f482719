"""Driver install: a wheelhouse unpacked into a node-local cache folder keyed by its digest.

Layout under the cache root (``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` ->
``~/.cache/sparkdeps``)::

    node/refs/<sha256(uri)>.json      (path, size, mtime, inode, ctime) -> digest: a warm load
                                      hashes nothing
    node/installs/<digest>/           exists only when complete (renamed from a partial folder)
    node/installs/.<digest>.<uuid>.partial/
    node/locks/<digest>.lock          one flock per digest: one process installs, others wait
    node/install.log                  one line per real install (evidence for tests and people)

The node cache's folders are private (``_core/private.py``). Finding the
wheelhouse and its digest is :mod:`.fetch`; every wheel's tags, sha256 and
contents are checked by :mod:`.checks` *before* anything is written here. Wheels
are read straight out of ``wheelhouse.zip`` (they are stored, not compressed,
so a slice of the file is a wheel) and extracted in parallel, streaming, in
constant memory.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core.errors import IntegrityError
from .._core.hashing import CHUNK
from .._core.locking import file_lock
from .._core.manifest import MANIFEST_NAME, WheelInfo
from .._core.paths import cache_root, node_dir
from .._core.private import private_dir
from .._core.progress import Tracker, plural
from .._core.runner import pip_command, run
from .._core.timing import timed
from .extract import extract_wheel, open_stored_wheel
from .fetch import COMPLETE_MARKER, Prepared, installed_marker, write_ref

__all__ = [
    "COMPLETE_MARKER",
    "InstallResult",
    "activate",
    "cache_root",
    "install",
    "node_dir",
    "pip_install",
]

logger = logging.getLogger(__name__)




# --------------------------------------------------------------------------- extraction


_BIG_WHEEL = 4 << 20


def _extract_all(prepared: Prepared, folder: Path) -> int:
    """Big wheels on a background thread, small ones on this one, side by side.

    Measured on 2 cores: big wheels spend their time in zlib and writes, which
    release the GIL, so one helper thread nearly halves a 25 MB wheelhouse; many
    small files are bound by Python overhead under the GIL, and more threads only
    add contention (a tzdata-sized wheelhouse was 3x slower with a pool of 4).
    """
    assert prepared.manifest is not None
    wheels = sorted(prepared.manifest.wheels, key=lambda wheel: -wheel.size)
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
            futures = [pool.submit(one, w) for w in big]
            written = sum(one(w) for w in small)
            written += sum(future.result() for future in futures)
    tracker.finish()
    return written


# --------------------------------------------------------------------------- install


@dataclass(frozen=True)
class InstallResult:
    folder: Path
    digest: str
    reused: bool
    wheels: tuple[str, ...]
    top_level: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] | None = None
    """The manifest's ``runtime`` section (runtime-aware wheelhouses only)."""


def _digest_lock(node: Path, digest: str) -> AbstractContextManager[None]:
    return file_lock(
        private_dir(node / "locks") / f"{digest}.lock",
        waiting=f"another process is installing wheelhouse {digest[:16]}; waiting",
    )


def _reused(
    folder: Path, digest: str, timings: dict[str, float], marker: dict[str, Any]
) -> InstallResult:
    return InstallResult(
        folder=folder,
        digest=digest,
        reused=True,
        wheels=tuple(str(name) for name in marker.get("wheels", ())),
        top_level=tuple(marker.get("top_level", ())),
        timings=timings,
        target=dict(marker.get("target", {})),
        runtime=marker.get("runtime") if isinstance(marker.get("runtime"), dict) else None,
    )


def _remember(node: Path, prepared: Prepared) -> None:
    if prepared.stamp is not None and prepared.manifest is not None:
        write_ref(node, prepared.stamp, prepared.digest)


def _clear_leftovers(installs: Path, digest: str) -> None:
    """Under the digest's lock: whatever is there without a marker was left by a killed load."""
    folder = installs / digest
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():  # no valid marker: not ours to trust
        logger.warning("re-installing %s: its install marker is missing or damaged", folder)
        shutil.rmtree(folder)
    for leftover in installs.glob(f".{digest}.*.partial"):
        logger.info("removing %s, left by an interrupted load", leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)


def _install_into(prepared: Prepared, installs: Path, folder: Path) -> int:
    """Extract into a partial folder, write the markers, rename: bytes written."""
    manifest = prepared.manifest
    assert manifest is not None
    partial = installs / f".{prepared.digest}.{uuid.uuid4().hex}.partial"
    partial.mkdir()
    try:
        size = _extract_all(prepared, partial)
        marker = {
            "uri": prepared.uri,
            "digest": prepared.digest,
            "wheels": [wheel.filename for wheel in manifest.wheels],
            "top_level": list(manifest.top_level),
            "target": dict(manifest.target),
            **({"runtime": dict(manifest.runtime)} if manifest.runtime is not None else {}),
            "pid": os.getpid(),
            "installed": time.time(),
            "bytes": size,
        }
        (partial / MANIFEST_NAME).write_bytes(manifest.to_json())
        (partial / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1), "utf-8")
        partial.rename(folder)  # atomic: the folder exists only when complete
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return size


def install(prepared: Prepared, node: Path) -> InstallResult:
    """Install into ``node/installs/<digest>/`` unless it is already complete there.

    The caller has run :func:`check_wheels` when ``prepared.manifest`` is set.
    """
    timings = dict(prepared.timings)
    installs = node / "installs"
    folder = installs / prepared.digest
    marker = installed_marker(folder)
    if marker is not None:
        _remember(node, prepared)
        return _reused(folder, prepared.digest, timings, marker)
    if prepared.manifest is None:
        raise IntegrityError(
            f"the install of {prepared.uri} in {folder} was removed or damaged during this "
            "load; load it again (it will be installed afresh)"
        )
    private_dir(installs)
    with ExitStack() as held:
        with timed(timings, "lock"):
            held.enter_context(_digest_lock(node, prepared.digest))
        marker = installed_marker(folder)
        if marker is not None:  # another process finished while we waited
            _remember(node, prepared)
            return _reused(folder, prepared.digest, timings, marker)
        _clear_leftovers(installs, prepared.digest)
        with timed(timings, "install"):
            size = _install_into(prepared, installs, folder)
        _remember(node, prepared)
        with (node / "install.log").open("a", encoding="utf-8") as log:
            log.write(
                f"{time.time():.3f} pid={os.getpid()} installed {prepared.digest} {prepared.uri}\n"
            )
    manifest = prepared.manifest
    logger.info(
        "installed %s (%.1f MB) into %s in %.2fs",
        plural(len(manifest.wheels), "wheel"),
        size / 1e6,
        folder,
        timings["install"],
    )
    return InstallResult(
        folder=folder,
        digest=prepared.digest,
        reused=False,
        wheels=tuple(wheel.filename for wheel in manifest.wheels),
        top_level=tuple(manifest.top_level),
        timings=timings,
        target=dict(manifest.target),
        runtime=dict(manifest.runtime) if manifest.runtime is not None else None,
    )


def pip_install(prepared: Prepared) -> None:
    """``pip install --no-index --no-deps`` of the (checked) wheels into this environment."""
    assert prepared.manifest is not None
    with tempfile.TemporaryDirectory(prefix="sparkdeps-pip-") as work:
        folder = Path(work)
        paths = []
        for wheel in prepared.manifest.wheels:
            destination = folder / wheel.filename
            with (
                open_stored_wheel(prepared.zip_path, wheel.filename) as source,
                destination.open("wb") as out,
            ):
                shutil.copyfileobj(source, out, CHUNK)
            paths.append(destination)
        run(
            [*pip_command(), "install", "--no-index", "--no-deps", "--no-input", *paths],
            what=f"pip install of {prepared.uri}",
            hint="mode='pip' installs into the running environment; use the default mode='cache' "
            "if that environment is read-only",
        )


def activate(folder: Path) -> None:
    """Put ``folder`` first on ``sys.path`` (once) and drop stale import caches."""
    entry = os.fspath(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
