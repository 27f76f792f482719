"""Which twin folders are sparkdeps' own, and one twin run per folder at a time.

A marker inside a folder proves nothing: anyone (or a crash, or a copy) can leave a
``sparkdeps-twin.partial`` among their own files. So sparkdeps records every folder
it claims for a twin in its cache, outside the folder: ``<cache>/twins/made/<key>.json``
holds the path, the folder's device and inode (a folder made anew under that name is
not the recorded one), a random token that sparkdeps also writes into the folder
(``.sparkdeps-twin-owner``: inode numbers are reused, the token is not), whether
sparkdeps created the folder, and, once the twin is finished, the entries it made.
A folder is filled only when it is empty or recorded; it is emptied only of what
sparkdeps made, and only after everything else (profile, interpreter, destination)
has been checked (``create_twin``).

``<cache>/twins/locks/<key>.lock`` serialises runs on one folder (the pytest plugin
under xdist starts one per worker): the second waits, then reuses the first's twin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from .._core.errors import InputError
from .._core.locking import file_lock
from .._core.paths import cache_root
from .._core.private import private_dir

__all__ = [
    "PARTIAL_MARKER",
    "TWIN_MARKER",
    "check_destination",
    "claim",
    "destination_lock",
    "record_entries",
    "release",
]

logger = logging.getLogger(__name__)

TWIN_MARKER = "sparkdeps-twin.json"
"""Written into the twin's root last: a folder without it is no finished twin."""
PARTIAL_MARKER = "sparkdeps-twin.partial"
_OWNER = ".sparkdeps-twin-owner"
_FIX = "pick an empty or new folder"


def _state(name: str) -> Path:
    return private_dir(cache_root() / "twins" / name)


def _key(root: Path) -> str:
    return hashlib.sha256(os.fspath(root).encode()).hexdigest()[:32]


def _record_path(root: Path) -> Path:
    return _state("made") / f"{_key(root)}.json"


def destination_lock(root: Path) -> AbstractContextManager[None]:
    """The lock of one twin folder, in the sparkdeps cache (the folder may not exist yet)."""
    return file_lock(
        _state("locks") / f"{_key(root)}.lock",
        waiting=f"another run is creating the twin at {root}; waiting for it",
    )


def _record(root: Path) -> dict[str, Any] | None:
    """What sparkdeps recorded when it claimed ``root``; None unless it is this very folder."""
    try:
        data = json.loads(_record_path(root).read_text(encoding="utf-8"))
        info = root.lstat()
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("path") != os.fspath(root):
        return None
    if data.get("folder") != [info.st_dev, info.st_ino]:
        return None  # another folder now has that name
    try:
        token = (root / _OWNER).read_text(encoding="utf-8")
    except OSError:
        return None
    return data if token and token == data.get("token") else None


def _write_record(root: Path, data: dict[str, Any]) -> None:
    path = _record_path(root)
    temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}")
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def _not_ours(root: Path, entries: list[str], marker_problem: str | None) -> str:
    if marker_problem is not None:
        return f"{marker_problem}, and sparkdeps has no record of making {root}"
    if PARTIAL_MARKER in entries or TWIN_MARKER in entries:
        return (
            f"{root} holds a twin marker but sparkdeps has no record of making it "
            "(a marker inside a folder does not make the folder a twin)"
        )
    return f"{root} exists and is not a sparkdeps twin"


def check_destination(root: Path, marker_problem: str | None) -> None:
    """Refuse a destination sparkdeps may not fill or replace; nothing is touched here.

    ``marker_problem`` says what is wrong with a twin marker found there (None: none, or
    a good one).
    """
    if root.is_symlink():
        raise InputError(
            f"{root} is a symbolic link (to {os.path.realpath(root)}): pass the folder "
            f"itself, or {_FIX}"
        )
    if not root.exists():
        return
    if not root.is_dir():
        raise InputError(f"{root} is a file, not a folder: {_FIX}")
    entries = sorted(entry.name for entry in root.iterdir())
    if not entries:
        return
    record = _record(root)
    if record is None:
        raise InputError(
            f"{_not_ours(root, entries, marker_problem)}; nothing was removed: {_FIX} "
            "(or remove it yourself if it is a twin an older sparkdeps made)"
        )
    made = record.get("entries")
    if isinstance(made, list):
        foreign = [name for name in entries if name not in made and not _marker_name(name)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise InputError(
                f"{root} is a twin sparkdeps made, but it now holds files sparkdeps did not "
                f"make ({shown}); nothing was removed: move them out, or {_FIX}"
            )


def _marker_name(name: str) -> bool:
    return name in (PARTIAL_MARKER, TWIN_MARKER, _OWNER)


def claim(root: Path, marker_problem: str | None) -> bool:
    """Under the lock: check ``root`` again, empty what sparkdeps made there, record it.

    True when sparkdeps created the folder itself (a failed build removes it then).
    """
    check_destination(root, marker_problem)
    previous = _record(root) if root.exists() else None
    created = not root.exists()
    if created:
        root.mkdir(parents=True)
    elif any(root.iterdir()):
        logger.info("replacing the twin at %s", root)
        _empty(root)
    info = root.lstat()
    created = created or bool(previous and previous.get("created"))
    token = os.urandom(16).hex()
    (root / _OWNER).write_text(token, encoding="utf-8")
    _write_record(
        root,
        {
            "path": os.fspath(root),
            "folder": [info.st_dev, info.st_ino],
            "token": token,
            "created": created,
            "entries": None,  # not finished: everything in it is sparkdeps'
        },
    )
    return created


def _empty(root: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def record_entries(root: Path) -> None:
    """A finished twin: remember what sparkdeps made, so a user's later files stay theirs."""
    data = _record(root)
    if data is None:  # cannot happen under the lock; never guess
        return
    data["entries"] = sorted(entry.name for entry in root.iterdir())
    _write_record(root, data)


def release(root: Path, created: bool) -> None:
    """A failed build: remove what sparkdeps made (the folder too, if it made it)."""
    if _record(root) is None:
        return
    _empty(root)
    if created:
        root.rmdir()
    _record_path(root).unlink(missing_ok=True)
