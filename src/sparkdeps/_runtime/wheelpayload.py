"""The ``wheels`` payload: the wheelhouse under a unique name, and the stub zip.

Made once per digest under ``<payload_dir>/<digest>.wheels/``::

    sparkdeps_<digest16>.zip          the wheelhouse: a hard link (no bytes), else a
                                      symlink, else a copy (docs/facts.md, fact 2: it
                                      must outlive the application)
    sparkdeps_<digest16>_boot.zip     stubs + bootstrap + its JSON configuration, a few
                                      KB (extract on executors)
    sparkdeps_<digest16>_shared.zip   the same, naming a shared install folder

A hard link shares the inode with the published wheelhouse, so an in-place edit
of it would reach the executors: the bootstrap checks every wheel's sha256 before
extracting and refuses a changed one, naming the fix.

What runs on every executor is trusted only if sparkdeps wrote it (docs/security.md):
the payload folder and ``<digest>.wheels/`` must be private folders of this user
(``_core/private.py``); a stub zip already there is reused only when it is, byte for
byte, the zip this load would write (the zips are deterministic), and the wheelhouse
payload only when it is the very file load checked (the same inode, the link load
would make, or a copy whose sha256 is the digest). Anything else is replaced.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import io
import json
import logging
import marshal
import os
import shutil
import stat
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._core.errors import DeliveryError
from .._core.hashing import sha256_file
from .._core.manifest import MANIFEST_NAME, Manifest
from .._core.private import private_dir
from . import bootstrap
from .fetch import COMPLETE_MARKER, installed_marker

__all__ = [
    "PAYLOAD_FIX",
    "StubContents",
    "archive_name",
    "boot_zip",
    "payload_folder",
    "stub_zip_bytes",
    "top_level_names",
    "wheelhouse_payload",
]

logger = logging.getLogger(__name__)

_NOT_IMPORTABLE = (".dist-info", ".data", ".libs", ".egg-info")


def archive_name(digest: str) -> str:
    """The folder the wheelhouse is unpacked into on executors: ``sparkdeps_<digest16>``."""
    return f"sparkdeps_{digest[:16]}"


def boot_module(digest: str) -> str:
    return f"{archive_name(digest)}_boot"


def extension_suffixes() -> tuple[str, ...]:
    return tuple(importlib.machinery.EXTENSION_SUFFIXES)


_EPOCH = (1980, 1, 1, 0, 0, 0)
"""Every stub zip member's timestamp: the same inputs give the same bytes."""
PAYLOAD_FIX = (
    "pass payload_dir= a folder only you can write (chmod 700), or leave it out to use "
    "the node cache"
)


def payload_folder(payload_dir: Path, digest: str) -> Path:
    """``<payload_dir>/<digest>.wheels/``, both private folders of this user (else refused)."""
    private_dir(payload_dir, fix=PAYLOAD_FIX, what="the payload folder")
    return private_dir(payload_dir / f"{digest}.wheels", fix=PAYLOAD_FIX, what="the payload folder")


def _atomic(out: Path, make: Callable[[Path], None]) -> None:
    """Run ``make(temporary)`` then rename the temporary path to ``out``."""
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        make(temporary)
        os.replace(temporary, out)
    except IsADirectoryError as exc:
        temporary.unlink(missing_ok=True)
        raise DeliveryError(
            f"{out} is a folder where sparkdeps writes an executor payload",
            fix=f"remove it, or {PAYLOAD_FIX}",
        ) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _replacing(out: Path, what: str) -> None:
    if os.path.lexists(out):
        logger.warning("replacing %s: it is not the %s this load would ship", out, what)


def wheelhouse_payload(
    wheelhouse: Path, digest: str, payload_dir: Path, *, symlink_to: Path | None = None
) -> Path:
    """``<payload_dir>/<digest>.wheels/sparkdeps_<digest16>.zip``: the wheelhouse, linked.

    ``wheelhouse`` may be the ``/proc/self/fd/N`` name of the file ``load`` opened and
    checked: the link is made from the path that file had and kept only if it names
    that very inode. ``symlink_to`` is the published path, for when no hard link can
    be made (None: copy, e.g. a download removed after ``load``). A payload already
    there is reused only when it is that wheelhouse (:func:`_is_payload_of`).
    """
    out = payload_folder(payload_dir, digest) / f"{archive_name(digest)}.zip"
    source = wheelhouse.absolute()
    if _is_payload_of(out, source, digest, symlink_to):
        return out
    _replacing(out, "wheelhouse")

    def make(temporary: Path) -> None:
        if _hard_link(source, temporary):
            return
        if symlink_to is not None:
            try:
                temporary.symlink_to(symlink_to.absolute())
                return
            except OSError as exc:
                logger.debug("cannot symlink %s (%s); copying it", symlink_to, exc)
        shutil.copyfile(source, temporary)

    _atomic(out, make)
    return out


def _is_payload_of(out: Path, source: Path, digest: str, symlink_to: Path | None) -> bool:
    """Is ``out`` the checked wheelhouse: its inode, the symlink load makes, or a copy of it?"""
    try:
        link = out.lstat()
        wanted = source.stat()
    except OSError:
        return False
    same = (wanted.st_dev, wanted.st_ino)
    if stat.S_ISLNK(link.st_mode):
        if symlink_to is None or out.readlink() != symlink_to.absolute():
            return False
        try:
            got = out.stat()
        except OSError:
            return False
        return (got.st_dev, got.st_ino) == same
    if not stat.S_ISREG(link.st_mode):
        return False
    if (link.st_dev, link.st_ino) == same:
        return True  # a hard link of the very file load opened and checked
    owner = getattr(os, "geteuid", lambda: link.st_uid)()
    return link.st_uid == owner and link.st_size == wanted.st_size and sha256_file(out) == digest


def _hard_link(source: Path, link: Path) -> bool:
    """Hard-link the file ``source`` names (following a /proc/self/fd magic link)."""
    try:
        wanted = source.stat()
        os.link(source.resolve(strict=True), link)
    except OSError as exc:  # another file system, or links refused (FUSE)
        logger.debug("cannot hard-link %s (%s)", source, exc)
        return False
    got = link.stat()
    if (got.st_dev, got.st_ino) != (wanted.st_dev, wanted.st_ino):
        link.unlink()  # the name moved on to another file since load opened it
        return False
    return True


def top_level_names(folder: Path) -> list[str]:
    """Importable top-level names in an install folder: packages and single-file modules."""
    suffixes = extension_suffixes()
    names: set[str] = set()
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(".") or name.endswith(_NOT_IMPORTABLE):
            continue
        if entry.is_dir():
            module = name
        elif name.endswith(".py"):
            module = name[: -len(".py")]
        elif name.endswith(suffixes):
            module = name.split(".", 1)[0]
        else:
            continue
        if module.isidentifier() and module not in ("bin", "__pycache__"):
            names.add(module)
    return sorted(names)


def _left_out_names(folder: Path) -> set[str]:
    """Top-level names of the wheels a Connect client left out of its install (client.py):
    not in ``folder``, yet the executors get them."""
    left_out = set((installed_marker(folder) or {}).get("left_out", ()))
    if not left_out:
        return set()
    data = json.loads((folder / MANIFEST_NAME).read_text("utf-8"))
    return {
        str(name)
        for wheel in data["wheels"]
        if wheel["filename"] in left_out
        for name in wheel.get("top_level", ())
    }


@dataclass(frozen=True)
class StubContents:
    """What a stub zip names: top-level names to stand for, wheels to check and extract."""

    names: tuple[str, ...]
    wheels: tuple[tuple[str, str], ...]
    """(file name, sha256) of every wheel."""
    bytecode: tuple[str, str, str, str] | None = None
    """(member, sha256, magic, cache tag) of the wheelhouse's bytecode, if it has some."""

    @classmethod
    def of_install(cls, folder: Path) -> StubContents:
        """From an install folder (its files and the manifest it kept)."""
        names = set(top_level_names(folder)) | _left_out_names(folder)
        kept = Manifest.from_json((folder / MANIFEST_NAME).read_bytes())
        wheels = tuple(sorted((wheel.filename, wheel.sha256) for wheel in kept.wheels))
        return cls(tuple(sorted(names)), wheels, _bytecode(kept))

    @classmethod
    def of_manifest(cls, manifest: Manifest) -> StubContents | None:
        """From the checked manifest, before anything is installed; None when a wheel
        names no top-level module (a manifest from before sparkdeps recorded them)."""
        if not all(wheel.top_level for wheel in manifest.wheels):
            return None
        wheels = sorted((wheel.filename, wheel.sha256) for wheel in manifest.wheels)
        return cls(tuple(manifest.top_level), tuple(wheels), _bytecode(manifest))


def _bytecode(manifest: Manifest) -> tuple[str, str, str, str] | None:
    shipped = manifest.bytecode
    if shipped is None:
        return None
    return (shipped.member, shipped.sha256, shipped.magic, shipped.cache_tag)


def _bootstrap_source() -> str:
    return Path(bootstrap.__file__).read_text("utf-8")


_CHECKED_HASH_PYC = 0b11
"""PEP 552 flags: the .pyc names its source's hash, which the importer checks."""


@functools.cache
def bootstrap_bytecode(module: str) -> bytes:
    """``bootstrap.py`` compiled by this interpreter, as a checked hash-based ``.pyc``.

    Every fresh Python worker imports the bootstrap; from source that took 17 ms of each
    worker's first import, 2 ms with this (benchmarks/RESULTS.md, issue 25, round 11). zipimport
    takes the ``.pyc`` only when its magic number is the worker's and the hash matches
    the source beside it, and compiles that source otherwise (an executor on another
    Python). Hash-based, not timestamped: the zip's members carry a fixed time, and the
    bytes stay the same for the same source (the stub zip is deterministic)."""
    source = _bootstrap_source().encode("utf-8")  # the very bytes the zip holds
    code = compile(source, f"{module}.py", "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH_PYC.to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def stub_zip_bytes(
    folder: Path,
    digest: str,
    *,
    site: Path | None = None,
    contents: StubContents | None = None,
) -> bytes:
    """The stub zip for ``folder`` (or ``contents``), the same bytes for the same install
    (fixed timestamps)."""
    module = boot_module(digest)
    contents = contents or StubContents.of_install(folder)
    config = {
        "digest": digest,
        "archive": archive_name(digest),
        "site": os.fspath(site) if site is not None else None,
        "site_marker": COMPLETE_MARKER if site is not None else None,
        "wheels": [list(wheel) for wheel in contents.wheels] if site is None else [],
        "bytecode": list(contents.bytecode) if contents.bytecode and site is None else None,
    }
    members: list[tuple[str, str | bytes]] = [
        (f"{module}.py", _bootstrap_source()),  # as it is, unchanged
        (f"{module}.pyc", bootstrap_bytecode(module)),
        (bootstrap.config_name(module), json.dumps(config, sort_keys=True, indent=1) + "\n"),
    ]
    names = set(contents.names)
    members += [
        (f"{name}.py", bootstrap.stub_source(module)) for name in sorted(names) if name != module
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def _holds(out: Path, data: bytes) -> bool:
    """Is ``out`` a regular file of ours (not a link) holding exactly ``data``?"""
    try:
        fd = os.open(out, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        owner = getattr(os, "geteuid", lambda: info.st_uid)()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner or info.st_size != len(data):
            return False
        return handle.read(len(data) + 1) == data


def boot_zip(
    folder: Path,
    digest: str,
    payload_dir: Path,
    *,
    site: Path | None = None,
    contents: StubContents | None = None,
) -> Path:
    """The stub zip: the bootstrap module and one stub per top-level name of ``folder``.

    ``site`` (a ``shared`` delivery) names the folder executors import from;
    otherwise they extract the wheelhouse archive. A zip already there is reused
    only when it holds these very bytes; anything else is replaced.
    """
    kind = "shared" if site is not None else "boot"
    out = payload_folder(payload_dir, digest) / f"{archive_name(digest)}_{kind}.zip"
    data = stub_zip_bytes(folder, digest, site=site, contents=contents)
    if _holds(out, data):
        return out
    _replacing(out, "stub zip")

    def make(temporary: Path) -> None:
        temporary.write_bytes(data)

    _atomic(out, make)
    return out
