"""The wheelhouse file: ``wheelhouse.zip`` = wheels + ``manifest.json`` + ``pylock.toml``,
and ``bytecode/<cache_tag>.zip`` when the build could compile for the target.

Written deterministically (sorted entries, fixed timestamps and modes, wheels
stored since they are compressed already) so the same wheels and manifest give
byte-identical output, and read back with the manifest checked against what is
really inside.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import IntegrityError
from .hashing import CHUNK, sha256_file
from .manifest import MANIFEST_NAME, Manifest

__all__ = ["PYLOCK_NAME", "read_manifest", "read_member", "write_wheelhouse", "zip_entry"]

PYLOCK_NAME = "pylock.toml"
"""The PEP 751 lock beside the manifest (written by the build half, read as text here)."""

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16


def zip_entry(name: str, compress: int) -> zipfile.ZipInfo:
    """A zip entry that is the same on every machine and every day: fixed date, mode, system."""
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = compress
    info.external_attr = _FILE_MODE
    info.create_system = 3  # unix, whatever the host
    return info


def write_wheelhouse(
    wheels: Sequence[Path],
    manifest: Manifest,
    out_path: Path,
    *,
    extra: Mapping[str, bytes] | None = None,
    bytecode: Path | None = None,
) -> str:
    """Write ``out_path`` (a temporary name: the caller publishes it) and return its sha256.

    ``extra`` adds files at the top of the zip (``pylock.toml``); ``bytecode`` is the
    file ``manifest.bytecode`` describes, stored as its member.
    """
    if (bytecode is None) != (manifest.bytecode is None):
        raise IntegrityError("the manifest and the bytecode given disagree")  # a bug
    listed = {wheel.filename for wheel in manifest.wheels}
    given = {path.name for path in wheels}
    if listed != given:
        raise IntegrityError(
            f"manifest and wheels disagree: {sorted(listed ^ given)}"
        )  # a bug in sparkdeps, not in the input
    with zipfile.ZipFile(out_path, "w") as archive:
        archive.writestr(zip_entry(MANIFEST_NAME, zipfile.ZIP_DEFLATED), manifest.to_json())
        for name, data in sorted((extra or {}).items()):
            archive.writestr(zip_entry(name, zipfile.ZIP_DEFLATED), data)
        stored = [(f"wheels/{path.name}", path) for path in sorted(wheels, key=lambda p: p.name)]
        if bytecode is not None and manifest.bytecode is not None:
            stored.append((manifest.bytecode.member, bytecode))  # its members are deflated
        for name, path in stored:
            with (
                path.open("rb") as source,
                archive.open(zip_entry(name, zipfile.ZIP_STORED), "w") as target,
            ):
                shutil.copyfileobj(source, target, CHUNK)
    return sha256_file(out_path)


MAX_MANIFEST_BYTES = 64 << 20
"""A manifest lists wheels: even thousands of them take a few MB, never this."""


def _manifest_bytes(archive: zipfile.ZipFile, origin: str) -> bytes:
    """``manifest.json``, refused past :data:`MAX_MANIFEST_BYTES` before and while inflating."""
    fix = "it is not a manifest sparkdeps wrote: rebuild the wheelhouse with `sparkdeps build`"
    info = archive.getinfo(MANIFEST_NAME)
    if info.file_size > MAX_MANIFEST_BYTES:
        raise IntegrityError(
            f"{origin}!{MANIFEST_NAME} is {info.file_size} bytes, more than "
            f"{MAX_MANIFEST_BYTES}; {fix}"
        )
    with archive.open(info) as member:
        data = member.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"{origin}!{MANIFEST_NAME} inflates past {MAX_MANIFEST_BYTES}; {fix}")
    return data


def read_manifest(path: Path, *, origin: str | None = None) -> Manifest:
    """The manifest of a local wheelhouse, checked to list exactly the wheels inside."""
    origin = origin or os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if MANIFEST_NAME not in names:
                raise IntegrityError(
                    f"{origin} has no {MANIFEST_NAME}: it is not a sparkdeps wheelhouse "
                    "(build one with `sparkdeps build`)"
                )
            manifest = Manifest.from_json(
                _manifest_bytes(archive, origin), origin=f"{origin}!{MANIFEST_NAME}"
            )
    except zipfile.BadZipFile as exc:
        raise IntegrityError(
            f"{origin} is not a valid zip archive ({exc}); it is truncated or not a wheelhouse: "
            "rebuild it with `sparkdeps build` (or copy it again)"
        ) from exc
    inside = {name[len("wheels/") :] for name in names if name.startswith("wheels/")}
    listed = {wheel.filename for wheel in manifest.wheels}
    if inside != listed:
        missing = sorted(listed - inside)
        extra = sorted(inside - listed)
        raise IntegrityError(
            f"{origin}: the manifest does not match the wheels inside "
            f"(listed but missing: {missing or 'none'}; "
            f"present but not listed: {extra or 'none'}); "
            "it was changed after it was built: rebuild it with `sparkdeps build`"
        )
    shipped = {name for name in names if name.startswith("bytecode/")}
    if shipped != ({manifest.bytecode.member} if manifest.bytecode else set()):
        raise IntegrityError(
            f"{origin}: its bytecode ({', '.join(sorted(shipped)) or 'none'}) is not what the "
            "manifest lists; it was changed after it was built: rebuild it with `sparkdeps build`"
        )
    return manifest


def read_member(path: Path, name: str, *, origin: str | None = None) -> bytes | None:
    """One top-level file of a wheelhouse (``pylock.toml``), or None when it has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name) if name in archive.namelist() else None
    except zipfile.BadZipFile as exc:
        raise IntegrityError(
            f"{origin or os.fspath(path)} is not a valid zip archive ({exc})",
            fix="rebuild it with `sparkdeps build` (or copy it again)",
        ) from exc
