"""Names and places both halves agree on: the run folder's files, the hand-off keys, the cache."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

__all__ = [
    "PIN_FRAGMENT",
    "PROCESS_DEPS_TASK_KEY",
    "RUN_MARKER",
    "TASK_VALUE_KEY",
    "WHEELHOUSE_NAME",
    "cache_root",
    "node_cache_dir",
    "pin_uri",
    "run_folder_of",
    "split_pin",
]

WHEELHOUSE_NAME = "wheelhouse.zip"
"""The published file: ``<base>/<run_id>/wheelhouse.zip``."""
RUN_MARKER = "run.json"
"""Written beside the wheelhouse; cleanup removes only folders that carry it."""
PROCESS_DEPS_TASK_KEY = "process_deps"
"""The Databricks task that builds; later tasks read its task value."""
TASK_VALUE_KEY = "wheelhouse_path"
"""The task value (and job parameter) that carries the wheelhouse URI."""
PIN_FRAGMENT = "#sha256="
"""``.../wheelhouse.zip#sha256=<hex>``: the build's digest rides with the URI to ``load``."""


def pin_uri(uri: str, digest: str) -> str:
    """``uri`` with the wheelhouse digest attached, as the build hands it on."""
    return f"{uri}{PIN_FRAGMENT}{digest}"


def split_pin(uri: str) -> tuple[str, str | None]:
    """(the URI without a ``#sha256=`` fragment, the digest or None).

    The digest is returned as written; callers check it is 64 hex digits.
    """
    head, sep, digest = uri.rpartition(PIN_FRAGMENT)
    if not sep:
        return uri, None
    return head, digest.strip().lower()


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` -> ``~/.cache/sparkdeps``.

    One root for the build cache (``build/``) and the node cache (``node/``).
    """
    chosen = (
        cache_dir or os.environ.get("SPARKDEPS_CACHE_DIR") or Path.home() / ".cache" / "sparkdeps"
    )
    return Path(chosen).expanduser().absolute()


def node_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The driver-side cache of installs and executor payloads."""
    return cache_root(cache_dir) / "node"


def run_folder_of(uri: str) -> str:
    """The run folder for a run folder or a ``.../wheelhouse.zip`` URI.

    A ``#sha256=`` pin is dropped. Any other ``.zip`` is refused: its parent is
    not known to be a run folder.
    """
    stripped = split_pin(uri.strip())[0].rstrip("/")
    head, _, name = stripped.rpartition("/")
    if name == WHEELHOUSE_NAME:
        stripped, name = head.rstrip("/"), head.rstrip("/").rpartition("/")[2]
    elif name.lower().endswith(".zip"):
        raise InputError(
            f"{uri} is not a wheelhouse.zip: cleanup takes a run folder or the "
            f"{WHEELHOUSE_NAME} inside one, so nothing was removed"
        )
    if name in ("", ".", "..") or name.endswith(":"):
        raise InputError(
            f"{uri!r} does not name a run folder: pass <base>/<run_id> (the folder that holds "
            f"{WHEELHOUSE_NAME} and {RUN_MARKER}); nothing was removed"
        )
    return stripped
