"""Who requires what in a resolution: each pin's ``Requires-Dist``, evaluated for the target.

uv's lock (:class:`.backend.Lock`) lists the pins, not the edges, so the edges come
from each pinned package's metadata, its markers evaluated with ``packaging.markers``
for the target's environment (not the host's) and the extras asked of it. The
metadata is read from the file itself when it is on this machine (local wheels,
find-links, the runtime's stand-ins), else from the index's PEP 658 ``.metadata``
file (PyPI and most indexes serve one), else from the whole file, kept in the
:class:`.fetch_http.FileCache` where the download step finds it again.
"""

from __future__ import annotations

import io
import logging
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .._core.target import Target
from .backend import Lock, LockedFile, LockedPackage
from .fetch_http import FileCache, open_url
from .index import IndexSettings

__all__ = ["CONSTRAINT", "ROOT", "Graph", "MetadataReader", "Node", "dependency_graph"]

logger = logging.getLogger(__name__)
ROOT = "-r"
"""A parent that is a line of the input."""
CONSTRAINT = "-c"
"""A parent that is a constraint of the input."""
_WORKERS = 8
_MAX_METADATA = 16 << 20


@dataclass(frozen=True)
class Node:
    version: str
    parents: tuple[str, ...] = ()
    """Package names that require this one; :data:`ROOT` / :data:`CONSTRAINT` for the input."""
    asks: tuple[tuple[str, str], ...] = ()
    """(package, specifier) of every pinned package's requirement on this one."""


@dataclass(frozen=True)
class Graph:
    nodes: Mapping[str, Node] = field(default_factory=dict)

    def version(self, name: str) -> str:
        node = self.nodes.get(name)
        return node.version if node is not None else ""


class MetadataReader:
    """``Requires-Dist`` of locked packages, read where it costs least (module docstring)."""

    def __init__(self, cache: FileCache, index: IndexSettings) -> None:
        self.cache, self.index = cache, index

    def requires(self, packages: Sequence[LockedPackage]) -> dict[str, list[str] | None]:
        """Each package's Requires-Dist; None where no metadata could be read."""
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            found = list(pool.map(self._one, packages))
        return {package.name: requires for package, requires in zip(packages, found, strict=True)}

    def _one(self, package: LockedPackage) -> list[str] | None:
        try:
            text = self._metadata(package)
        except Exception as exc:  # an explanation only: a failed look-up leaves it unknown
            logger.debug("no metadata for %s %s: %s", package.name, package.version, exc)
            return None
        if text is None:
            return None
        raw, _unparsed = parse_email(text)
        return list(raw.get("requires_dist", []))

    def _metadata(self, package: LockedPackage) -> str | None:
        if package.wheels:
            wheel = package.wheels[0]
            local = wheel.path or self.cache.find(wheel)
            if local is None:
                text = self._pep658(wheel)
                if text is not None:
                    return text
                local = self._whole(wheel)
            return _wheel_metadata(local)
        if package.sdist is not None:
            sdist = package.sdist
            return _sdist_metadata(sdist.path or self.cache.find(sdist) or self._whole(sdist))
        return None

    def _pep658(self, wheel: LockedFile) -> str | None:
        request = open_url(wheel.url + ".metadata", self.index, "metadata")
        try:
            with urllib.request.urlopen(request, timeout=self.index.timeout) as answer:
                data: bytes = answer.read(_MAX_METADATA)
        except urllib.error.HTTPError:
            return None  # the index serves no .metadata: read the wheel
        return data.decode("utf-8", "replace")

    def _whole(self, file: LockedFile) -> Path:
        scratch = self.cache.root / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        dest = scratch / file.filename
        self.cache.fetch(file, self.index, dest)
        kept = self.cache.find(file)
        if kept is None:  # bytes other than the lock's: read them, keep nothing
            return dest
        dest.unlink()
        return kept


def _wheel_metadata(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            head, _, tail = name.partition("/")
            if head.endswith(".dist-info") and tail == "METADATA":
                return archive.read(name).decode("utf-8", "replace")
    return None


def _sdist_metadata(path: Path) -> str | None:
    """PKG-INFO of an sdist (Requires-Dist there when the backend wrote it, PEP 643)."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO")]
            return archive.read(names[0]).decode("utf-8", "replace") if names else None
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(member)
                return io.TextIOWrapper(handle, "utf-8").read() if handle else None
    return None


def _applies(requirement: Requirement, environment: dict[str, str], extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    marker: Marker = requirement.marker
    return any(marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras))


def dependency_graph(
    lock: Lock,
    target: Target,
    *,
    roots: Sequence[str],
    constraints: Sequence[str] = (),
    reader: MetadataReader,
) -> Graph:
    """The graph of ``lock``: every pin, who requires it (package names, or :data:`ROOT` /
    :data:`CONSTRAINT` for the input's lines ``roots`` / ``constraints``) and what they ask."""
    environment = target.markers()
    pinned = lock.versions()
    requires = reader.requires(lock.packages)
    parents: dict[str, dict[str, None]] = {name: {} for name in pinned}
    asks: dict[str, dict[tuple[str, str], None]] = {name: {} for name in pinned}
    extras: dict[str, set[str]] = {name: set() for name in pinned}
    for kind, lines in ((ROOT, roots), (CONSTRAINT, constraints)):
        for requirement in _parsed(lines):
            name = canonicalize_name(requirement.name)
            if name in pinned and _applies(requirement, environment, ()):
                parents[name][kind] = None
                if kind == ROOT:
                    extras[name] |= set(requirement.extras)
    for _round in range(len(pinned) + 1):  # extras reach further each round, until none new
        grew = False
        for parent in pinned:
            for requirement in _parsed(requires.get(parent) or ()):
                child = canonicalize_name(requirement.name)
                if child not in pinned or not _applies(requirement, environment, extras[parent]):
                    continue
                parents[child][parent] = None
                asks[child][(parent, str(requirement.specifier))] = None
                fresh = set(requirement.extras) - extras[child]
                extras[child] |= fresh
                grew = grew or bool(fresh)
        if not grew:
            break
    return Graph(
        {
            name: Node(version, tuple(parents[name]), tuple(asks[name]))
            for name, version in pinned.items()
        }
    )


def _parsed(lines: Iterable[str]) -> list[Requirement]:
    out: list[Requirement] = []
    for line in lines:
        try:
            out.append(Requirement(line))
        except InvalidRequirement:
            logger.debug("skipping unreadable requirement %r", line)
    return out
