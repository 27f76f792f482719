"""``inspect()``: read a published wheelhouse's manifest (any storage), or its pylock.toml."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .._core.errors import IntegrityError, WheelhouseNotFoundError
from .._core.manifest import Manifest
from .._core.paths import WHEELHOUSE_NAME, split_pin
from .._core.storage import join_uri, local_file, storage_for
from .._core.wheelhouse import PYLOCK_NAME, read_manifest, read_member

__all__ = ["inspect", "read_pylock"]

_T = TypeVar("_T")


def _with_local(wheelhouse: str | os.PathLike[str], read: Callable[[Path, str], _T]) -> _T:
    """Call ``read(local_zip, uri)`` on ``wheelhouse`` (a zip or its run folder, any storage)."""
    uri = split_pin(os.fspath(wheelhouse))[0]  # inspect reads; load is what checks the pin
    storage = storage_for(uri)
    entry = storage.stat(uri)
    if entry is not None and entry.is_dir:
        uri = join_uri(uri, WHEELHOUSE_NAME)
    local = storage.local_path(uri)
    if local is not None and not local.is_file():
        raise WheelhouseNotFoundError(
            f"{uri}: no wheelhouse there; pass the URI `sparkdeps build` printed"
        )
    with local_file(storage, uri) as path:
        return read(path, uri)


def inspect(wheelhouse: str | os.PathLike[str]) -> Manifest:
    """The manifest of ``wheelhouse`` (a ``wheelhouse.zip`` or its run folder), checked
    against the wheels inside.

    Example::

        manifest = sparkdeps.inspect("/Volumes/main/default/deps/<run_id>/wheelhouse.zip")
        print(manifest.target["python_version"], [w.filename for w in manifest.wheels])
    """
    return _with_local(wheelhouse, lambda path, uri: read_manifest(path, origin=uri))


def read_pylock(wheelhouse: str | os.PathLike[str]) -> str:
    """The ``pylock.toml`` inside ``wheelhouse``, as written at build time."""

    def read(path: Path, uri: str) -> str:
        read_manifest(path, origin=uri)
        data = read_member(path, PYLOCK_NAME, origin=uri)
        if data is None:
            raise IntegrityError(
                f"{uri} has no {PYLOCK_NAME}: it was built by an older sparkdeps; rebuild it, "
                "or run `sparkdeps export WHEELHOUSE --format pylock` to write one from its "
                "manifest"
            )
        return data.decode("utf-8")

    return _with_local(wheelhouse, read)
