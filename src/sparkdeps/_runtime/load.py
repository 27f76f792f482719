"""``load()``: find the wheelhouse, check it, install it on the driver, ship it to executors."""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .._core.databricks import get_task_value, is_databricks
from .._core.errors import DeliveryError, InputError, WheelhouseNotFoundError
from .._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY
from .._core.results import Delivery, LoadResult
from .._core.storage import storage_for
from .delivery import deliver, session_key, session_kind
from .install import (
    InstallResult,
    Prepared,
    activate,
    check_tags,
    check_wheels,
    install,
    node_dir,
    pip_install,
    prepare,
)

__all__ = [
    "active_session",
    "load",
    "loaded",
    "modules_for",
    "resolve_wheelhouse",
    "wheelhouse_arg",
]

logger = logging.getLogger(__name__)

ENV_WHEELHOUSE = "SPARKDEPS_WHEELHOUSE"
_DELIVERIES = ("auto", "classic", "connect", "shared", "driver-only")
_loaded_lock = threading.Lock()
_loaded: list[LoadResult] = []
_session_modules: dict[str, set[str]] = {}


def modules_for(spark: Any) -> tuple[str, ...]:
    """Top-level names of every wheelhouse delivered to ``spark`` (``verify``'s default)."""
    with _loaded_lock:
        return tuple(sorted(_session_modules.get(session_key(spark), ())))


def loaded() -> tuple[LoadResult, ...]:
    """Every wheelhouse loaded in this process, oldest first (``verify`` uses their names)."""
    with _loaded_lock:
        return tuple(_loaded)


def _unresolved(value: str) -> bool:
    # A Databricks dynamic reference that did not resolve is passed through verbatim.
    return value.startswith("{{") and value.endswith("}}")


def wheelhouse_arg(argv: Sequence[str] | None = None, *, flag: str = "--wheelhouse") -> str | None:
    """The value of ``--wheelhouse X`` / ``--wheelhouse=X`` in ``argv`` (default ``sys.argv``).

    The one line a job script needs when the path comes as a task parameter
    (``["--wheelhouse", "{{tasks.process_deps.values.wheelhouse_path}}"]``)::

        sparkdeps.load(sparkdeps.wheelhouse_arg(), spark=spark)

    None when absent, so ``load`` goes on to the environment and the task value.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(args):
        value: str | None = None
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
        if value is not None:
            if _unresolved(value) or not value.strip():
                logger.warning(
                    "%s %r is not a path (an unresolved reference?); ignoring it", flag, value
                )
                return None
            return value.strip()
    return None


def resolve_wheelhouse(
    wheelhouse: str | os.PathLike[str] | None,
    *,
    task_key: str = PROCESS_DEPS_TASK_KEY,
    key: str = TASK_VALUE_KEY,
) -> tuple[str, str]:
    """(uri, where it came from): the argument, ``SPARKDEPS_WHEELHOUSE``, then the task value."""
    tried: list[str] = []
    if wheelhouse is not None and os.fspath(wheelhouse).strip():
        return os.fspath(wheelhouse).strip(), "argument"
    tried.append("the wheelhouse argument (None)")
    env_value = os.environ.get(ENV_WHEELHOUSE, "").strip()
    if env_value and not _unresolved(env_value):
        return env_value, f"${ENV_WHEELHOUSE}"
    tried.append(f"${ENV_WHEELHOUSE} ({'unset' if not env_value else repr(env_value)})")
    value = get_task_value(task_key, key)
    if value:
        return value, f"task value {task_key}.{key}"
    tried.append(
        f"the Databricks task value {task_key}.{key} "
        f"({'not set' if is_databricks() else 'no dbutils here'})"
    )
    raise WheelhouseNotFoundError(
        "no wheelhouse to load; tried " + "; ".join(tried) + ". Pass the path "
        "(load('/Volumes/.../wheelhouse.zip')), set SPARKDEPS_WHEELHOUSE, pass it as a "
        "task parameter read with wheelhouse_arg(), or run after a build task whose key is "
        f"{task_key!r}"
    )


def active_session() -> Any:
    """The active SparkSession (classic or Connect), or None (also when pyspark is absent)."""
    if "pyspark" not in sys.modules:
        return None  # no session can exist, and importing pyspark costs about a second
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    session = SparkSession.getActiveSession()
    if session is not None:
        return session
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.getActiveSession()
    except Exception:
        return None


def _default_payload_dir(uri: str, node: Path) -> Path:
    """The run folder's ``executors/`` on Databricks storage (lives as long as the run).

    Elsewhere the node cache."""
    if is_databricks():
        local = storage_for(uri).local_path(uri)
        if local is not None and str(local).startswith(("/Volumes/", "/dbfs/")):
            return local.parent / "executors"
    return node / "payloads"


def load(
    wheelhouse: str | os.PathLike[str] | None = None,
    *,
    spark: Any = None,
    task_key: str = PROCESS_DEPS_TASK_KEY,
    key: str = TASK_VALUE_KEY,
    mode: Literal["cache", "pip"] = "cache",
    delivery: Delivery = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    payload_dir: str | os.PathLike[str] | None = None,
) -> LoadResult:
    """Install a wheelhouse on the driver and ship it to every executor.

    The path comes from ``wheelhouse``, else ``SPARKDEPS_WHEELHOUSE``, else the
    Databricks task value ``task_key``/``key``. Every wheel's tags and sha256
    are checked before anything is installed. The driver install lives in a
    node cache keyed by the wheelhouse digest (``cache_dir`` ->
    ``SPARKDEPS_CACHE_DIR`` -> ``~/.cache/sparkdeps``) and is put first on
    ``sys.path``; ``mode="pip"`` pip-installs into this environment instead.
    ``delivery="auto"`` ships through ``addArchive`` on a classic session and
    through artifacts on Spark Connect; with no session (none given, none
    active) only the driver gets the packages.
    """
    if mode not in ("cache", "pip"):
        raise InputError(f"mode must be 'cache' or 'pip', got {mode!r}")
    if delivery not in _DELIVERIES:
        raise InputError(f"delivery must be one of {', '.join(_DELIVERIES)}, got {delivery!r}")
    started = time.perf_counter()
    uri, source = resolve_wheelhouse(wheelhouse, task_key=task_key, key=key)
    logger.info("loading wheelhouse %s (from %s)", uri, source)
    node = node_dir(cache_dir)

    session = (
        None if delivery == "driver-only" else (spark if spark is not None else active_session())
    )
    if session is None and delivery in ("classic", "connect", "shared"):
        raise DeliveryError(
            f"delivery={delivery!r} needs a Spark session: "
            "pass spark=... or create one before load()"
        )
    kind: Delivery
    if session is None:
        kind = "driver-only"
    elif delivery == "auto":
        kind = session_kind(session)
    else:
        kind = delivery

    install_node = _shared_node(uri, payload_dir) if kind == "shared" else node
    prepared = prepare(uri, install_node)
    try:
        result_folder, installed, timings = _driver_install(prepared, install_node, mode, kind)
        payload: str | None = None
        if session is not None and installed is not None and kind != "driver-only":
            payload = _ship(
                session,
                kind,
                uri,
                node=node,
                payload_dir=payload_dir,
                prepared=prepared,
                installed=installed,
                timings=timings,
            )
    finally:
        prepared.discard()
    if session is None or installed is None or kind == "driver-only":
        why = "delivery='driver-only'" if delivery == "driver-only" else "no Spark session"
        logger.info(
            "%s: wheelhouse %s installed for the driver only "
            "(pass spark=... or create a session first to ship it to executors)",
            why,
            uri,
        )
    timings["total"] = time.perf_counter() - started

    manifest = prepared.manifest
    wheels = (
        installed.wheels
        if installed is not None
        else tuple(w.filename for w in manifest.wheels)
        if manifest
        else ()
    )
    top_level = (
        installed.top_level if installed is not None else manifest.top_level if manifest else ()
    )
    result = LoadResult(
        uri=uri,
        digest=prepared.digest,
        wheels=tuple(wheels),
        folder=result_folder,
        delivery=kind,
        top_level=tuple(top_level),
        reused=installed.reused if installed is not None else False,
        payload=payload,
        mode=mode,
        timings=timings,
    )
    with _loaded_lock:
        _loaded.append(result)
    logger.info(
        "loaded %d wheels from %s in %.3fs (%s, delivery %s)",
        len(result.wheels),
        uri,
        timings["total"],
        "reused" if result.reused else "installed",
        kind,
    )
    return result


def _shared_node(uri: str, payload_dir: str | os.PathLike[str] | None) -> Path:
    """Where ``delivery="shared"`` installs: ``payload_dir``, else ``.sparkdeps/`` beside it."""
    if payload_dir is not None:
        return Path(payload_dir).absolute()
    local = storage_for(uri).local_path(uri)
    if local is None:
        raise InputError(
            f"delivery='shared' needs a wheelhouse on a path every node mounts (/Volumes, "
            f"/dbfs, NFS), not {uri}; pass payload_dir= a folder every node sees, or use "
            "delivery='auto'"
        )
    return local.absolute().parent / ".sparkdeps"


def _ship(
    session: Any,
    kind: Delivery,
    uri: str,
    *,
    node: Path,
    payload_dir: str | os.PathLike[str] | None,
    prepared: Prepared,
    installed: InstallResult,
    timings: dict[str, float],
) -> str:
    """Deliver to the session's executors; remember the names ``verify`` checks."""
    mechanism = session_kind(session) if kind == "shared" else kind
    assert mechanism in ("classic", "connect")
    chosen = (
        node / "payloads"
        if kind == "shared" or (payload_dir is None and mechanism == "connect")
        else Path(payload_dir)
        if payload_dir is not None
        else _default_payload_dir(uri, node)
    )
    delivered = deliver(
        session,
        installed.folder,
        installed.digest,
        chosen,
        mechanism,
        wheelhouse=prepared.zip_path,
        site=installed.folder if kind == "shared" else None,
        symlink=prepared.temporary is None,
    )
    timings["deliver"] = delivered.seconds
    with _loaded_lock:
        _session_modules.setdefault(session_key(session, mechanism), set()).update(
            installed.top_level
        )
    return delivered.payload


def _driver_install(
    prepared: Prepared, node: Path, mode: Literal["cache", "pip"], kind: Delivery
) -> tuple[Path, InstallResult | None, dict[str, float]]:
    """Check, then install into the node cache and/or with pip; activate the cache folder."""
    timings = dict(prepared.timings)
    if prepared.manifest is not None:
        check_started = time.perf_counter()
        check_wheels(prepared)
        timings["check"] = time.perf_counter() - check_started

    result_folder: Path
    installed: InstallResult | None = None
    if mode == "cache" or kind != "driver-only":
        # The cache folder is the driver's install (mode="cache") and what executors get.
        installed = install(prepared, node)
        timings.update(
            {name: value for name, value in installed.timings.items() if name not in timings}
        )
        if installed.reused:
            check_tags(prepared.uri, installed.wheels, installed.target)
    if mode == "pip":
        pip_started = time.perf_counter()
        pip_install(_with_manifest(prepared))
        timings["pip"] = time.perf_counter() - pip_started
        result_folder = Path(sysconfig.get_paths()["purelib"])
        import importlib

        importlib.invalidate_caches()
    else:
        assert installed is not None
        activate(installed.folder)
        _warn_shadowed(installed.top_level, installed.folder)
        result_folder = installed.folder
    return result_folder, installed, timings


def _warn_shadowed(names: Sequence[str], folder: Path) -> None:
    """A module imported before load() keeps its old version: say so, with the fix."""
    prefix = os.fspath(folder) + os.sep
    for name in names:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) if module is not None else None
        if where and not os.fspath(where).startswith(prefix):
            logger.warning(
                "%s was imported before load() (from %s); this process keeps that copy. "
                "Call sparkdeps.load() before importing it.",
                name,
                where,
            )


def _with_manifest(prepared: Prepared) -> Prepared:
    """pip needs the wheels, so a warm ``prepared`` (digest only) gets its manifest read."""
    if prepared.manifest is not None:
        return prepared
    from .._core.wheelhouse import open_wheelhouse

    manifest = open_wheelhouse(prepared.zip_path, origin=prepared.uri).manifest
    full = Prepared(
        prepared.uri, prepared.zip_path, prepared.digest, manifest, None, prepared.timings
    )
    check_wheels(full)
    return full
