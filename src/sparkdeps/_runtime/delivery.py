"""Executor delivery: how the wheelhouse reaches every executor.

``wheels`` (the default, classic and Connect): the wheelhouse itself travels, about
1x its bytes per executor, where the installed tree was 3.4x for a typical
wheelhouse. It is hard-linked into the payload folder under a unique name (a
symlink or a copy when a link is impossible: zero bytes on the driver in the
common case) and added as an archive that Spark unpacks; a tiny zip on the
executors' Python path holds :mod:`bootstrap` and one stub per top-level name.
The first import of any of them checks the wheels' sha256, extracts them once
per executor folder and imports the real module (see ``bootstrap``).

Classic (a SparkContext, docs/facts.md, facts 2-3): ``sc.addArchive`` for the
wheelhouse, ``sc.addFile`` for the stub zip, whose name joins the SparkContext's
python includes. Connect (no SparkContext: Spark Connect, Databricks serverless
and standard access mode, fact 4): ``spark.addArtifacts(..., archive=True)`` for
the wheelhouse and ``pyfile=True`` for the stub zip.

``shared`` (opt-in): the wheelhouse is on storage every node mounts (``/Volumes``,
``/dbfs``, NFS); it is installed once next to it and the stub zip points the
executors at that folder: nothing else travels.

``tree`` payloads (the installed folder as a stored zip for classic, one archive
per top-level folder for Connect) were the only kind up to 0.1; they stay for
comparison in ``benchmarks/`` (``_PAYLOAD``).
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import shutil
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._core.errors import DeliveryError, SparkdepsError
from .._core.locking import file_lock
from .._core.private import private_dir
from .._core.progress import plural
from .._core.timing import Timer, timed
from .wheelpayload import PAYLOAD_FIX, archive_name, boot_zip, wheelhouse_payload

__all__ = [
    "Delivered",
    "SessionKind",
    "archive_name",
    "deliver",
    "is_connect",
    "session_key",
    "session_kind",
]

logger = logging.getLogger(__name__)

SessionKind = Literal["classic", "connect"]
PayloadKind = Literal["wheels", "tree"]
_PAYLOAD: PayloadKind = "wheels"
"""What classic and Connect deliveries ship; ``tree`` only for side-by-side benchmarks."""
_SKIPPED_TOP = {"bin", "__pycache__"}
_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, str], str] = {}
"""(session kind, application or session id, digest) -> payload: what was already added."""


@dataclass(frozen=True)
class Delivered:
    kind: SessionKind
    payload: str
    added: bool
    """False when this session already had it (a second ``load``)."""
    seconds: float


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (no usable SparkContext)."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return True
    try:
        context = spark.sparkContext
    except Exception:
        return True
    return context is None


def session_kind(spark: Any) -> SessionKind:
    return "connect" if is_connect(spark) else "classic"


# --------------------------------------------------------------------------- archives


def _zip_tree(
    source: Path, out: Path, *, prefix: str = "", exclude_top: frozenset[str] = frozenset()
) -> None:
    """Zip ``source``'s contents into ``out`` atomically (temporary name, then rename).

    ZIP_STORED: measured faster to build and to unpack than deflate, and the
    archive only travels inside the cluster.
    """
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for root, dirs, files in os.walk(source):
                here = Path(root)
                relative = here.relative_to(source)
                if relative == Path():
                    dirs[:] = sorted(d for d in dirs if d not in exclude_top)
                else:
                    dirs.sort()
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for name in sorted(files):
                    if relative == Path() and name in exclude_top:
                        continue
                    path = here / name
                    arcname = (
                        (Path(prefix) / relative / name).as_posix()
                        if prefix
                        else (relative / name).as_posix()
                    )
                    archive.write(path, arcname)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def classic_payload(folder: Path, digest: str, payload_dir: Path) -> Path:
    """``<payload_dir>/<digest>.zip``: the install folder zipped, made once per digest."""
    out = payload_dir / f"{digest}.zip"
    if out.is_file():
        return out
    payload_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(payload_dir / f".{digest}.lock"):
        if not out.is_file():
            with timed() as timer:
                _zip_tree(folder, out, exclude_top=frozenset({"bin"}))
            logger.info("made executor payload %s in %.2fs", out, timer.seconds)
    return out


def _extension_suffixes() -> tuple[str, ...]:
    return tuple(importlib.machinery.EXTENSION_SUFFIXES)


def connect_payloads(
    folder: Path, digest: str, payload_dir: Path
) -> tuple[list[Path], Path | None]:
    """Archives for ``addArtifacts(archive=True)`` and one pyfile zip of single-file modules.

    Made once per digest under ``<payload_dir>/<digest>.connect/``.
    """
    out_dir = payload_dir / f"{digest}.connect"
    done = out_dir / ".complete"
    if not done.is_file():
        payload_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(payload_dir / f".{digest}.connect.lock"):
            if not done.is_file():
                _make_connect_payloads(folder, out_dir, digest)
                done.write_text(digest, "utf-8")
    archives = sorted((out_dir / "archives").iterdir())
    pyfile = out_dir / "pyfiles" / f"sparkdeps_{digest[:16]}_modules.zip"
    return archives, pyfile if pyfile.is_file() else None


def _make_connect_payloads(folder: Path, out_dir: Path, digest: str) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an interrupted earlier attempt; we hold the lock
    archives = out_dir / "archives"
    pyfiles = out_dir / "pyfiles"
    archives.mkdir(parents=True)
    pyfiles.mkdir()
    suffixes = _extension_suffixes()
    singles: list[Path] = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name in _SKIPPED_TOP or name.startswith("."):
            continue
        if entry.is_dir():
            if "#" in name:
                logger.warning("cannot ship %s to Connect executors: '#' in its name", name)
                continue
            _zip_tree(entry, archives / f"{name}.zip")
        elif name.endswith(".py"):
            singles.append(entry)
        elif name.endswith(suffixes):
            module = name.split(".", 1)[0]
            if (folder / module).exists():
                logger.warning(
                    "cannot ship %s to Connect executors: a folder %s exists too", name, module
                )
                continue
            # A package whose __init__ is the extension: imported as `module`.
            suffix = name[len(module) :]
            target = archives / f"{module}.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
                archive.write(entry, f"__init__{suffix}")
        else:
            logger.debug("not shipping %s to Connect executors (not importable)", name)
    if singles:
        modules = pyfiles / f"sparkdeps_{digest[:16]}_modules.zip"
        with zipfile.ZipFile(modules, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in singles:
                archive.write(path, path.name)


# --------------------------------------------------------------------------- delivery


def _classic_id(spark: Any) -> str:
    return str(spark.sparkContext.applicationId)


def _connect_id(spark: Any) -> str:
    return str(getattr(spark, "session_id", None) or id(spark))


def session_key(spark: Any, kind: SessionKind | None = None) -> str:
    """Identifies a session across loads: the application id, or the Connect session id."""
    chosen = kind or session_kind(spark)
    return f"{chosen}:{_classic_id(spark) if chosen == 'classic' else _connect_id(spark)}"


def deliver(
    spark: Any,
    folder: Path,
    digest: str,
    payload_dir: Path,
    kind: SessionKind,
    *,
    wheelhouse: Path | None = None,
    site: Path | None = None,
    symlink_to: Path | None = None,
) -> Delivered:
    """Make ``folder`` importable on the executors of ``spark``; add nothing twice.

    ``wheelhouse`` is the local ``wheelhouse.zip`` whose install ``folder`` is (the
    ``wheels`` payload ships it); ``site`` is a shared install every node mounts
    (nothing but the stub zip is shipped). Without either, the ``tree`` payload.
    ``symlink_to`` is the published wheelhouse, should a hard link be impossible.
    """
    timer = Timer()
    session_id = _classic_id(spark) if kind == "classic" else _connect_id(spark)
    key = (kind, session_id, digest)
    with _registry_lock:
        if key in _registry:
            logger.info("wheelhouse %s is already delivered to this session", digest[:16])
            return Delivered(kind, _registry[key], False, timer.seconds)
        try:
            if site is not None or (wheelhouse is not None and _PAYLOAD == "wheels"):
                payload = _deliver_wheels(
                    spark,
                    kind,
                    folder,
                    digest,
                    payload_dir=payload_dir,
                    source=(wheelhouse, symlink_to),
                    site=site,
                )
            elif kind == "classic":
                private_dir(payload_dir, fix=PAYLOAD_FIX, what="the payload folder")
                payload = _deliver_classic(spark, folder, digest, payload_dir)
            else:
                private_dir(payload_dir, fix=PAYLOAD_FIX, what="the payload folder")
                payload = _deliver_connect(spark, folder, digest, payload_dir)
        except SparkdepsError:
            raise
        except Exception as exc:
            hint = (
                "a classic session needs a SparkContext; pass delivery='connect' for Spark Connect"
                if kind == "classic"
                else "Spark Connect needs pyspark>=3.5 with addArtifacts; pass delivery='classic' "
                "for a session with a SparkContext"
            )
            raise DeliveryError(
                f"could not ship {folder} to the executors ({kind}): {exc}; {hint}"
            ) from exc
        _registry[key] = payload
    return Delivered(kind, payload, True, timer.seconds)


def _deliver_wheels(
    spark: Any,
    kind: SessionKind,
    folder: Path,
    digest: str,
    *,
    payload_dir: Path,
    source: tuple[Path | None, Path | None],
    site: Path | None,
) -> str:
    """The wheelhouse as an archive plus the stub zip (or the stub zip alone, ``shared``)."""
    stubs = boot_zip(folder, digest, payload_dir, site=site)
    archive = None
    if site is None:
        wheelhouse, symlink_to = source
        assert wheelhouse is not None
        archive = wheelhouse_payload(wheelhouse, digest, payload_dir, symlink_to=symlink_to)
    name = archive_name(digest)
    if kind == "classic":
        context = spark.sparkContext
        if archive is not None:
            context.addArchive(f"{archive}#{name}")  # fact 2: kept until cleanup
        context.addFile(os.fspath(stubs))
        includes = context._python_includes  # fact 3: the list addPyFile itself feeds
        if stubs.name not in includes:
            includes.append(stubs.name)
    else:
        if archive is not None:
            spark.addArtifacts(f"{archive}#{name}", archive=True)  # fact 4
        spark.addArtifacts(os.fspath(stubs), pyfile=True)
    logger.info(
        "executors get %s (%s)",
        f"{archive} and {stubs.name}" if archive is not None else f"{stubs.name}, using {site}",
        kind,
    )
    return os.fspath(archive if archive is not None else stubs)


def _deliver_classic(spark: Any, folder: Path, digest: str, payload_dir: Path) -> str:
    context = spark.sparkContext
    payload = classic_payload(folder, digest, payload_dir)
    name = archive_name(digest)
    # Fact 2: the file must outlive the app (late executors fetch it again): it stays
    # in the node cache or the run folder, removed by cleanup, never here.
    context.addArchive(f"{payload}#{name}")
    includes = context._python_includes  # fact 3: the list addPyFile itself feeds
    if name not in includes:
        includes.append(name)
    logger.info("executors get %s through addArchive as %s", payload, name)
    return os.fspath(payload)


def _deliver_connect(spark: Any, folder: Path, digest: str, payload_dir: Path) -> str:
    archives, pyfile = connect_payloads(folder, digest, payload_dir)
    if archives:
        spark.addArtifacts(
            *(f"{path}#{path.name[: -len('.zip')]}" for path in archives), archive=True
        )
    if pyfile is not None:
        spark.addArtifacts(os.fspath(pyfile), pyfile=True)
    logger.info(
        "executors get %s%s through Spark Connect artifacts",
        plural(len(archives), "archive"),
        " and a module zip" if pyfile else "",
    )
    return os.fspath(archives[0].parent.parent if archives else payload_dir)
