"""sha256 of a file or a stream, read in chunks: constant memory whatever the size."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import IO

__all__ = ["CHUNK", "DIGEST", "sha256_file", "sha256_stream"]

CHUNK = 1 << 20
"""1 MiB: large enough that the loop costs nothing next to the hashing."""
DIGEST = re.compile(r"^[0-9a-f]{64}$")
"""A sha256 in the form sparkdeps writes it."""


def sha256_stream(handle: IO[bytes]) -> str:
    """The hex sha256 of what is left to read in ``handle``."""
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    with path.open("rb") as handle:
        return sha256_stream(handle)
