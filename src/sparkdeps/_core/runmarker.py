"""``run.json``: the marker the builder writes beside ``wheelhouse.zip``, and its checker.

Cleanup removes a folder only when its marker is sparkdeps' own: the schema keys
present, ``run_id`` equal to the folder's name, ``digest`` 64 lowercase hex
digits and ``created`` an ISO 8601 timestamp. Every path cleanup derives (the
payloads of a digest) comes from these checked values, so a forged marker
cannot aim it anywhere else. The marker is read without following a FIFO or a
symlink and only up to :data:`MAX_MARKER_BYTES`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import StorageError
from .hashing import DIGEST

__all__ = [
    "DIGEST",
    "MAX_MARKER_BYTES",
    "MarkerError",
    "RunMarker",
    "marker_json",
    "parse_marker",
    "read_local_marker",
]

MAX_MARKER_BYTES = 64 * 1024
"""The builder's run.json is a few hundred bytes; anything past this is not one."""
_KEYS = ("run_id", "created", "digest", "sparkdeps_version")


class MarkerError(ValueError):
    """A ``run.json`` that is not sparkdeps' own (the reason is the message)."""


@dataclass(frozen=True)
class RunMarker:
    run_id: str
    created: float
    """Epoch seconds."""
    digest: str
    """sha256 of the ``wheelhouse.zip`` beside it."""
    sparkdeps_version: str
    input_digest: str | None = None


def marker_json(
    run_id: str, digest: str, input_digest: str, version: str, now: _dt.datetime | None = None
) -> str:
    """The text of a ``run.json`` the builder publishes."""
    created = (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="seconds")
    data = {
        "run_id": run_id,
        "created": created,
        "sparkdeps_version": version,
        "digest": digest,
        "input_digest": input_digest,
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _created(value: object) -> float:
    if not isinstance(value, str) or len(value) > 64:
        raise MarkerError(f"'created' is {value!r}, not an ISO 8601 timestamp")
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MarkerError(f"'created' is {value!r}, not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


def parse_marker(text: str, folder_name: str) -> RunMarker:
    """The marker in ``text`` for the folder ``folder_name``; else :class:`MarkerError`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MarkerError(f"it is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MarkerError(f"it holds a {type(data).__name__}, not an object")
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise MarkerError(f"it lacks {', '.join(missing)}")
    run_id, digest, version = data["run_id"], data["digest"], data["sparkdeps_version"]
    if not isinstance(run_id, str) or run_id != folder_name:
        raise MarkerError(f"its run_id {run_id!r} is not the folder's name {folder_name!r}")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise MarkerError(f"its digest {digest!r} is not a sha256 (64 lowercase hex digits)")
    if not isinstance(version, str):
        raise MarkerError(f"its sparkdeps_version {version!r} is not a string")
    input_digest = data.get("input_digest")
    return RunMarker(
        run_id=run_id,
        created=_created(data["created"]),
        digest=digest,
        sparkdeps_version=version,
        input_digest=input_digest if isinstance(input_digest, str) else None,
    )


def read_local_marker(path: Path) -> str | None:
    """The text of a POSIX ``run.json``: None when absent; never follows a FIFO or symlink.

    Opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked to be a regular file of at
    most :data:`MAX_MARKER_BYTES` before a byte is read, so a FIFO, a device or a
    huge file planted as ``run.json`` neither hangs nor floods memory.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MarkerError("it is a symbolic link") from exc
        raise StorageError(
            f"cannot read {path}: {exc}; a run.json must be a regular file sparkdeps wrote"
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MarkerError("it is not a regular file")
        if info.st_size > MAX_MARKER_BYTES:
            raise MarkerError(f"it is {info.st_size} bytes, more than a run.json ever is")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_MARKER_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MarkerError("it is not UTF-8 text") from exc
