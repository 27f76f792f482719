"""``inspect()``: read a published wheelhouse's manifest (any storage), or its pylock.toml;
``requirement_lines()``: the run's pip-native form as pip requirement lines."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .._core.errors import IntegrityError, WheelhouseNotFoundError
from .._core.hashing import sha256_stream
from .._core.manifest import Manifest
from .._core.paths import WHEELHOUSE_NAME, run_folder_of, split_pin
from .._core.pipform import PIP_WHEELS, REQUIREMENTS_NAME, pip_path
from .._core.pipform import requirement_lines as render_lines
from .._core.storage import join_uri, local_file, storage_for
from .._core.wheelhouse import MAX_MANIFEST_BYTES, PYLOCK_NAME, read_manifest

__all__ = ["Stored", "inspect", "no_pylock", "read_pylock", "read_stored", "requirement_lines"]

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
            f"{uri}: no wheelhouse there", fix="pass the URI `sparkdeps build` printed"
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
        try:
            with zipfile.ZipFile(path) as archive:
                text = _stored_pylock(archive, uri)
        except zipfile.BadZipFile as exc:
            raise IntegrityError(
                f"{uri} is not a valid zip archive ({exc})",
                fix="rebuild it with `sparkdeps build` (or copy it again)",
            ) from exc
        if text is None:
            raise no_pylock(uri)
        return text

    return _with_local(wheelhouse, read)


def no_pylock(uri: str) -> IntegrityError:
    """The error for a wheelhouse built before every wheelhouse carried a ``pylock.toml``."""
    return IntegrityError(
        f"{uri} has no {PYLOCK_NAME}: it was built by an older sparkdeps",
        fix="rebuild it, "
        "or run `sparkdeps export WHEELHOUSE --format pylock` to write one from its "
        "manifest",
    )


@dataclass(frozen=True)
class Stored:
    """What ``export`` prints from: the manifest, the stored ``pylock.toml`` and the bytes
    really inside (each wheel's sha256 and size), so nothing is printed unchecked."""

    uri: str
    manifest: Manifest
    pylock: str | None
    """The zip's own ``pylock.toml`` (None: a wheelhouse older than the file)."""
    wheels: Mapping[str, tuple[str, int]]
    """File name -> (sha256, size) of the bytes under ``wheels/``."""


def _stored_pylock(archive: zipfile.ZipFile, uri: str) -> str | None:
    if PYLOCK_NAME not in archive.namelist():
        return None
    info = archive.getinfo(PYLOCK_NAME)
    with archive.open(info) as member:  # a lock for thousands of wheels is a few MB
        data = member.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise IntegrityError(
            f"{uri}!{PYLOCK_NAME} inflates past {MAX_MANIFEST_BYTES} bytes: it is not the lock "
            "sparkdeps wrote",
            fix="rebuild the wheelhouse with `sparkdeps build`",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(
            f"{uri}!{PYLOCK_NAME} is not UTF-8 ({exc}): it is not the lock sparkdeps wrote",
            fix="rebuild the wheelhouse with `sparkdeps build`",
        ) from exc


def read_stored(wheelhouse: str | os.PathLike[str]) -> Stored:
    """The manifest, the stored lock and the hash of every wheel inside ``wheelhouse``."""

    def read(path: Path, uri: str) -> Stored:
        manifest = read_manifest(path, origin=uri)  # the wheels listed are the wheels inside
        wheels: dict[str, tuple[str, int]] = {}
        try:
            with zipfile.ZipFile(path) as archive:
                for wheel in manifest.wheels:
                    info = archive.getinfo(f"wheels/{wheel.filename}")
                    with archive.open(info) as member:
                        wheels[wheel.filename] = (sha256_stream(member), info.file_size)
                pylock = _stored_pylock(archive, uri)
        except zipfile.BadZipFile as exc:
            raise IntegrityError(
                f"{uri} is not a valid zip archive ({exc})",
                fix="rebuild it with `sparkdeps build` (or copy it again)",
            ) from exc
        return Stored(uri, manifest, pylock, wheels)

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
    Example: ``sparkdeps.requirement_lines("/Volumes/main/default/deps/<run_id>")``.
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
            "older sparkdeps, or its path has characters pip misreads (the build warned)",
            fix="rebuild it with `sparkdeps build` into a plain path (then use its "
            f"{REQUIREMENTS_NAME})",
        )
    return render_lines(manifest.wheels, pip_path(wheels), hashes=hashes)
