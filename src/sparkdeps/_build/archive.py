"""Safe reading of the user's archives and folders.

Every entry must land inside the destination folder: ``..`` parts, absolute
paths, drive letters and symlinks are refused, and so are encrypted entries,
two entries extracting to the same path, and names with invisible or control
characters (bidi overrides, zero-width spaces). Size limits (total, ratio,
entry count) stop zip bombs, and they are enforced on the bytes actually
written, not only on what the archive's headers claim.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

from .._core.errors import InputError, StorageError, UnsafeArchiveError
from .._core.zipsafety import WHY, ArchiveLimits, MemberProblem, member_parts, member_problem

__all__ = ["IGNORED_DIRS", "ArchiveLimits", "copy_tree", "extract_zip", "is_zip"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
# Folders that never hold the user's code: VCS data, caches, virtualenvs, macOS zip debris.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "__MACOSX",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
        ".idea",
        ".vscode",
    }
)


def is_zip(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def _safe_name(raw: str, origin: str) -> PurePosixPath | None:
    name = raw.replace("\\", "/")  # archives made on Windows may separate with backslashes
    problem = member_problem(name)
    if problem == "empty":
        return None
    if problem is not None:
        raise UnsafeArchiveError(f"{origin}: entry {raw!r} {_refusal(problem, name)}")
    return PurePosixPath(*member_parts(name))


def _refusal(problem: MemberProblem, name: str) -> str:
    if problem == "absolute":
        return "is an absolute path; refusing the archive (re-create it with relative paths)"
    if problem == "parent":
        return (
            "would land outside the work folder ('..'); refusing the archive (re-create it "
            "without '..' in paths)"
        )
    if problem == "control":
        codes = ", ".join(
            sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in ("Cc", "Cf")})
        )
        return (
            f"contains invisible or control characters ({codes}); refusing the archive "
            "(rename the file with visible characters only)"
        )
    return f"has {WHY[problem]}; refusing the archive (rename the file)"


class _Budget:
    """Bytes left for the whole input (shared by inner archives)."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.used = 0

    def spend(self, count: int, origin: str) -> None:
        self.used += count
        if self.used > self.limits.max_total_size:
            raise UnsafeArchiveError(
                f"{origin}: expands past {self.limits.max_total_size} bytes; refusing it as a "
                "possible zip bomb (raise ArchiveLimits.max_total_size if it is genuine)"
            )


def extract_zip(
    archive_path: Path,
    dest: Path,
    limits: ArchiveLimits,
    *,
    origin: str | None = None,
    budget: _Budget | None = None,
) -> list[str]:
    """Extract ``archive_path`` into ``dest`` safely; return the relative file names written."""
    origin = origin or archive_path.name
    budget = budget or _Budget(limits)
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"{origin} is not a readable zip archive ({exc}); it is corrupt or truncated: "
            "re-create or re-download it"
        ) from exc
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[str] = []
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise UnsafeArchiveError(
                f"{origin} has {len(infos)} entries, more than the limit of {limits.max_entries} "
                "(raise ArchiveLimits.max_entries if it is genuine)"
            )
        declared = sum(info.file_size for info in infos)
        packed = max(archive_path.stat().st_size, 1)
        if limits.too_dense(declared, packed):
            raise UnsafeArchiveError(
                f"{origin} claims {declared} bytes from {packed} compressed (ratio "
                f"{declared / packed:.0f} > {limits.max_ratio:.0f}); refusing it as a zip bomb "
                "(raise ArchiveLimits.max_ratio if it is genuine)"
            )
        _check_entries(infos, origin)
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(
                    f"{origin}: entry {info.filename!r} is a symlink; refusing the archive "
                    "(symlinks can point outside the work folder: archive the real files)"
                )
            relative = _safe_name(info.filename, origin)
            if relative is None:
                continue
            target = (root / relative).resolve()
            if not target.is_relative_to(root):
                raise UnsafeArchiveError(
                    f"{origin}: entry {info.filename!r} would land outside the work folder"
                )
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_entry(archive, info, target, budget, origin)
            written.append(relative.as_posix())
    return written


def _check_entries(infos: list[zipfile.ZipInfo], origin: str) -> None:
    """Refuse encrypted and duplicate entries before anything is written."""
    seen: dict[str, str] = {}
    for info in infos:
        if info.flag_bits & 0x1:
            raise InputError(
                f"{origin}: entry {info.filename!r} is encrypted; sparkdeps cannot read "
                "password-protected archives: re-create the archive without a password"
            )
        relative = _safe_name(info.filename, origin)
        if relative is None or info.is_dir():
            continue
        key = relative.as_posix()
        if key in seen:
            # the later copy would silently replace the earlier one: which one is meant?
            raise UnsafeArchiveError(
                f"{origin}: entries {seen[key]!r} and {info.filename!r} both extract to {key!r}; "
                "refusing the archive (keep one copy of the file and re-create it)"
            )
        seen[key] = info.filename


def _copy_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget, origin: str
) -> None:
    count = 0
    try:
        with archive.open(info) as source, target.open("wb") as out:
            while chunk := source.read(_CHUNK):
                count += len(chunk)
                # headers can lie about sizes: count what really comes out
                if count > info.file_size:
                    raise UnsafeArchiveError(
                        f"{origin}: entry {info.filename!r} expands past its declared size; "
                        "refusing the archive"
                    )
                budget.spend(len(chunk), origin)
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, UnsafeArchiveError):
            raise
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise StorageError(
                f"cannot write {target} while extracting {origin}: {exc}; free disk space "
                "or point TMPDIR at a larger disk"
            ) from exc
        raise InputError(
            f"{origin}: entry {info.filename!r} cannot be read ({exc}); the archive is corrupt: "
            "re-create or re-download it"
        ) from exc


def copy_tree(source: Path, dest: Path, budget: _Budget | None = None) -> list[str]:
    """Copy a folder into ``dest``; symlinks must stay inside ``source``. Return file names.

    A folder gets the checks a zip gets: no unreadable part skipped in silence,
    names with invisible or control characters refused, and the size and entry
    limits of ``budget`` applied to what is copied.
    """
    root = source.resolve()
    spent = budget or _Budget(ArchiveLimits())
    written: list[str] = []

    def unreadable(exc: OSError) -> None:
        raise InputError(
            f"{exc.filename}: cannot read it ({exc.strerror})",
            fix="make it readable or move it out of the input folder",
        ) from exc

    for current, dirs, files in os.walk(root, onerror=unreadable, followlinks=False):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in list(dirs):
            link = here / name
            if link.is_symlink():
                if not link.resolve().is_relative_to(root):
                    raise UnsafeArchiveError(
                        f"{link}: symlink points outside the input folder; "
                        "replace it by the real files"
                    )
                dirs.remove(name)  # its target is inside and copied on its own
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(root)
            _safe_name(relative.as_posix(), os.fspath(source))
            if path.is_symlink():
                resolved = path.resolve()
                if not resolved.is_relative_to(root):
                    raise UnsafeArchiveError(
                        f"{path}: symlink points outside the input folder; "
                        "replace it by the real file"
                    )
                if not resolved.is_file():
                    continue
            if name.endswith((".pyc", ".pyo")):
                continue
            _copy_counted(path, dest / relative, spent, os.fspath(source), len(written) + 1)
            written.append(relative.as_posix())
    return written


def _copy_counted(path: Path, out: Path, budget: _Budget, origin: str, count: int) -> None:
    """Copy one file of a folder input, within the entry and size limits."""
    if count > budget.limits.max_entries:
        raise UnsafeArchiveError(
            f"{origin}: holds more than {budget.limits.max_entries} files; refusing it "
            "(raise ArchiveLimits.max_entries if it is genuine)"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc})", fix="make it readable") from exc
    budget.spend(size, f"{origin} ({path.name}: {size} bytes)")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(path, out)
    except PermissionError as exc:
        raise InputError(
            f"{path}: cannot read it ({exc.strerror})", fix="make it readable"
        ) from exc
