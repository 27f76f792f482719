"""Where packages come from: :class:`IndexSettings`, the same for uv, pip and build's pip.

Credentials may sit in an index URL, so the settings reach messages only through
:meth:`IndexSettings.shown` (redacted) and cache keys only as a hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from .._core.errors import CommandError, ResolutionError
from .._core.runner import redact

__all__ = ["IndexSettings", "index_request", "is_unreachable", "unreachable_error"]

_UNREACHABLE = re.compile(
    r"Connection refused|timed out|error sending request|Failed to establish a new connection|"
    r"Name or service not known|dns error|Read timed out",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from. The same settings go to uv, pip and build's pip."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    timeout: float = 30.0
    """Seconds without an answer from the index before a request fails (pip and uv)."""
    retries: int = 2
    """Retries of a failed request: an index that is down fails in seconds, not minutes."""

    def args(self) -> list[str]:
        """Options understood by both pip and uv."""
        out: list[str] = []
        if self.no_index:
            out.append("--no-index")
        else:
            if self.index_url:
                out += ["--index-url", self.index_url]
            for url in self.extra_index_urls:
                out += ["--extra-index-url", url]
        for link in self.find_links:
            out += ["--find-links", link]
        return out

    def pip_env(self) -> dict[str, str]:
        """The same settings as ``PIP_*`` variables, for pip inside build's isolated env."""
        env = {"PIP_CONFIG_FILE": os.devnull}  # the machine's pip.conf must not leak in
        if self.no_index:
            env["PIP_NO_INDEX"] = "1"
        else:
            if self.index_url:
                env["PIP_INDEX_URL"] = self.index_url
            if self.extra_index_urls:
                env["PIP_EXTRA_INDEX_URL"] = " ".join(self.extra_index_urls)
        if self.find_links:
            env["PIP_FIND_LINKS"] = " ".join(self.find_links)
        env["PIP_TIMEOUT"] = f"{self.timeout:g}"
        env["PIP_RETRIES"] = str(self.retries)
        return env

    def pip_network_args(self) -> list[str]:
        return ["--timeout", f"{self.timeout:g}", "--retries", str(self.retries)]

    def uv_env(self) -> dict[str, str]:
        # uv takes whole seconds; round up so a small timeout never becomes 0 (= no limit)
        return {
            "UV_HTTP_TIMEOUT": str(max(1, math.ceil(self.timeout))),
            "UV_HTTP_RETRIES": str(self.retries),
        }

    def shown(self) -> str:
        """Where packages come from, credentials redacted (for messages)."""
        places = [] if self.no_index else [self.index_url or "https://pypi.org/simple"]
        places += [] if self.no_index else list(self.extra_index_urls)
        places += list(self.find_links)
        return redact(", ".join(places) or "nowhere (no_index and no find_links)")

    def fingerprint(self) -> str:
        """A hash of the settings: usable in cache keys without writing credentials."""
        data = json.dumps(
            [self.index_url, list(self.extra_index_urls), list(self.find_links), self.no_index]
        )
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def merged(self, other: IndexSettings) -> IndexSettings:
        return IndexSettings(
            index_url=self.index_url or other.index_url,
            extra_index_urls=tuple(dict.fromkeys(self.extra_index_urls + other.extra_index_urls)),
            find_links=tuple(dict.fromkeys(self.find_links + other.find_links)),
            no_index=self.no_index or other.no_index,
            timeout=self.timeout,
            retries=self.retries,
        )


def is_unreachable(output: str) -> bool:
    """pip's or uv's output says the index could not be reached (not that a package is absent)."""
    return _UNREACHABLE.search(output) is not None


def unreachable_error(exc: CommandError, index: IndexSettings) -> ResolutionError:
    lines = exc.output.splitlines()
    causes = [line.strip() for line in lines if "cause:" in line or "rror" in line]
    detail = "\n  ".join(causes[-4:]) or exc.output.strip()[-500:]
    return ResolutionError(  # redacted when made: the output may hold the index's password
        f"cannot reach the package index {index.shown()} (each request waits at most "
        f"{index.timeout:g}s, {index.retries} retries):\n  {detail}",
        fix="check the index URL and that the index is up and reachable from this machine; "
        "for a slow index raise index_timeout= / --index-timeout",
    )


def index_request(
    url: str, purpose: str, *, credentials_from: str | None = None
) -> urllib.request.Request:
    """A GET of ``url`` for sparkdeps' own look-ups (a did-you-mean, a size), JSON pages
    preferred (PEP 691). Credentials in ``url`` (or in ``credentials_from``, the index
    the file belongs to) become a Basic header: urllib does not take them from a URL."""
    parts = urlsplit(url)
    headers = {
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        "User-Agent": f"sparkdeps ({purpose})",
    }
    owner = urlsplit(credentials_from) if credentials_from else parts
    if owner.username is not None:
        secret = f"{unquote(owner.username)}:{unquote(owner.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    if parts.username is not None:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return urllib.request.Request(url, headers=headers)
