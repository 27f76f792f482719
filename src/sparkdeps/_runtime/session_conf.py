"""``session_conf()``: settings for a session you create, whose executors unpack the
wheelhouse as they start.

The default delivery ships the wheelhouse at ``load``, once the session exists, and
each executor extracts it in the warm-up or at its first import, on the executors'
cores, after the session exists. The packed-venv recipe the Spark docs give puts its
archive in ``spark.archives`` instead: Spark fetches and unpacks such an archive on
each executor as the executor starts, in the JVM, before its first task
(docs/facts.md, fact 31). A job that builds its own session (``spark-submit``, a
script on open-source Spark, local tests) can have the same: :func:`session_conf`
returns a ``spark.archives`` entry whose archive is the folder a warmed executor ends
with (every wheel extracted, with its metadata and bytecode; the wheels imported in
place as they are). ``load`` on that session ships only the stub zip, and the bootstrap
finds the folder made.

The folder is made once per digest and node, by the bootstrap itself in a fresh
interpreter (what an executor does), and packed into
``<payload_dir>/<digest>.wheels/sparkdeps_<digest16>_session_<bootstrap>.tar.gz``, reused by
later calls of the same sparkdeps. Not for Databricks clusters, whose session exists
before a job's code runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.errors import InputError
from .._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY
from .._core.private import own_file
from .wheelpayload import archive_name

if TYPE_CHECKING:
    from .fetch import Prepared

__all__ = ["ARCHIVES", "session_conf", "unpacked_at_start"]

logger = logging.getLogger(__name__)

ARCHIVES = "spark.archives"
"""Spark's setting for archives every executor fetches and unpacks as it starts."""
_EXTRACT = """\
import importlib, sys
sys.path.insert(0, sys.argv[1])
try:
    print(importlib.import_module(sys.argv[2]).extract_all())
except ImportError as exc:  # the bootstrap's own message names the wheel: it alone
    sys.exit(str(exc))
"""
"""Run in a fresh interpreter: the stub zip's bootstrap extracts everything, as the
warm-up of an executor does, in the folder it runs in."""


def session_conf(
    wheelhouse: str | os.PathLike[str] | None = None,
    *,
    task_key: str = PROCESS_DEPS_TASK_KEY,
    key: str = TASK_VALUE_KEY,
    cache_dir: str | os.PathLike[str] | None = None,
    payload_dir: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """Spark settings that have every executor unpack the wheelhouse as it starts.

    For a classic session you build yourself, before it starts; then ``load`` it as
    usual: it installs on the driver and ships only the stub zip, and the executors'
    first UDF imports from the folder Spark unpacked (docs/delivery.md, "At the
    session's start"). A ``spark.archives`` of your own must list both, comma-separated.
    The wheelhouse is found as ``load`` finds it; the archive is made once per digest
    (seconds: every wheel is extracted and packed again) in the payload folder
    (``payload_dir``, else the node cache's ``payloads/``), which must stay until the
    application ends. Example::

        conf = sparkdeps.session_conf(path)
        spark = SparkSession.builder.config(map=conf).getOrCreate()
        sparkdeps.load(path, spark=spark)
    """
    from .fetch import fetch_wheelhouse  # noqa: PLC0415
    from .install import node_cache_dir  # noqa: PLC0415
    from .locate import locate_wheelhouse, located_pin  # noqa: PLC0415

    uri, expected = located_pin(*locate_wheelhouse(wheelhouse, task_key=task_key, key=key))
    node_cache = node_cache_dir(cache_dir)
    payloads = Path(payload_dir) if payload_dir is not None else node_cache / "payloads"
    with fetch_wheelhouse(uri, node_cache, warm=False, expected=expected) as prepared:
        archive = _session_archive(prepared, payloads)
    logger.info("executors unpack %s as they start", archive)
    return {ARCHIVES: f"{archive.absolute().as_uri()}#{archive_name(prepared.digest)}"}


def unpacked_at_start(context: Any, digest: str) -> bool:
    """Do the executors of ``context`` (a SparkContext) unpack this digest's folder as
    they start (the session was built with :func:`session_conf`)?"""
    try:
        listed = context.getConf().get(ARCHIVES, "") or ""
    except Exception:  # a context that cannot say: ship as usual
        return False
    fragment = f"#{archive_name(digest)}"
    return any(entry.strip().endswith(fragment) for entry in listed.split(","))


def _session_archive(prepared: Prepared, payloads: Path) -> Path:
    """The digest's packed folder in ``payloads``: reused when there (it is renamed into
    place whole), else made under the digest's lock; nothing is left of a failed one."""
    from .holders import payload_lock  # noqa: PLC0415
    from .wheelpayload import StubContents, boot_zip, payload_folder  # noqa: PLC0415

    digest = prepared.digest
    contents = StubContents.of_manifest(prepared.manifest) if prepared.manifest else None
    if contents is None:
        raise InputError(
            f"{prepared.uri}: its manifest names no top-level modules (a wheelhouse built "
            "before sparkdeps recorded them)",
            fix="rebuild it with this version of sparkdeps",
        )
    folder = payload_folder(payloads, digest)  # checked private: executors trust it
    out = folder / f"{archive_name(digest)}_session_{_bootstrap_version()}.tar.gz"
    with payload_lock(payloads, digest):
        # what an earlier call renamed into place whole; executors unpack it as it is,
        # so nothing else is reused (docs/security.md)
        if own_file(out):
            return out
        stubs = boot_zip(folder, digest, payloads, contents=contents)
        work = Path(tempfile.mkdtemp(prefix=".session-", dir=folder))
        try:
            shutil.copyfile(prepared.zip_path, work / f"{archive_name(digest)}.zip")
            shutil.copyfile(stubs, work / stubs.name)
            extracted = _extract_as_executor(work, stubs.name, digest, prepared.uri)
            _pack(extracted, work / "session.tar.gz")
            os.replace(work / "session.tar.gz", out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


def _bootstrap_version() -> str:
    """The archive holds what this bootstrap writes (its state files too), and the stub
    zip ``load`` ships reads it: another sparkdeps makes an archive of its own."""
    from . import bootstrap  # noqa: PLC0415

    return hashlib.sha256(Path(bootstrap.__file__).read_bytes()).hexdigest()[:12]


def _extract_as_executor(work: Path, stubs: str, digest: str, uri: str) -> Path:
    from .._core.errors import DeliveryError  # noqa: PLC0415
    from .._core.runner import run  # noqa: PLC0415
    from .wheelpayload import boot_module  # noqa: PLC0415

    done = run(
        [sys.executable, "-I", "-c", _EXTRACT, os.fspath(work / stubs), boot_module(digest)],
        what=f"checking and extracting {uri} for session_conf",
        cwd=work,
        fix=f"rebuild {uri} if a wheel in it is named as changed (it does not match the "
        f"manifest); else free disk space in {work.parent}",
    )
    lines = done.stdout.strip().splitlines()
    extracted = Path(lines[-1]) if lines else Path()
    if extracted.resolve().parent != work.resolve():
        raise DeliveryError(f"the bootstrap extracted into {extracted}, not into {work}")
    return extracted


def _pack(extracted: Path, out: Path) -> None:
    """``extracted`` as a gzipped tar, which Spark unpacks with the node's own ``tar``
    (a zip through Java took longer on the benchmark's executors: benchmarks/RESULTS.md,
    issue 25, round 10) and with the files' times, which a ``.pyc`` is checked against.
    Neither the wheels whose files are there nor the lock files go in: about the
    wheelhouse's own bytes."""
    state = extracted / ".site.state"
    in_place = set(json.loads((state / "index.json").read_text("utf-8"))["in_place"])
    with tarfile.open(out, "w:gz", compresslevel=6) as archive:
        archive.add(extracted / "wheels", "wheels", recursive=False)  # there, even if empty
        for path in sorted(extracted.rglob("*")):
            relative = path.relative_to(extracted).as_posix()
            if path.is_dir() or path.name.endswith(".lock"):
                continue
            if relative.startswith("wheels/") and path.name not in in_place:
                continue
            archive.add(path, relative, recursive=False)
