"""Reading wheels out of a wheelhouse and extracting them, streaming, in constant memory.

sparkdeps stores wheels uncompressed inside ``wheelhouse.zip``, so a wheel is a
byte range of that file: it is read in place (no copy), checked, and unpacked
member by member. Member names that would leave the install folder are refused.

Hand-written rather than pypa/installer on purpose: installer would add a
dependency to the runtime half (which needs only packaging, issue 17), cannot read
a wheel in place out of the wheelhouse, and its job (scripts, data schemes, RECORD
rewriting) is not ours: the install folder is only put on ``sys.path``. The cost
shows in benchmarks/RESULTS.md: a cold driver install of W1 takes 2.05 s here
against 9.21 s for ``pip install --target`` (0.22 x) and 3.75 s for unzipping every
wheel (0.55 x); installer itself is not measured there.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import shutil
import struct
import sys
import tempfile
import zipfile
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

from .._core.errors import IntegrityError
from .._core.manifest import Bytecode, WheelInfo, top_level_names
from .._core.wheellisting import check_dist_info, check_listing
from .._core.zipsafety import WHY, member_parts, member_problem

__all__ = [
    "check_bytecode_contents",
    "check_wheel_contents",
    "extract_bytecode",
    "extract_wheel",
    "open_stored",
    "open_stored_wheel",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"


class _Slice(io.RawIOBase):
    """A read-only, seekable window on a file: one stored member of a zip, without copying."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        super().__init__()
        self._handle = path.open("rb")
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._pos)
        if wanted <= 0:
            return 0
        self._handle.seek(self._start + self._pos)
        got = self._handle.readinto(view[:wanted])
        self._pos += got
        return got

    def close(self) -> None:
        self._handle.close()
        super().close()


def open_stored_wheel(zip_path: Path, filename: str) -> AbstractContextManager[IO[bytes]]:
    """A seekable file object for ``wheels/<filename>`` inside the wheelhouse."""
    return open_stored(zip_path, f"wheels/{filename}")


@contextmanager
def open_stored(zip_path: Path, name: str) -> Iterator[IO[bytes]]:
    """A seekable file object for the member ``name`` of the wheelhouse, read in place."""
    filename = name.rsplit("/", 1)[-1]
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        with zip_path.open("rb") as handle:
            handle.seek(info.header_offset)
            header = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if header[0] != _LOCAL_SIGNATURE:
            raise IntegrityError(
                f"{zip_path}: bad local header for {filename}", fix="rebuild the wheelhouse"
            )
        start = info.header_offset + _LOCAL_HEADER.size + header[9] + header[10]
        window = _Slice(zip_path, start, info.file_size)
        try:
            yield io.BufferedReader(window, _CHUNK)
        finally:
            window.close()
        return
    # Not written by sparkdeps (it stores wheels): copy out to a temporary file.
    with tempfile.TemporaryFile() as copy:
        with zipfile.ZipFile(zip_path) as archive, archive.open(info) as source:
            shutil.copyfileobj(source, copy, _CHUNK)
        copy.seek(0)
        yield copy


def _member_target(member: str, folder: Path, wheel: str) -> Path | None:
    """Where a wheel member goes, or None to skip it. Refuses escaping names."""
    problem = member_problem(member)
    if problem is not None:
        raise IntegrityError(
            f"{wheel} has an unsafe member {member!r} ({WHY[problem]}); "
            "the wheel is malformed or malicious: rebuild the wheelhouse without it"
        )
    parts = member_parts(member)
    if parts[0].endswith(".data"):
        if len(parts) < 3:
            return None
        kind = parts[1]
        if kind in ("purelib", "platlib"):
            return folder.joinpath(*parts[2:])
        if kind == "scripts":
            return folder.joinpath("bin", *parts[2:])
        logger.debug("%s: skipping %s (.data/%s is not importable)", wheel, member, kind)
        return None
    return folder.joinpath(*parts)


def check_wheel_contents(handle: IO[bytes], wheel: WheelInfo, origin: str) -> None:
    """The wheel in ``handle`` is what the manifest says, within limits, before it is unpacked.

    Its listing passes :func:`check_listing` (entry count, size, ratio, names); its one
    ``.dist-info`` names the distribution and version of its file name; it carries no
    top-level package the manifest does not list for it.
    """
    origin = f"{wheel.filename} in {origin}"
    fix = "the wheel is malformed or was altered: rebuild the wheelhouse; nothing was installed"
    infos = _checked_listing(handle, wheel.size, origin, fix, kind="wheel")
    names = [info.filename for info in infos]
    check_dist_info(names, wheel.filename, origin, fix)
    unlisted = sorted(set(top_level_names(names)) - set(wheel.top_level))
    if unlisted:
        raise IntegrityError(
            f"{origin} carries top-level packages its manifest entry does not list "
            f"({', '.join(unlisted)})",
            fix=fix,
        )


def check_bytecode_contents(handle: IO[bytes], bytecode: Bytecode, origin: str) -> None:
    """The wheelhouse's bytecode archive in ``handle`` is a zip within a wheel's limits:
    code every node may run, checked as a wheel is before anything is written."""
    fix = "the wheelhouse was altered: rebuild it; nothing was installed"
    _checked_listing(handle, bytecode.size, f"{bytecode.member} in {origin}", fix, kind="zip")


def _checked_listing(
    handle: IO[bytes], size: int, origin: str, fix: str, *, kind: str
) -> list[zipfile.ZipInfo]:
    """The zip's central directory, refused when it is no zip or past a wheel's limits."""
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"{origin} is not a valid {kind} ({exc})", fix=fix) from exc
    check_listing(infos, size, origin, fix)
    return infos


def extract_wheel(zip_path: Path, filename: str, folder: Path) -> int:
    written = 0
    with open_stored_wheel(zip_path, filename) as handle, zipfile.ZipFile(handle) as wheel:
        for info in wheel.infolist():
            target = _member_target(info.filename, folder, filename)
            if target is None:
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as source, target.open("wb") as out:
                if target.parent.name == "bin" and target.parent.parent == folder:
                    first = source.readline()
                    if first.startswith(b"#!python"):  # pip's placeholder shebang
                        first = b"#!" + sys.executable.encode() + first[len(b"#!python") :]
                    out.write(first)
                shutil.copyfileobj(source, out, _CHUNK)
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111:
                target.chmod(0o755)
            written += info.file_size
    return written


def usable_bytecode(bytecode: Bytecode | None) -> Bytecode | None:
    """``bytecode`` when this interpreter reads it (same magic number and cache tag)."""
    if bytecode is None or sys.implementation.cache_tag != bytecode.cache_tag:
        return None
    return bytecode if bytecode.magic == importlib.util.MAGIC_NUMBER.hex() else None


def extract_bytecode(
    zip_path: Path, bytecode: Bytecode, folder: Path, wheels: Collection[str]
) -> int:
    """The shipped ``.pyc`` of ``wheels``' modules, each where this interpreter looks for
    its source's (``__pycache__``); bytes written. The wheelhouse's digest covers them."""
    written = 0
    made: set[Path] = set()
    with open_stored(zip_path, bytecode.member) as handle, zipfile.ZipFile(handle) as compiled:
        for info in compiled.infolist():
            wheel, _, member = info.filename.partition("/")
            if wheel not in wheels or not member.endswith(".py"):
                continue
            source = _member_target(member, folder, wheel)
            if source is None:
                continue
            target = Path(importlib.util.cache_from_source(os.fspath(source)))
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with compiled.open(info) as data, target.open("wb") as out:
                shutil.copyfileobj(data, out, _CHUNK)
            written += info.file_size
    return written
