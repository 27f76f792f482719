"""``cleanup()`` and ``cleanup_older_than()``: remove run folders and executor payloads.

A run folder is ``<base>/<run_id>/`` holding ``wheelhouse.zip`` and the
``run.json`` marker the builder writes; a folder without the marker is never
removed (a mistyped path must not wipe a Volume). Removing is idempotent: a
folder that is already gone is not an error.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .._core.errors import InputError, StorageError
from .._core.paths import RUN_MARKER, WHEELHOUSE_NAME, node_dir
from .._core.results import CleanupResult
from .._core.storage import Storage, join_uri, storage_for

__all__ = ["RUN_MARKER", "cleanup", "cleanup_older_than", "read_run_marker", "run_folder_of"]

logger = logging.getLogger(__name__)


def run_folder_of(uri: str) -> str:
    """The run folder for a run folder or a ``.../wheelhouse.zip`` URI."""
    stripped = uri.rstrip("/")
    if stripped.endswith(".zip"):
        return stripped.rpartition("/")[0]
    return stripped


def read_run_marker(storage: Storage, run_uri: str) -> dict[str, Any] | None:
    """The parsed ``run.json`` of ``run_uri``, or None when there is none."""
    marker = join_uri(run_uri, RUN_MARKER)
    local = storage.local_path(marker)
    try:
        if local is not None:
            text = local.read_text("utf-8")
        else:
            if not storage.exists(marker):
                return None
            with tempfile.TemporaryDirectory(prefix="sparkdeps-marker-") as work:
                copy = Path(work) / RUN_MARKER
                storage.download(marker, copy)
                text = copy.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {marker}: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError:
        return {}  # a marker all the same: the builder wrote it, even if damaged
    return data if isinstance(data, dict) else {}


def _created(marker: dict[str, Any], fallback: float) -> float:
    """``created`` as epoch seconds (a number or an ISO 8601 string), else ``fallback``."""
    value = marker.get("created")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_dt.timezone.utc)
        return parsed.timestamp()
    return fallback


def _remove_node_payloads(
    digest: str | None, cache_dir: str | os.PathLike[str] | None
) -> list[str]:
    """This node's executor payloads for ``digest`` (wheels and stubs; tree zip or archives)."""
    if not digest:
        return []
    payloads = node_dir(cache_dir) / "payloads"
    removed = []
    for path in (
        payloads / f"{digest}.wheels",
        payloads / f"{digest}.zip",
        payloads / f"{digest}.connect",
    ):
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(os.fspath(path))
    return removed


def _digest_of(storage: Storage, run_uri: str, marker: dict[str, Any]) -> str | None:
    digest = marker.get("digest")
    if isinstance(digest, str) and digest:
        return digest
    local = storage.local_path(join_uri(run_uri, WHEELHOUSE_NAME))
    if local is not None and local.is_file():
        from .._core.manifest import sha256_file

        return sha256_file(local)
    return None


def cleanup(run_uri: str, *, cache_dir: str | os.PathLike[str] | None = None) -> CleanupResult:
    """Remove a run folder (or the one holding a given ``wheelhouse.zip``) and its payloads.

    The run folder's ``executors/`` (the payload on Databricks storage) goes with
    it; this node's cached payloads for the same digest go too. Idempotent.
    Refuses a folder without ``run.json``.
    """
    if not run_uri or not run_uri.strip():
        raise InputError("cleanup needs a run folder or a wheelhouse URI")
    folder = run_folder_of(run_uri.strip())
    storage = storage_for(folder)
    if not storage.exists(folder):
        logger.info("%s is already gone", folder)
        return CleanupResult(removed=(), kept=())
    marker = read_run_marker(storage, folder)
    if marker is None:
        raise InputError(
            f"{folder} has no {RUN_MARKER}: it is not a sparkdeps run folder, so it was not "
            "removed; pass the folder that holds wheelhouse.zip and run.json"
        )
    removed: list[str] = _remove_node_payloads(_digest_of(storage, folder, marker), cache_dir)
    if storage.remove_tree(folder):
        removed.insert(0, folder)
        logger.info("removed run folder %s", folder)
    return CleanupResult(removed=tuple(removed), kept=())


def cleanup_older_than(
    base: str,
    max_age: float | _dt.timedelta,
    *,
    dry_run: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> CleanupResult:
    """Remove the run folders under ``base`` older than ``max_age`` (seconds or a timedelta).

    Age comes from ``run.json``'s ``created``, else the folder's mtime. Folders
    without the marker are left alone (reported in ``kept``). With ``dry_run``
    nothing is removed and ``removed`` lists what would be.
    """
    seconds = max_age.total_seconds() if isinstance(max_age, _dt.timedelta) else float(max_age)
    if seconds < 0:
        raise InputError(f"max_age must not be negative, got {max_age!r}")
    storage = storage_for(base)
    now = time.time()
    removed: list[str] = []
    kept: list[str] = []
    for entry in sorted(storage.list_dir(base), key=lambda item: item.name):
        if not entry.is_dir:
            continue
        folder = join_uri(base, entry.name)
        marker = read_run_marker(storage, folder)
        if marker is None:
            kept.append(folder)
            continue
        age = now - _created(marker, entry.mtime)
        if age <= seconds:
            kept.append(folder)
            continue
        if dry_run:
            removed.append(folder)
            continue
        removed.extend(cleanup(folder, cache_dir=cache_dir).removed)
    return CleanupResult(removed=tuple(removed), kept=tuple(kept), dry_run=dry_run)
