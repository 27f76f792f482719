"""``inspect()``: read a published wheelhouse's manifest (any storage)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .._core.manifest import Manifest
from .._core.paths import WHEELHOUSE_NAME, split_pin
from .._core.storage import join_uri, storage_for
from .._core.wheelhouse import open_wheelhouse

__all__ = ["inspect"]


def inspect(wheelhouse: str | os.PathLike[str]) -> Manifest:
    """The manifest of ``wheelhouse`` (a ``wheelhouse.zip`` or its run folder), checked
    against the wheels inside."""
    uri = split_pin(os.fspath(wheelhouse))[0]  # inspect reads; load is what checks the pin
    storage = storage_for(uri)
    entry = storage.stat(uri)
    if entry is not None and entry.is_dir:
        uri = join_uri(uri, WHEELHOUSE_NAME)
    local = storage.local_path(uri)
    if local is not None:
        if not local.is_file():
            from .._core.errors import WheelhouseNotFoundError

            raise WheelhouseNotFoundError(
                f"{uri}: no wheelhouse there; pass the URI `sparkdeps build` printed"
            )
        return open_wheelhouse(local, origin=uri).manifest
    scratch = Path(tempfile.mkdtemp(prefix="sparkdeps-inspect-"))
    try:
        copy = scratch / WHEELHOUSE_NAME
        storage.download(uri, copy)
        return open_wheelhouse(copy, origin=uri).manifest
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
