"""The wheelhouse file: ``wheelhouse.zip`` = wheels + ``manifest.json``.

Written deterministically (sorted entries, fixed timestamps and modes, wheels
stored since they are compressed already) so the same wheels and manifest give
byte-identical output, and read back with the manifest checked against what is
really inside.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import IntegrityError
from .hashing import CHUNK, sha256_file
from .manifest import MANIFEST_NAME, Manifest

__all__ = ["Wheelhouse", "open_wheelhouse", "write_wheelhouse"]

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16


def _entry(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = compress
    info.external_attr = _FILE_MODE
    info.create_system = 3  # unix, whatever the host
    return info


def write_wheelhouse(wheels: Sequence[Path], manifest: Manifest, out_path: Path) -> str:
    """Write ``out_path`` (a temporary name: the caller publishes it) and return its sha256."""
    listed = {wheel.filename for wheel in manifest.wheels}
    given = {path.name for path in wheels}
    if listed != given:
        raise IntegrityError(
            f"manifest and wheels disagree: {sorted(listed ^ given)}"
        )  # a bug in sparkdeps, not in the input
    with zipfile.ZipFile(out_path, "w") as archive:
        archive.writestr(_entry(MANIFEST_NAME, zipfile.ZIP_DEFLATED), manifest.to_json())
        for path in sorted(wheels, key=lambda p: p.name):
            with (
                path.open("rb") as source,
                archive.open(_entry(f"wheels/{path.name}", zipfile.ZIP_STORED), "w") as target,
            ):
                shutil.copyfileobj(source, target, CHUNK)
    return sha256_file(out_path)


@dataclass(frozen=True)
class Wheelhouse:
    """An opened ``wheelhouse.zip`` on local disk."""

    path: Path
    manifest: Manifest


def open_wheelhouse(path: Path, *, origin: str | None = None) -> Wheelhouse:
    """Open and check the layout of a wheelhouse: manifest present and matching the wheels."""
    shown = origin or os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if MANIFEST_NAME not in names:
                raise IntegrityError(
                    f"{shown} has no {MANIFEST_NAME}: it is not a sparkdeps wheelhouse "
                    "(build one with `sparkdeps build`)"
                )
            manifest = Manifest.from_json(
                archive.read(MANIFEST_NAME), origin=f"{shown}!{MANIFEST_NAME}"
            )
    except zipfile.BadZipFile as exc:
        raise IntegrityError(
            f"{shown} is not a valid zip archive ({exc}); it is truncated or not a wheelhouse: "
            "rebuild it with `sparkdeps build` (or copy it again)"
        ) from exc
    inside = {name[len("wheels/") :] for name in names if name.startswith("wheels/")}
    listed = {wheel.filename for wheel in manifest.wheels}
    if inside != listed:
        missing = sorted(listed - inside)
        extra = sorted(inside - listed)
        raise IntegrityError(
            f"{shown}: the manifest does not match the wheels inside "
            f"(listed but missing: {missing or 'none'}; "
            f"present but not listed: {extra or 'none'}); "
            "it was changed after it was built: rebuild it with `sparkdeps build`"
        )
    return Wheelhouse(path=path, manifest=manifest)
