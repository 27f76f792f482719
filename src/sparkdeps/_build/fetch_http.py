"""sparkdeps' own GETs of locked files: exact URLs, sha256 checked, kept by digest.

A lock (:class:`.backend.Lock`) names every file with its URL and sha256, so no
resolver is needed to fetch it: :class:`DirectFetcher` GETs the files in parallel,
hashing as it writes, and keeps each one in a cache addressed by its sha256 (a file
is reused only when its bytes are the ones the lock names). Credentials come from
the index URL the file lives under (uv writes URLs without them), else ``~/.netrc``.
``file://`` URLs (find-links folders) are copied.
"""

from __future__ import annotations

import hashlib
import logging
import netrc
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from .._core.errors import ResolutionError
from .._core.hashing import CHUNK, DIGEST
from .._core.progress import Tracker
from .._core.runner import redact
from .backend import FetchRequest, LockedFile
from .index import IndexSettings, index_request

__all__ = ["DirectFetcher", "FileCache", "open_url"]

logger = logging.getLogger(__name__)
_WORKERS = 6


def _credentials_from(url: str, index: IndexSettings) -> str | None:
    """The index URL (with its credentials) on the same host as ``url``, if any."""
    host = urlsplit(url).hostname
    for candidate in [index.index_url or "", *index.extra_index_urls]:
        parts = urlsplit(candidate)
        if parts.hostname == host and parts.username is not None:
            return candidate
    try:
        found = netrc.netrc().authenticators(host or "")
    except (OSError, netrc.NetrcParseError):
        return None
    if found is None:
        return None
    login, _account, password = found
    scheme, netloc = urlsplit(url).scheme, urlsplit(url).netloc
    return f"{scheme}://{login}:{password or ''}@{netloc}/"


def open_url(url: str, index: IndexSettings, purpose: str) -> urllib.request.Request:
    return index_request(url, purpose, credentials_from=_credentials_from(url, index))


def _retrying(index: IndexSettings, action: Callable[[], None], what: str) -> None:
    """``action``, tried again ``index.retries`` times on a network error (not on 4xx)."""
    for attempt in range(index.retries + 1):
        try:
            action()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == index.retries:
                raise ResolutionError(
                    f"cannot fetch {redact(what)}: HTTP {exc.code} {exc.reason}",
                    fix=f"check that the index {index.shown()} still serves this file",
                ) from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == index.retries:
                raise ResolutionError(
                    f"cannot fetch {redact(what)} ({exc})",
                    fix=f"check that the index {index.shown()} is up and reachable from this "
                    "machine; for a slow index raise index_timeout= / --index-timeout",
                ) from exc
        time.sleep(0.5 * (attempt + 1))


class FileCache:
    """Files kept as ``<root>/<sha256>/<filename>``: only a file whose bytes matched its
    lock's sha256 is ever stored, so a hit needs no second look."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find(self, file: LockedFile) -> Path | None:
        if not DIGEST.match(file.sha256):
            return None
        path = self.root / file.sha256 / file.filename
        return path if path.is_file() else None

    def place(self, file: LockedFile, dest: Path) -> bool:
        """Put the cached ``file`` at ``dest``; False when it is not cached."""
        found = self.find(file)
        if found is not None:
            _place(found, dest)
        return found is not None

    def fetch(
        self, file: LockedFile, index: IndexSettings, dest: Path, tracker: Tracker | None = None
    ) -> int:
        """Put ``file`` at ``dest`` (from the cache or the network); the bytes fetched.

        Bytes that do not match the lock's sha256 reach ``dest`` but not the cache: the
        caller's check (:mod:`.download`) names the file and removes it."""
        found = self.find(file)
        if found is not None:
            _place(found, dest)
            return 0
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        digests: list[hashlib._Hash] = []

        def get() -> None:
            digest = hashlib.sha256()
            digests.append(digest)  # a retry starts the digest over
            if file.path is not None:
                with file.path.open("rb") as source, partial.open("wb") as out:
                    _copy(source.read, out.write, digest, tracker)
                return
            request = open_url(file.url, index, "download")
            with (
                urllib.request.urlopen(request, timeout=index.timeout) as answer,
                partial.open("wb") as out,
            ):
                _copy(answer.read, out.write, digest, tracker)

        _retrying(index, get, file.url)
        partial.replace(dest)
        if DIGEST.match(file.sha256) and digests[-1].hexdigest() == file.sha256:
            kept = self.root / file.sha256 / file.filename
            kept.parent.mkdir(parents=True, exist_ok=True)
            _place(dest, kept)
        return dest.stat().st_size


def _place(source: Path, dest: Path) -> None:
    """A hard link where the file system allows it (same bytes, no copy), else a copy."""
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    partial.replace(dest)


def _copy(
    read: Callable[[int], bytes],
    write: Callable[[bytes], object],
    digest: hashlib._Hash,
    tracker: Tracker | None,
) -> None:
    while chunk := read(CHUNK):
        digest.update(chunk)
        write(chunk)
        if tracker is not None:
            tracker.add_bytes(len(chunk))


class DirectFetcher:
    """GETs of the lock's exact URLs, in parallel, through a :class:`FileCache`."""

    def __init__(self, cache: FileCache) -> None:
        self.cache = cache

    def fetch(self, request: FetchRequest, tracker: Tracker) -> None:
        if request.specs:
            raise ResolutionError(
                "the direct fetcher needs each file's URL: "
                + ", ".join(request.specs)
                + " came without one",
                fix="fetch them with pip (the default)",
            )

        def one(file: LockedFile) -> None:
            tracker.start(file.filename)
            dest = request.dest / file.filename
            fetched = self.cache.fetch(file, request.index, dest, tracker)
            tracker.item_done(file.filename, dest.stat().st_size, counted=fetched)

        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            list(pool.map(one, request.files))
