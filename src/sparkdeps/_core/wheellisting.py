"""A wheel's listing (its central directory): the zip limits, member names and its one
``.dist-info``, shared by build and load.

A wheel is a zip like any other: the limits that stop a zip bomb in an input
archive apply to wheels too, at build (before RECORD is checked) and at load
(before anything is extracted). The checks read only the central directory; the
sizes they trust are enforced while reading, since :mod:`zipfile` stops at the
declared size and fails on a CRC mismatch.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence

from packaging.utils import canonicalize_name, parse_wheel_filename

from .errors import IntegrityError
from .manifest import same_version
from .zipsafety import WHEEL_LIMITS, WHY, ArchiveLimits, member_parts, member_problem

__all__ = ["check_dist_info", "check_listing"]


def check_listing(
    infos: Sequence[zipfile.ZipInfo],
    compressed: int,
    origin: str,
    fix: str,
    limits: ArchiveLimits = WHEEL_LIMITS,
) -> None:
    """Entry count, size, ratio and member names of a wheel, from its central directory."""
    chosen = limits
    if len(infos) > chosen.max_entries:
        raise IntegrityError(
            f"{origin} has {len(infos)} entries, more than {chosen.max_entries}; refusing it as a "
            f"possible zip bomb",
            fix=fix,
        )
    total = sum(info.file_size for info in infos)
    if total > chosen.max_total_size or chosen.too_dense(total, compressed):
        raise IntegrityError(
            f"{origin} expands to {total} bytes from {compressed} (limits: {chosen.max_total_size} "
            f"bytes, ratio {chosen.max_ratio:g}); refusing it as a possible zip bomb",
            fix=fix,
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
            f"{origin} has {clash[0]!r} both as a file and as a folder of other entries",
            fix=fix,
        )


def _parts(name: str, origin: str, fix: str) -> tuple[str, ...]:
    problem = member_problem(name)
    if problem is not None:
        raise IntegrityError(f"{origin} has an unsafe member {name!r} ({WHY[problem]})", fix=fix)
    return member_parts(name)


def check_dist_info(names: Sequence[str], filename: str, origin: str, fix: str) -> None:
    """Exactly one ``.dist-info`` folder, naming the distribution and version of ``filename``."""
    wheel_name, wheel_version, _build, _tags = parse_wheel_filename(filename)
    heads = {name.split("/", 1)[0] for name in names}
    found = {head for head in heads if head.endswith(".dist-info")}
    if len(found) != 1:
        raise IntegrityError(f"{origin} has {len(found)} .dist-info folders, expected one", fix=fix)
    (folder,) = found
    stem = folder[: -len(".dist-info")]
    name, _, version = stem.rpartition("-")
    if canonicalize_name(name) != wheel_name or not same_version(version, str(wheel_version)):
        raise IntegrityError(
            f"{origin}: its {folder} names another distribution or version than its file name "
            f"({wheel_name} {wheel_version})",
            fix=fix,
        )
