"""Where one ``load()`` installs and whom it ships to, decided before anything is read.

The session (given, or the active one) and its kind; the node cache; a shared install
beside the wheelhouse (``delivery="shared"``); the folder the executors' payload is
written to. Every folder that will be written to and that executors trust is checked
private here (docs/security.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

from .._core.databricks import is_databricks
from .._core.errors import DeliveryError, InputError
from .._core.private import private_dir
from .._core.results import Delivery
from .._core.storage import storage_for
from .install import node_cache_dir
from .session_state import SessionKind, session_kind

__all__ = ["LoadPlan", "active_session", "environment_dir", "plan_load"]

_SHARED_FIX = (
    "remove it if it is not yours, or pass payload_dir= a folder every node mounts that "
    "only you can write (docs/security.md)"
)


def active_session() -> Any:
    """The active SparkSession (classic or Connect), or None (also when pyspark is absent)."""
    if "pyspark" not in sys.modules:
        return None  # no session can exist, and importing pyspark costs about a second
    try:
        from pyspark.sql import SparkSession  # noqa: PLC0415
    except ImportError:
        return None
    session = SparkSession.getActiveSession()
    if session is not None:
        return session
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession  # noqa: PLC0415

        return ConnectSession.getActiveSession()
    except Exception:
        return None


class LoadPlan(NamedTuple):
    """Where one ``load`` installs and whom it ships to, decided before anything is read.

    A NamedTuple, not a dataclass: it is built on every load's import path, where
    each dataclass costs most of a millisecond to create."""

    session: Any
    ship: SessionKind | None
    """How executors get it; None: the driver only."""
    kind: Delivery
    node_cache: Path
    """The driver's node cache."""
    install_cache: Path
    """Where the install lives: the node cache, or beside the wheelhouse (shared)."""
    payload_dir: Path | None
    """Where the executors' payload is written (checked private); None: nothing ships."""
    warm_executors: bool = True
    """Start the executors' unpacking at load (classic ``wheels``, :mod:`.warm`)."""


def plan_load(
    uri: str,
    spark: Any,
    delivery: Delivery,
    cache_dir: str | os.PathLike[str] | None,
    payload_dir: str | os.PathLike[str] | None,
) -> LoadPlan:
    """Who gets the wheelhouse and where it goes; every folder that will be written to and
    that executors trust is checked private here, before anything is read or installed."""
    node_cache = node_cache_dir(cache_dir)
    session, ship = _session_and_kind(spark, delivery)
    kind: Delivery = ship or "driver-only"
    if (ship is not None and delivery == "shared") or delivery == "environment":
        kind = delivery
    if delivery == "auto" and kind == "classic" and payload_dir is None:
        from .scale import auto_shares  # noqa: PLC0415

        if auto_shares(uri, session):
            kind = "shared"
    # shared: installed once beside the wheelhouse, for the driver and every executor
    install_cache = node_cache
    if kind == "shared":
        install_cache = _shared_cache(uri, payload_dir)
        private_dir(install_cache, fix=_SHARED_FIX, what="the shared install folder")
    payloads = None
    if ship is not None:
        from .wheelpayload import PAYLOAD_FIX  # noqa: PLC0415

        payloads = _payload_folder(kind, ship, uri, node_cache, payload_dir)
        private_dir(node_cache)  # the stubs' folder may be in it: checked as a whole
        private_dir(payloads, fix=PAYLOAD_FIX, what="the payload folder")
    return LoadPlan(session, ship, kind, node_cache, install_cache, payloads)


def _session_and_kind(spark: Any, delivery: Delivery) -> tuple[Any, SessionKind | None]:
    """The session to ship to and how (None, None: the driver only)."""
    if delivery == "driver-only":
        return None, None
    session = spark if spark is not None else active_session()
    if session is None:
        if delivery in ("classic", "connect", "shared"):
            raise DeliveryError(
                f"delivery={delivery!r} needs a Spark session: "
                "pass spark=... or create one before load()"
            )
        return None, None
    if delivery in ("auto", "shared", "environment"):
        return session, session_kind(session)
    return session, "classic" if delivery == "classic" else "connect"


def _shared_cache(uri: str, payload_dir: str | os.PathLike[str] | None) -> Path:
    """Where ``delivery="shared"`` installs: ``payload_dir``, else ``.sparkdeps/`` beside it."""
    if payload_dir is not None:
        return Path(payload_dir).absolute()
    local = storage_for(uri).local_path(uri)
    if local is None:
        raise InputError(
            f"delivery='shared' needs a wheelhouse on a path every node mounts (/Volumes, "
            f"/dbfs, NFS), not {uri}",
            fix="pass payload_dir= a folder every node sees, or use delivery='auto'",
        )
    folder = local.absolute()
    return (folder if folder.is_dir() else folder.parent) / ".sparkdeps"


def _payload_folder(
    kind: Delivery,
    ship: SessionKind,
    uri: str,
    node_cache: Path,
    given: str | os.PathLike[str] | None,
) -> Path:
    """Where the executors' payload is written (the stubs only, for shared)."""
    if kind == "shared":
        return node_cache / "payloads"
    if given is not None:
        return Path(given)
    if ship == "classic":
        return _default_payload_dir(uri, node_cache)
    return node_cache / "payloads"


def _default_payload_dir(uri: str, node_cache: Path) -> Path:
    """The run folder's ``executors/`` on Databricks storage (lives as long as the run).

    Elsewhere the node cache."""
    if is_databricks():
        local = storage_for(uri).local_path(uri)
        if local is not None and str(local).startswith(("/Volumes/", "/dbfs/")):
            return local.parent / "executors"
    return node_cache / "payloads"


def environment_dir(plan: LoadPlan, uri: str) -> Path:
    """Where the environment route writes its requirements: a folder every node reads
    (the run folder on Databricks storage) unless a payload folder was given."""
    if plan.payload_dir is not None and plan.kind == "environment":
        return plan.payload_dir
    return _default_payload_dir(uri, plan.node_cache)
