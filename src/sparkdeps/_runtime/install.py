"""Driver install: a wheelhouse unpacked into a node-local cache folder keyed by its digest.

Layout under the cache root (``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` ->
``~/.cache/sparkdeps``)::

    node/refs/<sha256(uri)>.json      (path, size, mtime, inode, ctime) -> digest: a warm load
                                      hashes nothing
    node/installs/<digest>/           exists only when complete (renamed from a partial folder)
    node/installs/.<digest>.<uuid>.partial/
    node/locks/<digest>.lock          one flock per digest: one process installs, others wait
    node/locks/<digest>.bytecode.lock held while a shared install compiles (:mod:`.bytecode`)
    node/install.log                  one line per real install (evidence for tests and people)

The node cache's folders are private (``_core/private.py``). Finding the
wheelhouse and its digest is :mod:`.fetch`; every wheel's tags, sha256 and
contents are checked by :mod:`.integrity` *before* anything is written here. Unpacking
is :mod:`.unpack`: wheels are read straight out of ``wheelhouse.zip`` (they are
stored, not compressed, so a slice of the file is a wheel) and extracted in
parallel, streaming, in constant memory.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core.errors import IntegrityError
from .._core.locking import file_lock
from .._core.paths import cache_root, node_cache_dir
from .._core.private import private_dir
from .._core.progress import plural
from .._core.timing import timed
from .fetch import COMPLETE_MARKER, Prepared, installed_marker, write_ref

__all__ = [
    "COMPLETE_MARKER",
    "InstallResult",
    "activate",
    "bytecode_marker",
    "cache_root",
    "install",
    "interpreter_key",
    "node_cache_dir",
    "planned_install",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstallResult:
    folder: Path
    digest: str
    reused: bool
    wheels: tuple[str, ...]
    top_level: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] | None = None
    """The manifest's ``runtime`` section (runtime-aware wheelhouses only)."""
    checked_for: str | None = None
    """The :func:`interpreter_key` whose tag check the install passed."""
    shadows: Mapping[str, tuple[str, str]] | None = None
    """Shipped package -> (the runtime's version it replaces, its own); None: an install
    made before markers kept it (read the manifest)."""
    left_out: tuple[str, ...] = ()
    """Wheels not installed here: their tags do not fit this Connect client (the cluster
    gets them); ``wheels`` are the ones installed."""


def interpreter_key() -> str:
    """Everything that decides which wheel tags this interpreter accepts, as one string.

    Computed without packaging: an install records the key of the interpreter that
    checked it, and a warm load by an interpreter with the same key skips the tag
    check (``packaging.tags`` and the tag list cost ~15 ms, a third of the budget).
    """
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    return "|".join(
        (
            sys.implementation.cache_tag or sys.implementation.name,
            sys.abiflags,
            sysconfig.get_platform(),
            libc,
            str(sys.maxsize > 2**32),
        )
    )


def bytecode_marker(folder: Path) -> Path | None:
    """Written into a shared install once every module is compiled for this interpreter's
    cache tag (:mod:`.bytecode`); None where this interpreter writes no bytecode."""
    tag = sys.implementation.cache_tag
    return None if tag is None else folder / f".sparkdeps-bytecode.{tag}.json"


def _digest_lock(node_cache: Path, digest: str) -> AbstractContextManager[None]:
    return file_lock(
        private_dir(node_cache / "locks") / f"{digest}.lock",
        waiting=f"another process is installing wheelhouse {digest[:16]}; waiting",
    )


def _reused(
    folder: Path, digest: str, timings: dict[str, float], marker: dict[str, Any]
) -> InstallResult:
    return InstallResult(
        folder=folder,
        digest=digest,
        reused=True,
        wheels=tuple(str(name) for name in marker.get("wheels", ())),
        top_level=tuple(marker.get("top_level", ())),
        left_out=tuple(str(name) for name in marker.get("left_out", ())),
        timings=timings,
        target=dict(marker.get("target", {})),
        runtime=marker.get("runtime") if isinstance(marker.get("runtime"), dict) else None,
        checked_for=_text_or_none(marker.get("checked_for")),
        shadows=_marker_shadows(marker.get("shadows")),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _marker_shadows(value: Any) -> dict[str, tuple[str, str]] | None:
    if not isinstance(value, dict):
        return None
    try:
        return {str(name): (str(pair[0]), str(pair[1])) for name, pair in value.items()}
    except (TypeError, IndexError, KeyError):
        return None  # damaged: the manifest kept in the folder still knows


def _remember(node_cache: Path, prepared: Prepared) -> None:
    if prepared.stamp is not None and prepared.manifest is not None:
        write_ref(node_cache, prepared.stamp, prepared.digest)


def _clear_leftovers(installs: Path, digest: str) -> None:
    """Under the digest's lock: whatever is there without a marker was left by a killed load."""
    folder = installs / digest
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():  # no valid marker: not ours to trust
        logger.warning("re-installing %s: its install marker is missing or damaged", folder)
        shutil.rmtree(folder)
    for leftover in installs.glob(f".{digest}.*.partial"):
        logger.info("removing %s, left by an interrupted load", leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)


def _log_install(node_cache: Path, prepared: Prepared) -> None:
    """One line in ``install.log``; never through a link planted in its place."""
    line = f"{time.time():.3f} pid={os.getpid()} installed {prepared.digest} {prepared.uri}\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(node_cache / "install.log", flags, 0o600)
    except OSError as exc:  # a link (ELOOP) or a folder there: the log is evidence, not state
        logger.warning("not writing %s: %s", node_cache / "install.log", exc)
        return
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(line)


def install(
    prepared: Prepared,
    node_cache: Path,
    *,
    leave_out: tuple[str, ...] = (),
    bytecode: bool = False,
) -> InstallResult:
    """Install into ``node_cache/installs/<digest>/`` unless it is already complete there.

    ``leave_out``: wheels this Connect client cannot use, not extracted (client.py).
    ``bytecode``: write the wheelhouse's shipped ``.pyc`` files too (a shared install).

    The caller has run :func:`check_wheels` when ``prepared.manifest`` is set.
    """
    timings = dict(prepared.timings)
    installs = node_cache / "installs"
    folder = installs / prepared.digest
    marker = installed_marker(folder)
    if marker is not None:
        _remember(node_cache, prepared)
        return _reused(folder, prepared.digest, timings, marker)
    if prepared.manifest is None:
        raise IntegrityError(
            f"the install of {prepared.uri} in {folder} was removed or damaged during this load",
            fix="load it again (it will be installed afresh)",
        )
    private_dir(installs)
    with ExitStack() as held:
        with timed(timings, "lock"):
            held.enter_context(_digest_lock(node_cache, prepared.digest))
        marker = installed_marker(folder)
        if marker is not None:  # another process finished while we waited
            _remember(node_cache, prepared)
            return _reused(folder, prepared.digest, timings, marker)
        _clear_leftovers(installs, prepared.digest)
        from .unpack import unpack_into  # noqa: PLC0415

        with timed(timings, "install"):
            size = unpack_into(prepared, installs, folder, leave_out=leave_out, bytecode=bytecode)
        _remember(node_cache, prepared)
        _log_install(node_cache, prepared)
    manifest = prepared.manifest
    logger.info(
        "installed %s (%.1f MB) into %s in %.2fs",
        plural(len(manifest.wheels), "wheel"),
        size / 1e6,
        folder,
        timings["install"],
    )
    return _fresh(prepared, folder, timings, leave_out)


def _fresh(
    prepared: Prepared, folder: Path, timings: dict[str, float], leave_out: tuple[str, ...]
) -> InstallResult:
    """The result of an install just made (from the manifest it was made from)."""
    manifest = prepared.manifest
    assert manifest is not None
    return InstallResult(
        folder=folder,
        digest=prepared.digest,
        reused=False,
        wheels=tuple(w.filename for w in manifest.wheels if w.filename not in leave_out),
        top_level=tuple(manifest.top_level),
        timings=timings,
        target=dict(manifest.target),
        runtime=dict(manifest.runtime) if manifest.runtime is not None else None,
        checked_for=interpreter_key(),
        shadows=manifest.shadowed(),
        left_out=leave_out,
    )


def planned_install(prepared: Prepared, node_cache: Path) -> InstallResult:
    """What :func:`install` of ``prepared`` will return, known from its checked manifest
    before the folder exists: the executors can be served while the driver installs."""
    return _fresh(prepared, node_cache / "installs" / prepared.digest, {}, ())


def activate(folder: Path) -> None:
    """Put ``folder`` first on ``sys.path`` (once) and drop stale import caches."""
    entry = os.fspath(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    _drop_import_caches(entry)


def _drop_import_caches(entry: str) -> None:
    """``importlib.invalidate_caches()`` for a new first ``sys.path`` entry, minus the import
    of ``importlib.metadata`` that Python 3.13's ``PathFinder.invalidate_caches()`` makes
    (with email, zipfile, tempfile: 35-50 ms, a warm load's whole budget) only to clear
    metadata caches, which do not exist before that module is imported."""
    if "importlib.metadata" in sys.modules:
        importlib.invalidate_caches()
        return
    # The one path-entry cache a new entry can make stale is its own (a finder that listed
    # the folder earlier, or None from before it existed); a changed sys.path already makes
    # namespace packages recompute their __path__.
    sys.path_importer_cache.pop(entry, None)
    for finder in sys.meta_path:
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "invalidate_caches"):
            finder.invalidate_caches()
