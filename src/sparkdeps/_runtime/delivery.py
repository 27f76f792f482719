"""Executor delivery: how the wheelhouse reaches every executor.

``wheels`` (the default, classic and Connect): the wheelhouse itself travels, about
1x its bytes per executor, where the installed tree was 3.4x for a typical
wheelhouse. It is hard-linked into the payload folder under a unique name (a
symlink or a copy when a link is impossible: zero bytes on the driver in the
common case) and shipped; a tiny zip on the executors' Python path holds
:mod:`bootstrap` and one stub per top-level name. The first import of any of them
checks the wheels' sha256, extracts them once per folder (a classic executor's
copies them into its application's folder on the node, shared by the node's executors)
and imports the real module (see ``bootstrap``).

Classic (a SparkContext, docs/facts.md, facts 2-3): ``sc.addFile`` for the
wheelhouse (as a ``file:`` URI: fact 30), whose wheels the bootstrap copies out on
each executor (an http(s) wheelhouse: ``sc.addArchive``, Spark unpacks it), and
``sc.addFile`` for the stub zip, whose name joins the SparkContext's python
includes. Connect (no SparkContext: Spark Connect, Databricks serverless and standard
access mode, fact 4): ``spark.addArtifacts(..., archive=True)`` for the wheelhouse
and ``pyfile=True`` for the stub zip.

``shared`` (opt-in): the wheelhouse is on storage every node mounts (``/Volumes``,
``/dbfs``, NFS); it is installed once next to it and the stub zip points the
executors at that folder: nothing else travels.

The 0.1 ``tree`` payload (the installed folder itself) lives on only as a
baseline in ``benchmarks/tree_payload.py``.
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._core.errors import DeliveryError, SparkdepsError
from .._core.private import on_databricks_mount
from .._core.redaction import redact
from .._core.timing import Timer
from .holders import hold, payload_lock
from .session_conf import unpacked_at_start
from .session_state import STATE, SessionKind, is_connect, session_key, session_kind
from .wheelpayload import StubContents, archive_name, boot_zip, wheelhouse_payload

__all__ = [
    "Delivered",
    "SessionKind",
    "archive_name",
    "deliver",
    "is_connect",
    "payload_files",
    "session_key",
    "session_kind",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    kind: SessionKind
    payload: str
    added: bool
    """False when this session already had it (a second ``load``)."""
    seconds: float


_SHIP_FAILED = {
    "classic": (
        "a classic session needs a SparkContext",
        "pass delivery='connect' for Spark Connect",
    ),
    "connect": (
        "Spark Connect needs pyspark>=3.5 with addArtifacts",
        "pass delivery='classic' for a session with a SparkContext",
    ),
}
"""What a session that cannot take the shipment lacks, and the fix."""


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
    archive_url: str | None = None,
    contents: StubContents | None = None,
) -> Delivered:
    """Make ``folder`` importable on the executors of ``spark``; add nothing twice.

    ``wheelhouse`` is the local ``wheelhouse.zip`` whose install ``folder`` is (the
    ``wheels`` payload ships it); ``site`` is a shared install every node mounts
    (nothing but the stub zip is shipped); one of them is needed.
    ``symlink_to`` is the published wheelhouse, should a hard link be impossible.
    ``archive_url`` (classic only): an http(s) URL of that same wheelhouse the executors
    fetch themselves (a presigned URL): the driver then serves only the stub zip.
    ``contents``: what the stub zip names, from the manifest, so that the executors can
    be served before ``folder`` is installed (load installs on the driver meanwhile).
    """
    timer = Timer()
    key = session_key(spark, kind)
    with STATE.shipping(key):
        with STATE.reading(key) as record:
            added = record.payloads.get(digest) if record is not None else None
        if added is not None:
            logger.info("wheelhouse %s is already delivered to this session", digest[:16])
            return Delivered(kind, added, False, timer.seconds)
        try:
            payload = _deliver_wheels(
                spark,
                kind,
                folder,
                digest,
                payload_dir=payload_dir,
                source=(wheelhouse, symlink_to),
                site=site,
                archive_url=archive_url if kind == "classic" else None,
                contents=contents,
            )
        except SparkdepsError:
            raise
        except Exception as exc:
            hint, fix = _SHIP_FAILED["classic" if kind == "classic" else "connect"]
            raise DeliveryError(
                f"could not ship {folder} to the executors ({kind}): {exc}; {hint}", fix=fix
            ) from exc
        with STATE.changing(key) as record:
            record.payloads[digest] = payload
    return Delivered(kind, payload, True, timer.seconds)


def payload_files(
    folder: Path,
    digest: str,
    payload_dir: Path,
    *,
    source: tuple[Path | None, Path | None],
    site: Path | None,
    contents: StubContents | None = None,
    archive_needed: bool = True,
) -> tuple[Path | None, Path]:
    """(the wheelhouse archive, or None for shared and where the executors have it
    already, the stub zip), held by this process.

    Made under the digest's lock, which cleanup takes too, so that this process is a
    holder (holders.py) before cleanup can see the payload unheld.
    """
    archive = None
    # On Databricks storage the payload lives in the run folder (``executors/``), goes
    # with it, and is never shared by digest: no holder, and no lock on a FUSE mount.
    shared_by_digest = not on_databricks_mount(payload_dir)
    with payload_lock(payload_dir, digest) if shared_by_digest else nullcontext():
        stubs = boot_zip(folder, digest, payload_dir, site=site, contents=contents)
        if site is None and archive_needed:
            wheelhouse, symlink_to = source
            assert wheelhouse is not None
            archive = wheelhouse_payload(wheelhouse, digest, payload_dir, symlink_to=symlink_to)
        if shared_by_digest:
            hold(stubs.parent)
    return archive, stubs


def _deliver_wheels(
    spark: Any,
    kind: SessionKind,
    folder: Path,
    digest: str,
    *,
    payload_dir: Path,
    source: tuple[Path | None, Path | None],
    site: Path | None,
    archive_url: str | None = None,
    contents: StubContents | None = None,
) -> str:
    """The wheelhouse as an archive plus the stub zip (or the stub zip alone, ``shared``).

    With ``archive_url`` Spark's executors fetch the archive from that URL themselves
    (http(s): docs/storage.md): the driver serves only the stub zip."""
    # a session built with session_conf: the executors unpacked it as they started
    at_start = kind == "classic" and site is None and unpacked_at_start(spark.sparkContext, digest)
    archive, stubs = payload_files(
        folder, digest, payload_dir, source=source, site=site, contents=contents,
        archive_needed=not at_start,
    )  # fmt: skip
    name = archive_name(digest)
    if at_start:
        logger.info("executors unpacked %s as they started (session_conf)", name)
    if kind == "classic":
        context = spark.sparkContext
        if archive_url is not None and archive is not None:
            context.addArchive(f"{archive_url}#{name}")  # fact 2: valid as long as the app
            logger.info("executors fetch the wheelhouse from %s", redact(archive_url))
        elif archive is not None:
            # a file, not an archive: the executor copies the wheels out itself, so Spark's
            # unpack leaves each executor's first task (docs/delivery.md, "Shipping")
            # as a file: URI, which Spark takes as it is: a plain path is resolved first, and
            # a payload that is a symlink (no hard link across file systems) would ship
            # under its target's name, which no executor looks for (docs/facts.md, fact 30)
            context.addFile(Path(archive).absolute().as_uri())  # kept until cleanup
        context.addFile(os.fspath(stubs))
        includes = context._python_includes  # fact 3: the list addPyFile itself feeds
        if stubs.name not in includes:
            includes.append(stubs.name)
    else:
        if archive is not None:
            spark.addArtifacts(f"{archive}#{name}", archive=True)  # fact 4
        spark.addArtifacts(os.fspath(stubs), pyfile=True)
    using = f"{archive} and " if archive is not None else ""
    beside = f", using {site}" if site is not None else ""
    logger.info("executors get %s%s%s (%s)", using, stubs.name, beside, kind)
    return os.fspath(archive if archive is not None else stubs)
