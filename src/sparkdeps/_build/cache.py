"""The build cache: finished wheelhouses keyed by input digest, target and index settings.

A hit skips resolution, downloads and builds entirely. Entries are written to
a temporary name and moved into place with ``os.replace``, so processes that
share the cache never see a partial file and the last writer simply wins
(both wrote the same bytes).

Entries are read-only and a local publish hard-links them (no copy). So that an
in-place edit of a published wheelhouse (which shares the entry's inode, and
which read-only bits do not stop for root) cannot poison later builds, a
sidecar ``<key>.json`` records the entry's sha256, size and mtime when it is
stored; an entry whose size or mtime moved since is dropped and rebuilt. The zip
and its sidecar change together under a lock per key (``.<key>.lock``): two builds
storing at once must not leave one's sidecar beside the other's zip, which the next
lookup would take for an edit and drop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from .._core.locking import file_lock
from .._core.target import Target
from .._version import __version__
from .index import IndexSettings

__all__ = ["BuildCache"]

logger = logging.getLogger(__name__)


class BuildCache:
    """``<root>/build/<key>.zip``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "build"

    @staticmethod
    def key(
        *,
        input_digest: str,
        target: Target,
        index: IndexSettings,
        build_isolation: bool,
        name: str | None,
        extra: str = "",
    ) -> str:
        # the index settings enter only as a hash: credentials never reach the disk in clear
        material = json.dumps(
            {
                "input": input_digest,
                "target": target.key(),
                "index": index.fingerprint(),
                "isolation": build_isolation,
                "name": name,
                "extra": extra,
                "sparkdeps": __version__,
            },
            sort_keys=True,
        )
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.zip"

    def _sidecar(self, key: str) -> dict[str, object]:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _lock(self, key: str) -> Path:
        return self.folder / f".{key}.lock"

    def lookup(self, key: str) -> Path | None:
        if not self.path(key).exists():
            return None  # a miss takes no lock (and makes no folder)
        with file_lock(self._lock(key)):
            return self._checked(key)

    def _checked(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            info = path.stat()
        except OSError:
            return None
        recorded = self._sidecar(key)
        if recorded and (recorded.get("size"), recorded.get("mtime_ns")) != (
            info.st_size,
            info.st_mtime_ns,
        ):
            logger.warning(
                "build cache entry %s changed after it was stored (a published wheelhouse edited "
                "in place?); dropping it and building again",
                path,
            )
            for stale in (path, self.folder / f"{key}.json", self.folder / f"{key}.sha256"):
                stale.unlink(missing_ok=True)
            return None
        return path

    def digest(self, key: str) -> str | None:
        """The stored sha256 of an entry, so a hit does not hash a large wheelhouse again."""
        text = self._sidecar(key).get("sha256")
        if not isinstance(text, str):
            try:
                text = (self.folder / f"{key}.sha256").read_text(encoding="ascii").strip()
            except OSError:
                return None
        return text if len(text) == 64 else None

    def store(self, key: str, wheelhouse: Path, digest: str | None = None) -> Path | None:
        """Link (else copy) ``wheelhouse`` into the cache, read-only; a failure only costs
        the next build time."""
        final = self.path(key)
        temporary = self.folder / f".{key}.{uuid.uuid4().hex}.partial"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if digest is not None:
                # written first: a digest without its zip is ignored, a zip without one is hashed
                sidecar = self.folder / f".{key}.{uuid.uuid4().hex}.sha256.partial"
                sidecar.write_text(digest + "\n", encoding="ascii")
                os.replace(sidecar, self.folder / f"{key}.sha256")
            try:
                os.link(wheelhouse, temporary)  # the build's own file: nothing else writes it
            except OSError:
                shutil.copyfile(wheelhouse, temporary)
            temporary.chmod(0o444)
            with file_lock(self._lock(key)):
                os.replace(temporary, final)
                if digest is not None:
                    self._record(key, final, digest)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            logger.warning("could not store the wheelhouse in the build cache %s: %s", final, exc)
            return None
        logger.debug("stored %s in the build cache", final)
        return final

    def _record(self, key: str, final: Path, digest: str) -> None:
        info = final.stat()
        record = {"sha256": digest, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
        sidecar = self.folder / f".{key}.{uuid.uuid4().hex}.json.partial"
        sidecar.write_text(json.dumps(record), encoding="utf-8")
        os.replace(sidecar, self.folder / f"{key}.json")
