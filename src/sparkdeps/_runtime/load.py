"""``load()``: find the wheelhouse, check it, install it on the driver, ship it to executors."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import sys
import sysconfig
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .._core.databricks import get_task_value, is_databricks, is_unresolved_reference
from .._core.errors import DeliveryError, InputError, WheelhouseNotFoundError
from .._core.hashing import DIGEST
from .._core.paths import PIN_FRAGMENT, PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY, split_pin
from .._core.private import private_dir
from .._core.progress import plural
from .._core.redaction import redact
from .._core.results import Delivery, LoadResult
from .._core.storage import storage_for
from .._core.timing import timed
from .fetch import Prepared, fetch_wheelhouse, installed_marker
from .install import (
    InstallResult,
    activate,
    install,
    interpreter_key,
    node_cache_dir,
    planned_install,
)
from .preloaded import explain_preloaded
from .runtime_check import check_runtime

if TYPE_CHECKING:
    from .._core.manifest import Manifest
    from .delivery import SessionKind
    from .routes import Shipped
    from .session_env import Package

# Shipping to executors (delivery, session_env), pip mode and the full wheel checks
# are imported where they are used: a warm load for the driver needs none of them
# (docs/architecture.md, "Imports inside functions").

__all__ = [
    "active_session",
    "load",
    "locate_wheelhouse",
    "modules_for",
    "wheelhouse_arg",
]

logger = logging.getLogger(__name__)

ENV_WHEELHOUSE = "SPARKDEPS_WHEELHOUSE"
_DELIVERIES = ("auto", "classic", "connect", "shared", "environment", "driver-only")
_SHARED_FIX = (
    "remove it if it is not yours, or pass payload_dir= a folder every node mounts that "
    "only you can write (docs/security.md)"
)
_modules_lock = threading.Lock()
_session_modules: dict[str, set[str]] = {}
_session_runtime: dict[str, set[str]] = {}


def runtime_packages_for(spark: Any) -> tuple[str, ...]:
    """Runtime packages the wheelhouses delivered to ``spark`` rely on (``verify`` reports them)."""
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)

    with _modules_lock:
        return tuple(sorted(_session_runtime.get(session_key(spark), ())))


def modules_for(spark: Any) -> tuple[str, ...]:
    """Top-level names of every wheelhouse delivered to ``spark`` (``verify``'s default)."""
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)

    with _modules_lock:
        return tuple(sorted(_session_modules.get(session_key(spark), ())))


def loaded_into(spark: Any) -> bool:
    """True once a wheelhouse was loaded into ``spark`` (an empty one included)."""
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)

    with _modules_lock:
        return session_key(spark) in _session_modules


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
            if is_unresolved_reference(value) or not value.strip():
                logger.warning(
                    "%s %r is not a path (an unresolved reference?); ignoring it", flag, value
                )
                return None
            return value.strip()
    return None


def locate_wheelhouse(
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
    if env_value and not is_unresolved_reference(env_value):
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
    # so pyspark is imported here, only when a program has loaded it already
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


def _default_payload_dir(uri: str, node_cache: Path) -> Path:
    """The run folder's ``executors/`` on Databricks storage (lives as long as the run).

    Elsewhere the node cache."""
    if is_databricks():
        local = storage_for(uri).local_path(uri)
        if local is not None and str(local).startswith(("/Volumes/", "/dbfs/")):
            return local.parent / "executors"
    return node_cache / "payloads"


class _Plan(NamedTuple):
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
    """Start the executors' extraction at load (classic ``wheels``, :mod:`.warm`)."""


def _plan(
    uri: str,
    spark: Any,
    delivery: Delivery,
    cache_dir: str | os.PathLike[str] | None,
    payload_dir: str | os.PathLike[str] | None,
) -> _Plan:
    """Who gets the wheelhouse and where it goes; every folder that will be written to and
    that executors trust is checked private here, before anything is read or installed."""
    node_cache = node_cache_dir(cache_dir)
    session, ship = _session_and_kind(spark, delivery)
    kind: Delivery = ship or "driver-only"
    if (ship is not None and delivery == "shared") or delivery == "environment":
        kind = delivery
    # shared: installed once beside the wheelhouse, for the driver and every executor
    install_cache = node_cache
    if kind == "shared":
        install_cache = _shared_cache(uri, payload_dir)
        private_dir(install_cache, fix=_SHARED_FIX, what="the shared install folder")
    payloads = None
    if ship is not None:
        from .wheelpayload import PAYLOAD_FIX  # noqa: PLC0415 (see the note on imports)

        payloads = _payload_dir(kind, ship, uri, node_cache, payload_dir)
        private_dir(node_cache)  # the stubs' folder may be in it: checked as a whole
        private_dir(payloads, fix=PAYLOAD_FIX, what="the payload folder")
    return _Plan(session, ship, kind, node_cache, install_cache, payloads)


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
    replace: bool = False,
    strict: bool | None = None,
    probe: bool | None = None,
    warm_executors: bool = True,
) -> LoadResult:
    """Install a wheelhouse on the driver and ship it to every executor.

    The path comes from ``wheelhouse``, else ``SPARKDEPS_WHEELHOUSE``, else the
    Databricks task value ``task_key``/``key``. Every wheel's tags and sha256 are
    checked before anything is installed. The driver install lives in a node cache
    keyed by the wheelhouse digest (``cache_dir`` -> ``SPARKDEPS_CACHE_DIR`` ->
    ``~/.cache/sparkdeps``), first on ``sys.path``; ``mode="pip"`` pip-installs into
    this environment instead. ``delivery="auto"`` ships through ``addArchive`` on a
    classic session and through artifacts on Spark Connect; with no session only the
    driver gets the packages. ``delivery="shared"`` installs once beside a wheelhouse
    on storage every node mounts (``/Volumes``, ``/dbfs``, NFS; or ``payload_dir``).

    A runtime-aware wheelhouse is checked against this Python first
    (docs/runtime-aware.md): a relied-on package at another version warns, a
    protected or missing one raises :class:`RuntimeMismatchError`;
    ``strict=True`` makes every difference an error, ``strict=False`` a warning.

    Without a SparkContext a probe job proves the executors import it, or a
    :class:`DeliveryError` names the route that fits (docs/delivery.md; ``probe=True``
    probes classic too, ``probe=False`` never). ``delivery="environment"`` goes through
    the notebook's ``%pip``, which ``auto`` takes where workers cannot see artifacts.

    One environment per session: a second wheelhouse loaded into the same session
    is merged when its packages agree with what the session has, and refused
    (:class:`SessionConflictError`, naming the packages) when it changes a version.
    ``replace=True`` lets the new versions win, only on a classic session created with
    ``spark.python.worker.reuse=false``. Example: ``sparkdeps.load(result.uri, spark=spark)``.

    On a classic session a fresh load serves the executors while the driver installs,
    and starts a background job that unpacks the wheelhouse on every live executor, so
    that the first UDF finds them ready (``warm_executors=False``: each executor unpacks
    at its first import instead; docs/delivery.md).
    """
    _check_options(mode, delivery)
    timings: dict[str, float] = {}
    with timed(timings, "total"):
        uri, expected = _split_pin(*locate_wheelhouse(wheelhouse, task_key=task_key, key=key))
        plan = _plan(uri, spark, delivery, cache_dir, payload_dir)
        if not warm_executors:
            plan = plan._replace(warm_executors=False)
        warm = mode == "cache"  # pip needs every wheel: no warm path that reads no manifest
        with fetch_wheelhouse(uri, plan.install_cache, warm=warm, expected=expected) as prepared:
            result = _deliver(
                plan, prepared, (delivery, probe), mode, strict=strict, replace=replace,
                timings=timings, source=uri,
            )  # fmt: skip
    _log_loaded(result, plan, delivery, timings)
    return result


def _deliver(
    plan: _Plan,
    prepared: Prepared,
    asked: tuple[Delivery, bool | None],
    mode: Literal["cache", "pip"],
    *,
    strict: bool | None,
    replace: bool,
    timings: dict[str, float],
    source: str,
) -> LoadResult:
    """Nothing where the environment has every wheel already; else install, then ship."""
    packages = _check_session(plan, prepared, replace=replace)
    result = _provided(plan, prepared, packages, asked, mode, strict=strict, timings=timings)
    if result is not None:
        return result
    if _ships_first(plan, prepared, mode):
        return _deliver_overlapped(
            plan, prepared, packages, asked, strict=strict, timings=timings, source=source
        )
    folder, installed = _driver_install(
        prepared, plan.install_cache, mode, plan.kind, timings, strict=strict,
        client=plan.ship == "connect",
    )  # fmt: skip
    shipped = _ship(plan, prepared, installed, packages, timings, asked=asked, source=source)
    return _result(prepared, installed, folder, plan, shipped, mode=mode, timings=timings)


def _ships_first(plan: _Plan, prepared: Prepared, mode: str) -> bool:
    """A fresh classic ``wheels`` load: the executors need only the checked manifest, so
    they are served (and start extracting) while the driver installs (issue 25)."""
    manifest = prepared.manifest
    return (
        mode == "cache"
        and plan.kind == "classic"
        and plan.ship == "classic"
        and manifest is not None
        and bool(manifest.wheels)
        and all(wheel.top_level for wheel in manifest.wheels)
        and installed_marker(plan.install_cache / "installs" / prepared.digest) is None
    )


def _deliver_overlapped(
    plan: _Plan,
    prepared: Prepared,
    packages: Mapping[str, Package],
    asked: tuple[Delivery, bool | None],
    *,
    strict: bool | None,
    timings: dict[str, float],
    source: str,
) -> LoadResult:
    """Check, then ship and install at once: the install on a helper thread."""
    timings.update(prepared.timings)
    from .checks import check_wheels  # noqa: PLC0415 (see the note on imports)

    with timed(timings, "check"):
        check_wheels(prepared)
        runtime = prepared.manifest.runtime if prepared.manifest is not None else None
        check_runtime(runtime, strict=strict, fresh=True)
    outcome: list[InstallResult | BaseException] = []

    def run_install() -> None:
        try:
            outcome.append(install(prepared, plan.install_cache))
        except BaseException as exc:  # re-raised on the calling thread
            outcome.append(exc)

    worker = threading.Thread(target=run_install, name="sparkdeps-install")
    worker.start()
    try:
        planned = planned_install(prepared, plan.install_cache)
        shipped = _ship(plan, prepared, planned, packages, timings, asked=asked, source=source)
    finally:
        worker.join()
    installed = outcome[0]
    if isinstance(installed, BaseException):
        raise installed
    timings.update({k: v for k, v in installed.timings.items() if k not in timings})
    activate(installed.folder)
    explain_preloaded(installed.top_level, installed.folder)
    folder = installed.folder
    return _result(prepared, installed, folder, plan, shipped, mode="cache", timings=timings)


def _provided(
    plan: _Plan,
    prepared: Prepared,
    packages: Mapping[str, Package],
    asked: tuple[Delivery, bool | None],
    mode: Literal["cache", "pip"],
    *,
    strict: bool | None,
    timings: dict[str, float],
) -> LoadResult | None:
    """``auto`` where this interpreter's environment already has every wheel at its exact
    version (docs/delivery.md, "Already in the environment"): nothing installed or shipped,
    the workers proven to import from their own environment where ``load`` probes.

    None: install and ship as usual (a wheel missing or at another version, another
    ``delivery``, or workers that do not have it, as a Connect client's cluster may not)."""
    # No manifest read means a warm load: this digest is installed in the node cache
    # already (an earlier load found it not provided), and a warm load imports nothing
    # more (docs/architecture.md, "What a warm load imports").
    # Without a session there is nothing to ship, and a driver-only load keeps its light
    # imports (importlib.metadata): it installs as before.
    manifest = prepared.manifest
    if asked[0] != "auto" or plan.ship is None or manifest is None or not manifest.wheels:
        return None
    from .provided import environment_has  # noqa: PLC0415 (see the note on imports)

    with timed(timings, "environment"):
        if not environment_has(manifest.wheels):
            return None
    check_runtime(manifest.runtime, strict=strict)
    if plan.ship is not None:
        from .routes import prove_provided  # noqa: PLC0415 (see the note on imports)

        trusted, probed = prove_provided(
            plan.session, plan.ship, prepared.digest, manifest.top_level, probe=asked[1]
        )
        if probed is not None:
            timings["probe"] = probed.seconds
        if not trusted and probed is None:
            return None  # classic without probe=True: ship as usual (routes.prove_provided)
        if not trusted:
            logger.warning(
                "this environment has every wheel of %s at its version, but the executors' "
                "workers do not import them from theirs; shipping the wheelhouse:\n%s",
                prepared.uri,
                probed.describe() if probed is not None else "",
            )
            return None
        _record_provided(plan, manifest, packages, prepared.uri)
    logger.info(
        "the environment already has all %s at the wheelhouse's versions: nothing shipped",
        plural(len(manifest.wheels), "package"),
    )
    return LoadResult(
        uri=prepared.uri, digest=prepared.digest,
        wheels=tuple(sorted(wheel.filename for wheel in manifest.wheels)),
        folder=Path(sysconfig.get_paths()["purelib"]), delivery="provided",
        top_level=tuple(manifest.top_level), reused=True, mode=mode, timings=timings,
        shadows=manifest.shadowed(),
    )  # fmt: skip


def _record_provided(
    plan: _Plan, manifest: Manifest, packages: Mapping[str, Package], uri: str
) -> None:
    """What ``verify`` and a second load of this session know: the environment has these."""
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)
    from .session_env import record_load  # noqa: PLC0415

    key = session_key(plan.session, plan.ship)
    with _modules_lock:
        _session_modules.setdefault(key, set()).update(manifest.top_level)
        relied = (manifest.runtime or {}).get("relied_on", ())
        _session_runtime.setdefault(key, set()).update(str(item["name"]) for item in relied)
    record_load(key, packages, uri, "")  # "": the workers' own environment


def _log_loaded(
    result: LoadResult, plan: _Plan, delivery: Delivery, timings: Mapping[str, float]
) -> None:
    if plan.ship is None and result.delivery != "provided":
        why = "delivery='driver-only'" if delivery == "driver-only" else "no Spark session"
        logger.info(
            "%s: wheelhouse %s installed for the driver only "
            "(pass spark=... or create a session first to ship it to executors)",
            why,
            result.uri,
        )
    if not result.wheels:
        logger.info(
            "wheelhouse %s is empty (the runtime has everything the input needs): "
            "nothing installed or shipped",
            result.uri,
        )
    logger.info(
        "loaded %s from %s in %.3fs (%s, delivery %s)",
        plural(len(result.wheels), "wheel"),
        result.uri,
        timings["total"],
        "reused" if result.reused else "installed",
        result.delivery,
    )


def _split_pin(given: str, source: str) -> tuple[str, str | None]:
    """(the URI, the build's digest or None) of ``.../wheelhouse.zip#sha256=<hex>``."""
    uri, expected = split_pin(given)
    if expected is not None and not DIGEST.fullmatch(expected):
        raise InputError(
            f"{redact(given)}: the digest after {PIN_FRAGMENT!r} is not a sha256 (64 hex "
            "digits); pass the URI exactly as the build printed it, or drop the '#...' part"
        )
    logger.info("loading wheelhouse %s (from %s)", redact(uri), source)
    return uri, expected


def _check_options(mode: str, delivery: str) -> None:
    if mode not in ("cache", "pip"):
        raise InputError(f"mode must be 'cache' or 'pip', got {mode!r}")
    if delivery not in _DELIVERIES:
        raise InputError(f"delivery must be one of {', '.join(_DELIVERIES)}, got {delivery!r}")
    if delivery == "environment":
        from .environment import require_channel  # noqa: PLC0415 (see the note on imports)

        require_channel()  # before anything is read or installed


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
        from .delivery import session_kind  # noqa: PLC0415 (see the note on imports)

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
            f"/dbfs, NFS), not {uri}; pass payload_dir= a folder every node sees, or use "
            "delivery='auto'"
        )
    folder = local.absolute()
    return (folder if folder.is_dir() else folder.parent) / ".sparkdeps"


def _payload_dir(
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


def _published_path(prepared: Prepared) -> Path | None:
    """The wheelhouse's own path (never a download, removed after load, nor /proc)."""
    if prepared.stamp is not None:
        return Path(prepared.stamp[0])
    if prepared.temporary is None and prepared.handle is None:
        return prepared.zip_path  # a warm load: the path itself
    return None


def _check_session(plan: _Plan, prepared: Prepared, *, replace: bool) -> dict[str, Package]:
    """With a session: the wheelhouse's packages, once it is known they may join the session's.

    Without one: nothing to check, and nothing read ({})."""
    if plan.session is None or plan.ship is None:
        return {}
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)
    from .session_env import check_second_load, wheelhouse_packages  # noqa: PLC0415

    folder = plan.install_cache / "installs" / prepared.digest
    packages = wheelhouse_packages(prepared.manifest, folder)  # or the copy kept in folder
    agreeing = check_second_load(
        session_key(plan.session, plan.ship), packages, prepared.uri, replace=replace,
        spark=plan.session, kind=plan.ship,
    )  # fmt: skip
    if agreeing:
        logger.info(
            "merging into this session's environment: %s already delivered at the same "
            "version (%s)",
            plural(len(agreeing), "package"),
            ", ".join(agreeing[:10]) + (", ..." if len(agreeing) > 10 else ""),
        )
    return packages


def _ship(
    plan: _Plan,
    prepared: Prepared,
    installed: InstallResult | None,
    packages: Mapping[str, Package],
    timings: dict[str, float],
    *,
    asked: tuple[Delivery, bool | None],
    source: str,
) -> Shipped | None:
    """Deliver to the executors (proven where needed), remember the names for ``verify``.

    ``asked``: the ``delivery`` and ``probe`` arguments of ``load``; ``source``: the
    wheelhouse URI as given (a presigned URL of it may go to the executors)."""
    if installed is None or (plan.ship is None and plan.kind != "environment"):
        return None
    from .delivery import session_key  # noqa: PLC0415 (see the note on imports)
    from .session_env import record_load  # noqa: PLC0415

    key = session_key(plan.session, plan.ship) if plan.ship is not None else None
    if not installed.wheels:  # an empty wheelhouse: nothing to ship
        if key is not None:
            _remember(key, installed)  # verify still checks the runtime packages it relies on
        return None
    shipped = _proven_ship(plan, prepared, installed, asked, source)
    timings["deliver"] = shipped.seconds
    if shipped.probe is not None:
        timings["probe"] = shipped.probe.seconds
    if key is None:
        return shipped
    _remember(key, installed)
    # executors import from <archive>/site (wheels), the shared folder, or their environment
    record_load(key, packages, prepared.uri, shipped.archive)
    return shipped


def _proven_ship(
    plan: _Plan,
    prepared: Prepared,
    installed: InstallResult,
    asked: tuple[Delivery, bool | None],
    source: str,
) -> Shipped:
    """``routes.ship``; on failure, nothing left active on the driver.

    Where executors can fetch the wheelhouse from its storage themselves (a presigned URL,
    classic sessions: docs/storage.md), the driver serves only the stub zip."""
    from .routes import Route, ship  # noqa: PLC0415 (see the note on imports)

    route = Route(
        plan.session,
        plan.ship,
        plan.kind,
        auto=asked[0] == "auto",
        probe=asked[1],
        payload_dir=plan.payload_dir or plan.node_cache / "payloads",
        environment_dir=_environment_dir(plan, prepared.uri),
        archive_url=storage_for(source).executor_url(source) if plan.kind == "classic" else None,
        warm=plan.warm_executors,
    )
    before = set(sys.path)
    try:
        return ship(route, prepared, installed, _published_path(prepared))
    except BaseException:
        # the install, and the stub zip Spark Connect's addArtifacts(pyfile=True) puts on
        # the client's sys.path
        _deactivate([installed.folder, *(entry for entry in sys.path if entry not in before)])
        raise


def _environment_dir(plan: _Plan, uri: str) -> Path:
    """Where the environment route writes its requirements: a folder every node reads
    (the run folder on Databricks storage) unless a payload folder was given."""
    if plan.payload_dir is not None and plan.kind == "environment":
        return plan.payload_dir
    return _default_payload_dir(uri, plan.node_cache)


def _deactivate(entries: Sequence[str | os.PathLike[str]]) -> None:
    for item in entries:
        entry = os.fspath(item)
        while entry in sys.path:
            sys.path.remove(entry)
    importlib.invalidate_caches()


def _remember(key: str, installed: InstallResult) -> None:
    """What ``verify`` checks in the session ``key``: the modules and the runtime packages."""
    with _modules_lock:
        _session_modules.setdefault(key, set()).update(installed.top_level)
        relied = (installed.runtime or {}).get("relied_on", ())
        _session_runtime.setdefault(key, set()).update(str(item["name"]) for item in relied)


def _shadows(prepared: Prepared, installed: InstallResult | None) -> dict[str, tuple[str, str]]:
    """Shipped package -> (the runtime's version it takes the place of, its own version)."""
    if installed is not None and installed.shadows is not None:
        return dict(installed.shadows)  # kept in the install marker
    manifest = prepared.manifest  # read unless warm (pip mode for the driver alone reads it)
    if manifest is None:  # warm, on an install whose marker predates the shadows
        assert installed is not None
        from .._core.manifest import MANIFEST_NAME, Manifest  # noqa: PLC0415 (rare path)

        kept = installed.folder / MANIFEST_NAME
        manifest = Manifest.from_json(kept.read_bytes(), origin=str(kept))
    return manifest.shadowed()


def _result(
    prepared: Prepared,
    installed: InstallResult | None,
    folder: Path,
    plan: _Plan,
    shipped: Shipped | None,
    *,
    mode: Literal["cache", "pip"],
    timings: dict[str, float],
) -> LoadResult:
    if installed is not None:
        wheels = tuple(sorted(installed.wheels + installed.left_out))
        top_level, reused = installed.top_level, installed.reused
    else:  # pip mode, driver only: install() did not run, so fetch_wheelhouse read it
        manifest = prepared.manifest
        assert manifest is not None
        wheels = tuple(wheel.filename for wheel in manifest.wheels)
        top_level, reused = manifest.top_level, False
    result = LoadResult(
        uri=prepared.uri,
        digest=prepared.digest,
        wheels=tuple(wheels),
        folder=folder,
        delivery=shipped.kind if shipped is not None else plan.kind,
        top_level=tuple(top_level),
        reused=reused,
        payload=shipped.payload if shipped is not None else None,
        mode=mode,
        timings=timings,
        left_out=installed.left_out if installed is not None else (),
    )
    shadows = _shadows(prepared, installed)
    if shadows:  # the manifest says these take the place of the runtime's copies
        result = dataclasses.replace(result, shadows=shadows)
    return result


def _driver_install(
    prepared: Prepared,
    node_cache: Path,
    mode: Literal["cache", "pip"],
    kind: Delivery,
    timings: dict[str, float],
    *,
    strict: bool | None = None,
    client: bool = False,
) -> tuple[Path, InstallResult | None]:
    """Check, then install into the node cache and/or with pip; activate the cache folder.

    ``client``: this driver is a Spark Connect client, which installs only the wheels
    that fit it (the cluster gets them all, docs/delivery.md)."""
    timings.update(prepared.timings)
    leave_out: tuple[str, ...] = ()
    if prepared.manifest is not None:
        from .checks import check_wheels  # noqa: PLC0415 (see the note on imports)

        with timed(timings, "check"):
            leave_out = _client_misfits(prepared, client)
            check_wheels(prepared, leave_out=leave_out)
            # a client's runtime is not the cluster's: differences warn (the probe decides)
            lenient = False if leave_out and strict is None else strict
            check_runtime(prepared.manifest.runtime, strict=lenient, fresh=True)
    installed: InstallResult | None = None
    if mode == "cache" or kind != "driver-only":
        # The cache folder is the driver's install (mode="cache") and what executors get.
        installed = install(prepared, node_cache, bytecode=kind == "shared", leave_out=leave_out)
        timings.update(
            {name: value for name, value in installed.timings.items() if name not in timings}
        )
        if (installed.reused and installed.checked_for != interpreter_key()) or (
            installed.left_out and not client
        ):
            from .checks import check_interpreter_tags  # noqa: PLC0415 (see above)

            check_interpreter_tags(
                prepared.uri, installed.wheels + (() if client else installed.left_out),
                installed.target,
            )  # fmt: skip
        if prepared.manifest is None:  # the warm path: the install marker has the section
            with timed(timings, "runtime_check"):
                check_runtime(installed.runtime, strict=strict)
    if mode == "pip":
        if prepared.manifest is not None and prepared.manifest.wheels:  # else nothing to do
            from .pipmode import pip_install  # noqa: PLC0415 (see the note on imports)

            with timed(timings, "pip"):
                pip_install(prepared, leave_out=leave_out)
            importlib.invalidate_caches()
        return Path(sysconfig.get_paths()["purelib"]), installed
    assert installed is not None
    activate(installed.folder)
    explain_preloaded(installed.top_level, installed.folder)
    return installed.folder, installed


def _client_misfits(prepared: Prepared, client: bool) -> tuple[str, ...]:
    """On a Connect client: the wheels whose tags do not fit it, to ship but not install."""
    if not client or prepared.manifest is None:
        return ()
    from .client import describe_client, fitting  # noqa: PLC0415 (see the note on imports)

    _fit, left = fitting(wheel.filename for wheel in prepared.manifest.wheels)
    if left:
        logger.warning(
            "this Spark Connect client is %s: installing here only the wheels that fit it; "
            "left out (the cluster gets them, the probe proves it): %s",
            describe_client(),
            ", ".join(left),
        )
    return tuple(left)
