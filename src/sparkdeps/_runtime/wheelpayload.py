"""The ``wheels`` payload: the wheelhouse under a unique name, and the stub zip.

Made once per digest under ``<payload_dir>/<digest>.wheels/``::

    sparkdeps_<digest16>.zip          the wheelhouse: a hard link (no bytes), else a
                                      symlink, else a copy (docs/facts.md, fact 2: it
                                      must outlive the application)
    sparkdeps_<digest16>_boot.zip     stubs + bootstrap, a few KB (extract on executors)
    sparkdeps_<digest16>_shared.zip   stubs + bootstrap naming a shared install folder

A hard link shares the inode with the published wheelhouse, so an in-place edit
of it would reach the executors: the bootstrap checks every wheel's sha256 before
extracting and refuses a changed one, naming the fix.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

from . import bootstrap

__all__ = ["archive_name", "boot_zip", "top_level_names", "wheelhouse_payload"]

logger = logging.getLogger(__name__)

_NOT_IMPORTABLE = (".dist-info", ".data", ".libs", ".egg-info")


def archive_name(digest: str) -> str:
    """The folder the wheelhouse is unpacked into on executors: ``sparkdeps_<digest16>``."""
    return f"sparkdeps_{digest[:16]}"


def boot_module(digest: str) -> str:
    return f"{archive_name(digest)}_boot"


def extension_suffixes() -> tuple[str, ...]:
    import importlib.machinery

    return tuple(importlib.machinery.EXTENSION_SUFFIXES)


def _atomic(out: Path, make: Callable[[Path], None]) -> None:
    """Run ``make(temporary)`` then rename the temporary path to ``out``."""
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        make(temporary)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def wheelhouse_payload(
    wheelhouse: Path, digest: str, payload_dir: Path, *, symlink_to: Path | None = None
) -> Path:
    """``<payload_dir>/<digest>.wheels/sparkdeps_<digest16>.zip``: the wheelhouse, linked.

    ``wheelhouse`` may be the ``/proc/self/fd/N`` name of the file ``load`` opened and
    checked: the link is made from the path that file had and kept only if it names
    that very inode. ``symlink_to`` is the published path, for when no hard link can
    be made (None: copy, e.g. a download removed after ``load``).
    """
    out = payload_dir / f"{digest}.wheels" / f"{archive_name(digest)}.zip"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    source = wheelhouse.absolute()

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


def _wheels(folder: Path) -> list[list[str]]:
    """[filename, sha256] of every wheel, from the manifest the install kept."""
    from .._core.manifest import MANIFEST_NAME

    data = json.loads((folder / MANIFEST_NAME).read_text("utf-8"))
    return [[str(wheel["filename"]), str(wheel["sha256"])] for wheel in data["wheels"]]


def boot_zip(folder: Path, digest: str, payload_dir: Path, *, site: Path | None = None) -> Path:
    """The stub zip: the bootstrap module and one stub per top-level name of ``folder``.

    ``site`` (a ``shared`` delivery) names the folder executors import from;
    otherwise they extract the wheelhouse archive.
    """
    kind = "shared" if site is not None else "boot"
    out = payload_dir / f"{digest}.wheels" / f"{archive_name(digest)}_{kind}.zip"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    module = boot_module(digest)
    config = {
        "digest": digest,
        "archive": archive_name(digest),
        "site": os.fspath(site) if site is not None else None,
        "wheels": _wheels(folder) if site is None else [],
    }
    source = bootstrap.render(config)
    stubs = [name for name in top_level_names(folder) if name != module]

    def make(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{module}.py", source)
            for name in stubs:
                archive.writestr(f"{name}.py", bootstrap.stub_source(module))

    _atomic(out, make)
    return out
