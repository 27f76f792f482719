"""A run in pip's own terms: wheels in a folder, and one hashed requirement line per wheel.

``build`` publishes each run twice: ``wheelhouse.zip`` (what ``load`` reads) and, beside
it, the *pip-native form*::

    <base>/<run_id>/wheels/<file>.whl      every wheel of the manifest
    <base>/<run_id>/requirements.txt       <folder>/<file>.whl --hash=sha256:<hex>, per wheel
    <base>/<run_id>/pylock.toml            the zip's PEP 751 lock (paths relative to it)

so that channels which only speak pip can install a run: a serverless environment's
``dependencies`` (``-r /Volumes/.../requirements.txt``), ``%pip install -r`` in a
notebook, Databricks Connect's ``DatabricksEnv().withDependencies(...)``
(docs/compute.md). This module is the one place that renders those lines; both halves
use it (the build half to publish, the runtime half to install through such a channel).

Paths are absolute, as pip reads a requirement line's path against its working folder
and not against the requirements file. No markers: a run is for one target, so every
wheel in it is needed there, and a wheel that does not fit the interpreter fails in pip
with a clear "not a supported wheel" rather than being skipped. The hashes switch pip to
hash-checking mode, so a wheel changed after the build is refused (checked with pip
23.2, the oldest pip a supported runtime ships, and pip 26).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from .errors import InputError
from .hashing import DIGEST
from .wheelhouse import PYLOCK_NAME  # the run folder's copy of the zip's lock

if TYPE_CHECKING:
    from .manifest import WheelInfo

__all__ = [
    "PIP_WHEELS",
    "PYLOCK_NAME",
    "REQUIREMENTS_NAME",
    "checked_folder",
    "pip_path",
    "requirement_line",
    "requirement_lines",
    "requirements_text",
    "wheel_paths",
]

PIP_WHEELS = "wheels"
"""The run folder's folder of wheels (the same name the zip's entries and lock use)."""
REQUIREMENTS_NAME = "requirements.txt"
"""The run folder's hashed requirements file."""

# pip splits a requirement line at whitespace followed by "-", ends it at " #", and reads
# ";" as the start of a marker: a folder holding any of them would be misread, not refused
_UNSAFE = re.compile(r"[\s#;\\'\"]|[\x00-\x1f\x7f]")
_WHEEL_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*\.whl$")
_DBFS_MOUNT = "/dbfs"


def pip_path(uri: str) -> str:
    """The absolute POSIX path pip on a cluster (or this machine) opens for ``uri``.

    ``/Volumes/...`` and ``/Workspace/...`` stay as they are, ``dbfs:/x`` becomes
    ``/dbfs/x`` (the FUSE mount), a ``file:`` URI its path, a relative path absolute
    against this process's working folder.
    """
    text = uri.strip()
    if text.startswith("dbfs:"):
        return _DBFS_MOUNT + "/" + text[len("dbfs:") :].lstrip("/")
    if text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InputError(f"{uri}: a file: URI for pip must name a local path")
        return unquote(parsed.path)
    scheme = urlparse(text).scheme
    if scheme and len(scheme) > 1:
        raise InputError(
            f"{uri}: pip cannot open a {scheme}: URI as a path; publish the run on a "
            "/Volumes/..., dbfs:/ or local folder"
        )
    if text.startswith("/"):  # as the cluster opens it, even from a Windows client
        return text
    return str(Path(text).expanduser().absolute())


def checked_folder(folder: str | os.PathLike[str]) -> str:
    """``folder`` without a trailing slash, once it is a path pip reads as written:
    absolute POSIX, no whitespace, quote, ``#``, ``;`` or backslash (else InputError)."""
    text = os.fspath(folder).rstrip("/")
    if not text.startswith("/"):
        raise InputError(
            f"wheel folder {text!r} is not an absolute POSIX path: pip reads a requirement "
            "line's path against its working folder",
            fix="pass pip_path(<folder>)",
        )
    if _UNSAFE.search(text):
        raise InputError(
            f"wheel folder {text!r} holds a space, quote, '#', ';' or backslash, which pip "
            "would misread in a requirement line",
            fix="publish the run under a plainer path",
        )
    return text


def requirement_line(folder: str | os.PathLike[str], filename: str, sha256: str | None) -> str:
    """``<folder>/<filename> --hash=sha256:<hex>`` (no hash part when ``sha256`` is None)."""
    base = checked_folder(folder)
    if not _WHEEL_FILE.fullmatch(filename):
        raise InputError(f"{filename!r} is not a wheel file name a requirement line can carry")
    line = f"{base}/{filename}"
    if sha256 is None:
        return line
    if not DIGEST.fullmatch(sha256):
        raise InputError(f"{filename}: sha256 {sha256!r} is not 64 lowercase hex digits")
    return f"{line} --hash=sha256:{sha256}"


def requirement_lines(
    wheels: Iterable[WheelInfo], folder: str | os.PathLike[str], *, hashes: bool = True
) -> tuple[str, ...]:
    """One line per wheel in ``folder`` (an absolute POSIX path), sorted by file name.

    ``hashes=False`` leaves the ``--hash`` part out, for a channel that takes bare wheel
    paths; pip's hash-checking mode needs it on every line or on none.
    """
    ordered = sorted(wheels, key=lambda wheel: wheel.filename)
    return tuple(
        requirement_line(folder, wheel.filename, wheel.sha256 if hashes else None)
        for wheel in ordered
    )


def requirements_text(
    wheels: Iterable[WheelInfo],
    folder: str | os.PathLike[str],
    *,
    comment: str | None = None,
    hashes: bool = True,
) -> str:
    """A requirements file: an optional ``# comment`` line, then :func:`requirement_lines`."""
    lines = [f"# {part}" for part in (comment or "").splitlines() if part.strip()]
    lines += requirement_lines(wheels, folder, hashes=hashes)
    return "\n".join(lines) + "\n"


def wheel_paths(wheels: Iterable[WheelInfo], folder: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files the lines name, in the same order (for a caller that checks they exist)."""
    base = Path(checked_folder(folder))
    return tuple(base / wheel.filename for wheel in sorted(wheels, key=lambda w: w.filename))
