"""``inspect()``: read a published wheelhouse's manifest (any storage), or its pylock.toml;
``requirement_lines()``: the run's pip-native form as pip requirement lines."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .._core.errors import IntegrityError, WheelhouseNotFoundError
from .._core.manifest import Manifest
from .._core.paths import WHEELHOUSE_NAME, run_folder_of, split_pin
from .._core.pipform import PIP_WHEELS, REQUIREMENTS_NAME, pip_path
from .._core.pipform import requirement_lines as render_lines
from .._core.storage import join_uri, local_file, storage_for
from .._core.wheelhouse import PYLOCK_NAME, read_manifest, read_member

__all__ = ["inspect", "read_pylock", "requirement_lines"]

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
    against the wheels inside."""
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


def requirement_lines(run: str | os.PathLike[str], *, hashes: bool = True) -> tuple[str, ...]:
    """The pip requirement lines of a run's pip-native form (docs/compute.md).

    ``run`` is a run folder or its ``wheelhouse.zip`` (a ``#sha256=`` pin is dropped:
    pip checks every wheel's hash). One ``/abs/path/wheels/<file>.whl --hash=sha256:...``
    per wheel, the path as pip on the cluster opens it (``/Volumes/...`` as is,
    ``dbfs:/x`` as ``/dbfs/x``). Feed them to ``%pip install``, a serverless
    environment's ``dependencies`` or ``DatabricksEnv().withDependencies(...)``;
    ``hashes=False`` gives bare paths for a channel that refuses ``--hash``.
    :class:`WheelhouseNotFoundError` when the run has no pip-native form beside its zip.
    """
    folder = run_folder_of(os.fspath(run))
    manifest = inspect(join_uri(folder, WHEELHOUSE_NAME))
    storage = storage_for(folder)
    wheels = join_uri(folder, PIP_WHEELS)
    missing = [
        w.filename for w in manifest.wheels if not storage.exists(join_uri(wheels, w.filename))
    ]
    if missing:
        raise WheelhouseNotFoundError(
            f"{folder} has no pip-native form ({PIP_WHEELS}/{missing[0]} and "
            f"{len(missing) - 1} more are missing beside {WHEELHOUSE_NAME}): it was built by an "
            "older sparkdeps, or its path has characters pip misreads (the build warned); "
            "fix: rebuild it with `sparkdeps build` into a plain path (then use its "
            f"{REQUIREMENTS_NAME})"
        )
    return render_lines(manifest.wheels, pip_path(wheels), hashes=hashes)
