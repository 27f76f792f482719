"""``cleanup()`` and ``cleanup_older_than()``: remove run folders and executor payloads.

A run folder is ``<base>/<run_id>/`` holding ``wheelhouse.zip`` and the
``run.json`` marker the builder writes. Only a folder whose marker is
sparkdeps' own is removed (``_core/runmarker.py``: the schema keys, ``run_id``
equal to the folder's name, a sha256 ``digest``, an ISO ``created``), and the
payload paths removed with it come from that checked digest: a mistyped path
or a forged marker must not wipe a Volume. Removing is idempotent: a folder
that is already gone is not an error.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import time
from pathlib import Path

from .._core.errors import InputError, StorageError
from .._core.hashing import DIGEST
from .._core.paths import RUN_MARKER, WHEELHOUSE_NAME, node_cache_dir, run_folder_of
from .._core.progress import plural
from .._core.results import CleanupResult
from .._core.runmarker import (
    MAX_MARKER_BYTES,
    MarkerError,
    RunMarker,
    parse_marker,
    read_local_marker,
)
from .._core.storage import LocalStorage, Storage, join_uri, local_file, storage_for
from .holders import live_holders, payload_lock

__all__ = ["RUN_MARKER", "cleanup", "cleanup_older_than", "read_run_marker", "run_folder_of"]

logger = logging.getLogger(__name__)


def _folder_name(folder: str) -> str:
    return folder.rstrip("/").rpartition("/")[2]


def _marker_text(storage: Storage, marker: str) -> str | None:
    local = storage.local_path(marker)
    if local is not None:
        return read_local_marker(local)
    entry = storage.stat(marker)
    if entry is None:
        return None
    if entry.is_dir or entry.size > MAX_MARKER_BYTES:
        raise MarkerError("it is not a small regular file")
    with local_file(storage, marker) as copy:
        return read_local_marker(copy)


def read_run_marker(storage: Storage, run_uri: str) -> RunMarker | None:
    """The checked ``run.json`` of ``run_uri``; None when there is none.

    :class:`InputError` when there is one but it is not sparkdeps' own.
    """
    marker = join_uri(run_uri, RUN_MARKER)
    try:
        text = _marker_text(storage, marker)
        if text is None:
            return None
        return parse_marker(text, _folder_name(run_uri))
    except MarkerError as exc:
        raise InputError(
            f"{marker} is not a sparkdeps run marker ({exc}), so {run_uri} was not removed",
            fix="remove it by hand if it is really a run folder, or pass the folder that holds "
            f"the {WHEELHOUSE_NAME} and {RUN_MARKER} a build wrote",
        ) from exc


def _remove_node_payloads(
    digest: str, cache_dir: str | os.PathLike[str] | None
) -> tuple[list[str], list[str]]:
    """This node's executor payloads for ``digest``: (removed, kept because a live
    application still serves them, holders.py).

    ``digest`` was checked to be 64 hex digits, so every path stays in ``payloads/``.
    """
    payloads = node_cache_dir(cache_dir) / "payloads"
    removed: list[str] = []
    kept: list[str] = []
    local = LocalStorage()
    wheels = payloads / f"{digest}.wheels"
    if wheels.is_dir() and not wheels.is_symlink():
        with payload_lock(payloads, digest):
            live = live_holders(wheels)
            if live:
                logger.info(
                    "keeping %s: %s still serve it (another run with the same digest); "
                    "the last cleanup after they end removes it",
                    wheels,
                    plural(live, "live application"),
                )
                kept.append(os.fspath(wheels))
            else:
                _remove(local, wheels, removed)
    else:
        _remove(local, wheels, removed)
    for path in (payloads / f"{digest}.zip", payloads / f"{digest}.connect"):
        _remove(local, path, removed)  # the tree payloads of sparkdeps 0.1
    removed += _sweep_unheld(payloads)
    return removed, kept


UNHELD_PAYLOAD_AGE = 3600.0
"""Seconds after its last delivery before an unheld node payload of another digest goes."""


def _sweep_unheld(payloads: Path, max_age: float = UNHELD_PAYLOAD_AGE) -> list[str]:
    """Node payloads no live process holds and none delivered for ``max_age``: the ones a
    cleanup kept for a live application, once it has ended. A later load makes them again
    (a hard link and a few KB)."""
    removed: list[str] = []
    if not payloads.is_dir():
        return removed
    now = time.time()
    local = LocalStorage()
    for folder in sorted(payloads.glob("*.wheels")):
        digest = folder.name[: -len(".wheels")]
        if not DIGEST.fullmatch(digest) or folder.is_symlink() or not folder.is_dir():
            continue
        if now - folder.stat().st_mtime < max_age:
            continue
        with payload_lock(payloads, digest):
            if folder.is_dir() and live_holders(folder) == 0:
                _remove(local, folder, removed)
    if removed:
        logger.info("removed %s no application holds", plural(len(removed), "node payload"))
    return removed


def _remove(local: LocalStorage, path: Path, removed: list[str]) -> None:
    try:
        if local.remove_tree(os.fspath(path)):
            removed.append(os.fspath(path))
    except StorageError as exc:  # this node's copy only: the run folder is what matters
        logger.warning("could not remove the payload %s: %s", path, exc)


def cleanup(run_uri: str, *, cache_dir: str | os.PathLike[str] | None = None) -> CleanupResult:
    """Remove a run folder (or the one holding a given ``wheelhouse.zip``) and its payloads.

    The run folder's ``executors/`` (the payload on Databricks storage) goes with
    it; this node's cached payloads for the same digest go too. Idempotent.
    Refuses a folder without sparkdeps' own ``run.json``.

    Example::

        result = sparkdeps.build("requirements.txt", dest="/Volumes/main/default/deps")
        ...  # the job's tasks load result.uri
        sparkdeps.cleanup(result.run_uri)
    """
    if not run_uri or not run_uri.strip():
        raise InputError("cleanup needs a run folder or a wheelhouse URI")
    from .pending import finish_driver_install  # noqa: PLC0415

    finish_driver_install(drop_failed=True)  # a load's install still reading the wheelhouse
    folder = run_folder_of(run_uri)
    storage = storage_for(folder)
    if not storage.exists(folder):
        logger.info("%s is already gone", folder)
        return CleanupResult(removed=(), kept=())
    marker = read_run_marker(storage, folder)
    if marker is None:
        if not storage.exists(folder):  # removed by another cleanup while we looked
            return CleanupResult(removed=(), kept=())
        raise InputError(
            f"{folder} has no {RUN_MARKER}: it is not a sparkdeps run folder, so it was not "
            "removed",
            fix=f"pass the folder that holds {WHEELHOUSE_NAME} and {RUN_MARKER}",
        )
    removed, kept = _remove_node_payloads(marker.digest, cache_dir)
    if storage.remove_tree(folder):
        removed.insert(0, folder)
        logger.info("removed run folder %s", folder)
    return CleanupResult(removed=tuple(removed), kept=tuple(kept))


def cleanup_older_than(
    base: str,
    max_age: float | _dt.timedelta,
    *,
    dry_run: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> CleanupResult:
    """Remove the run folders under ``base`` older than ``max_age`` (seconds or a timedelta).

    Age comes from ``run.json``'s ``created``. Folders without sparkdeps' own
    marker are left alone (reported in ``kept``). With ``dry_run``
    nothing is removed and ``removed`` lists what would be.

    Example::

        import datetime

        old = sparkdeps.cleanup_older_than(
            "/Volumes/main/default/deps", datetime.timedelta(days=7), dry_run=True
        )
        print(old.removed)  # what a run without dry_run removes
    """
    seconds = max_age.total_seconds() if isinstance(max_age, _dt.timedelta) else float(max_age)
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"max_age must be a finite number of seconds >= 0, got {max_age!r}")
    storage = storage_for(base)
    now = time.time()
    removed: list[str] = []
    kept: list[str] = []
    for entry in sorted(storage.list_dir(base), key=lambda item: item.name):
        if not entry.is_dir:
            continue
        folder = join_uri(base, entry.name)
        try:
            marker = read_run_marker(storage, folder)
        except InputError as exc:
            logger.warning("keeping %s: %s", folder, exc)
            marker = None
        if marker is None:
            kept.append(folder)
            continue
        age = now - marker.created
        if age <= seconds:
            kept.append(folder)
            continue
        if dry_run:
            removed.append(folder)
            continue
        done = cleanup(folder, cache_dir=cache_dir)
        removed.extend(done.removed)
        kept.extend(done.kept)  # payloads a live application still serves
    return CleanupResult(removed=tuple(removed), kept=tuple(kept), dry_run=dry_run)
