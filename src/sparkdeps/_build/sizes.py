"""What a wheelhouse would weigh, read before anything is downloaded.

For each pin that would ship, the wheel pip would pick for the target (its best
tag, as ``Target.tags`` orders them) is looked up where pip would look: the
``find_links`` folders (file size) and the index's project page. A PEP 691 JSON
page (PyPI's) gives each file's ``size`` (PEP 700); an HTML page does not, so the
chosen file gets one ``HEAD`` request (``Content-Length``). Local wheels weigh what
their files do; an sdist to be built, or anything the index does not answer for,
is unknown. Nothing here fails a build: a lookup that fails leaves a size unknown.
"""

from __future__ import annotations

import html
import json
import logging
import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .._core.progress import human_bytes
from .._core.target import Target
from .index import IndexSettings, index_request
from .resolve import Pin

__all__ = ["ShipSize", "Weighed", "weigh"]

logger = logging.getLogger(__name__)
_WORKERS = 8
_MAX_PAGE = 32 << 20
_HREF = r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>"


@dataclass(frozen=True)
class Weighed:
    name: str
    version: str
    size: int | None
    """Bytes of the file that would ship; None when unknown."""
    filename: str = ""
    newest: str | None = None
    """The newest final release the index lists (a hint: the runtime may hold it back)."""


@dataclass(frozen=True)
class ShipSize:
    """The files a build would ship, with their sizes where known."""

    items: tuple[Weighed, ...] = ()

    @property
    def total(self) -> int:
        """Bytes of the files whose size is known."""
        return sum(item.size or 0 for item in self.items)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items if item.size is None)

    def heaviest(self, count: int = 5) -> tuple[Weighed, ...]:
        known = [item for item in self.items if item.size]
        return tuple(sorted(known, key=lambda i: (-(i.size or 0), i.name))[:count])

    def describe(self, count: int = 5) -> str:
        """``1.20 GB (heaviest: torch 2.5.0 790.1 MB, ...; size unknown: x)``."""
        text = human_bytes(self.total)
        heavy = ", ".join(
            f"{i.name} {i.version} {human_bytes(i.size or 0)}" for i in self.heaviest(count)
        )
        notes = [f"heaviest: {heavy}"] if heavy else []
        if self.unknown:
            notes.append(f"size unknown: {', '.join(self.unknown)}")
        return text + (f" ({'; '.join(notes)})" if notes else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_bytes": self.total,
            "unknown": list(self.unknown),
            "heaviest": [
                {"name": i.name, "version": i.version, "bytes": i.size, "filename": i.filename}
                for i in self.heaviest(10)
            ],
        }


def weigh(pins: Sequence[Pin], target: Target, index: IndexSettings) -> ShipSize:
    """The size of every pin that would ship (local wheels, sdists and index wheels)."""
    ranks = {tag: rank for rank, tag in enumerate(target.tags)}
    remote = [pin for pin in pins if pin.local is None and not pin.sdist_only]
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        found = dict(zip(remote, pool.map(lambda p: _remote(p, ranks, index), remote), strict=True))
    items: list[Weighed] = []
    for pin in pins:
        if pin.local is not None:
            items.append(Weighed(pin.name, pin.version, pin.local.stat().st_size, pin.local.name))
        elif pin.sdist_only:
            items.append(Weighed(pin.name, pin.version, None))
        else:
            items.append(found[pin])
    return ShipSize(tuple(items))


def _best(
    files: Iterable[tuple[str, Any]], pin: Pin, ranks: Mapping[Tag, int]
) -> tuple[str, Any] | None:
    """The ``(filename, extra)`` pip would take for ``pin`` on the target: its best tag."""
    best: tuple[int, str, Any] | None = None
    for filename, extra in files:
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
            if canonicalize_name(name) != pin.name or Version(str(version)) != Version(pin.version):
                continue
        except (InvalidWheelFilename, InvalidVersion):
            continue
        rank = min((ranks[tag] for tag in tags if tag in ranks), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, filename, extra)
    return None if best is None else (best[1], best[2])


def _remote(pin: Pin, ranks: Mapping[Tag, int], index: IndexSettings) -> Weighed:
    found: tuple[str, int | None, str | None] | None
    try:
        found = _in_folders(pin, ranks, index.find_links)
        if found is None and not index.no_index:
            urls = [index.index_url or "https://pypi.org/simple", *index.extra_index_urls]
            for url in urls:
                found = _on_index(pin, ranks, url, index.timeout)
                if found is not None:
                    break
    except (OSError, ValueError) as exc:
        logger.debug("no size for %s: %s", pin.spec, exc)
        found = None
    if found is None:
        return Weighed(pin.name, pin.version, None)
    return Weighed(pin.name, pin.version, found[1], found[0], found[2])


def _in_folders(
    pin: Pin, ranks: Mapping[Tag, int], links: Iterable[str]
) -> tuple[str, int | None, str | None] | None:
    for link in links:
        folder = Path(link[len("file://") :] if link.startswith("file://") else link)
        if folder.is_dir():
            files = {p.name: p for p in folder.iterdir()}
            chosen = _best(files.items(), pin, ranks)
            if chosen is not None:
                return chosen[0], chosen[1].stat().st_size, _newest(files, pin.name)
    return None


def _newest(filenames: Iterable[str], name: str) -> str | None:
    """The highest final release of ``name`` among wheel and sdist file names."""
    versions: set[Version] = set()
    for filename in filenames:
        try:
            if filename.endswith(".whl"):
                project, version, _build, _tags = parse_wheel_filename(filename)
            else:
                project, version = parse_sdist_filename(filename)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if canonicalize_name(project) == name and not version.is_prerelease:
            versions.add(version)
    return str(max(versions)) if versions else None


def _on_index(
    pin: Pin, ranks: Mapping[Tag, int], url: str, timeout: float
) -> tuple[str, int | None, str | None] | None:
    """(filename, size, newest) from the project page; a ``HEAD`` where it has no size."""
    page = url.rstrip("/") + f"/{pin.name}/"
    with urllib.request.urlopen(index_request(page, "size"), timeout=timeout) as answer:
        body = answer.read(_MAX_PAGE)
        kind = answer.headers.get("Content-Type", "")
        page = answer.geturl() or page
    files = _json_files(body) if "json" in kind else _html_files(body)
    chosen = _best(files.items(), pin, ranks)
    if chosen is None:
        return None
    filename, (href, size) = chosen
    if size is None:
        size = _content_length(urljoin(page, href), url, timeout)
    return filename, size, _newest(files, pin.name)


def _json_files(body: bytes) -> dict[str, tuple[str, int | None]]:
    files: dict[str, tuple[str, int | None]] = {}
    for item in json.loads(body).get("files", []):
        if item.get("yanked"):
            continue
        size = item.get("size")
        files[str(item["filename"])] = (str(item["url"]), size if isinstance(size, int) else None)
    return files


def _html_files(body: bytes) -> dict[str, tuple[str, int | None]]:
    files: dict[str, tuple[str, int | None]] = {}
    for raw in re.findall(_HREF, body.decode("utf-8", "replace"), re.IGNORECASE):
        href = html.unescape(raw)
        files[unquote(urlsplit(href).path.rsplit("/", 1)[-1])] = (href, None)
    return files


def _content_length(file_url: str, index_url: str, timeout: float) -> int | None:
    # the index's credentials go to its own host only
    same = urlsplit(file_url).hostname == urlsplit(index_url).hostname
    request = index_request(file_url, "size", credentials_from=index_url if same else None)
    request.method = "HEAD"
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        length = answer.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None
