"""Limits and sanity checks on a wheel's listing, shared by build and load.

A wheel is a zip like any other: the limits that stop a zip bomb in an input
archive apply to wheels too, at build (before RECORD is checked) and at load
(before anything is extracted). The checks read only the central directory; the
sizes they trust are enforced while reading, since :mod:`zipfile` stops at the
declared size and fails on a CRC mismatch.
"""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .errors import IntegrityError

__all__ = ["WheelLimits", "check_dist_info", "check_listing"]

_GIB = 1 << 30
_NAME_MAX = 255
"""Bytes in one path component on every file system a cluster uses."""


@dataclass(frozen=True)
class WheelLimits:
    """Bounds on what one wheel may expand to."""

    max_entries: int = 100_000
    max_size: int = 8 * _GIB
    """Uncompressed bytes of one wheel (the biggest CUDA wheels are about 4 GiB)."""
    max_ratio: float = 200.0
    """Uncompressed / compressed size of the wheel (checked once past 16 MiB)."""
    ratio_floor: int = 16 << 20


def check_listing(
    infos: Sequence[zipfile.ZipInfo],
    compressed: int,
    origin: str,
    fix: str,
    limits: WheelLimits | None = None,
) -> None:
    """Entry count, size, ratio and member names of a wheel, from its central directory."""
    chosen = limits or WheelLimits()
    if len(infos) > chosen.max_entries:
        raise IntegrityError(
            f"{origin} has {len(infos)} entries, more than {chosen.max_entries}; refusing it as a "
            f"possible zip bomb; {fix}"
        )
    total = sum(info.file_size for info in infos)
    if total > chosen.max_size or (
        total > chosen.ratio_floor and total > chosen.max_ratio * max(compressed, 1)
    ):
        raise IntegrityError(
            f"{origin} expands to {total} bytes from {compressed} (limits: {chosen.max_size} "
            f"bytes, ratio {chosen.max_ratio:g}); refusing it as a possible zip bomb; {fix}"
        )
    files: set[str] = set()
    folders: set[str] = set()
    for info in infos:
        name = info.filename
        parts = _parts(name, origin, fix)
        for depth in range(1, len(parts)):
            folders.add("/".join(parts[:depth]))
        if not info.is_dir():
            files.add("/".join(parts))
    clash = sorted(files & folders)
    if clash:
        raise IntegrityError(
            f"{origin} has {clash[0]!r} both as a file and as a folder of other entries; {fix}"
        )


def _parts(name: str, origin: str, fix: str) -> list[str]:
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "/"]
    if not parts or path.is_absolute() or "\\" in name or ".." in parts or ":" in parts[0]:
        raise IntegrityError(
            f"{origin} has an unsafe member {name!r} (empty, absolute or with '..'); {fix}"
        )
    long = [part for part in parts if len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX]
    if long:
        raise IntegrityError(
            f"{origin} has a member whose name part is over {_NAME_MAX} bytes "
            f"({long[0][:40]!r}...); no file system can hold it; {fix}"
        )
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        raise IntegrityError(
            f"{origin} has a member with invisible or control characters ({name!r}); {fix}"
        )
    return parts


def check_dist_info(names: Sequence[str], filename: str, origin: str, fix: str) -> None:
    """Exactly one ``.dist-info`` folder, naming the distribution and version of ``filename``."""
    wheel_name, wheel_version, _build, _tags = parse_wheel_filename(filename)
    heads = {name.split("/", 1)[0] for name in names}
    found = {head for head in heads if head.endswith(".dist-info")}
    if len(found) != 1:
        raise IntegrityError(f"{origin} has {len(found)} .dist-info folders, expected one; {fix}")
    (folder,) = found
    stem = folder[: -len(".dist-info")]
    name, _, version = stem.rpartition("-")
    try:
        same_version = Version(version) == wheel_version
    except InvalidVersion:
        same_version = False
    if canonicalize_name(name) != wheel_name or not same_version:
        raise IntegrityError(
            f"{origin}: its {folder} names another distribution or version than its file name "
            f"({wheel_name} {wheel_version}); {fix}"
        )
