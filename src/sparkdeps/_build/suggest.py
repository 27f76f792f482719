"""Did-you-mean for a package the index does not have (``reqeusts`` -> ``requests``).

Close names come from what the index really holds: the project list of its
simple page (PEP 503/691, ``<index>/``), project names of wheels and sdists in
``find_links`` folders, and the packages of every Databricks runtime set (the
popular names, for an index like PyPI whose project list is too large to read
for a hint). Nothing here may fail a build: any error leaves fewer suggestions.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from .._core.runtimes import runtime_packages, runtime_profile_names
from .index import index_request

if TYPE_CHECKING:
    from .resolve import IndexSettings

__all__ = ["close_names", "index_projects"]

logger = logging.getLogger(__name__)

_MAX_LISTING = 8 << 20
"""A private index's project list fits; PyPI's (tens of MB) is not read for a hint."""
_HUGE_INDEXES = ("pypi.org", "pypi.python.org", "files.pythonhosted.org")
_LINK = re.compile(r"<a [^>]*>([^<]+)</a>", re.IGNORECASE)
_DIST = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*?)-\d")


def index_projects(url: str, timeout: float) -> set[str]:
    """The project names an index's simple page lists (empty when unreadable or huge)."""
    if not url.startswith(("http://", "https://")) or urlsplit(url).hostname in _HUGE_INDEXES:
        return set()
    try:
        with urllib.request.urlopen(
            index_request(url.rstrip("/") + "/", "did-you-mean"), timeout=timeout
        ) as answer:
            body = answer.read(_MAX_LISTING + 1)
            kind = answer.headers.get("Content-Type", "")
    except (OSError, ValueError) as exc:
        logger.debug("no project list from the index: %s", exc)
        return set()
    if len(body) > _MAX_LISTING:
        return set()
    text = body.decode("utf-8", "replace")
    if "json" in kind:
        try:
            return {canonicalize_name(p["name"]) for p in json.loads(text).get("projects", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            return set()
    return {canonicalize_name(name.strip()) for name in _LINK.findall(text)}


def _find_links_projects(links: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for link in links:
        folder = Path(link[len("file://") :] if link.startswith("file://") else link)
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _DIST.match(entry.name)
            if match:
                names.add(canonicalize_name(match.group(1)))
    return names


def _runtime_names() -> set[str]:
    names: set[str] = set()
    for profile in runtime_profile_names():
        try:
            names.update(runtime_packages(profile).packages)
        except Exception:  # a hint only
            logger.debug("no package set for %s", profile, exc_info=True)
    return names


def known_names(index: IndexSettings) -> set[str]:
    """Every project name sparkdeps can see for ``index``."""
    names = _find_links_projects(index.find_links) | _runtime_names()
    if not index.no_index:
        for url in [index.index_url or "https://pypi.org/simple", *index.extra_index_urls]:
            names |= index_projects(url, index.timeout)
    return names


def close_names(
    missing: Sequence[str], index: IndexSettings, *, limit: int = 3
) -> dict[str, list[str]]:
    """For each missing name, up to ``limit`` close names that exist (maybe none)."""
    if not missing:
        return {}
    known = sorted(known_names(index))
    out: dict[str, list[str]] = {}
    for name in missing:
        wanted = canonicalize_name(name)
        candidates = [n for n in known if n != wanted]
        out[wanted] = difflib.get_close_matches(wanted, candidates, n=limit, cutoff=0.75)
    return out
