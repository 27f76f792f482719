"""``load()``: find the wheelhouse, check it, install it on the driver, ship it to executors.

The steps live in their own modules: :mod:`.locate` (which wheelhouse), :mod:`.loadplan`
(whom it goes to, which folders), :mod:`.fetch` (its bytes on this node),
:mod:`.shipping` (may it join the session; ship it), :mod:`.provided` (nothing to do
where the environment has it), :mod:`.driver` (check and install on the driver),
:mod:`.loadresult` (what ``load`` returns and logs).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Literal

from .._core.errors import InputError
from .._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY
from .._core.results import Delivery, LoadResult
from .._core.timing import timed
from .driver import driver_install, install_beside, installs_beside_shipping
from .fetch import fetch_wheelhouse
from .install import InstallResult
from .loadplan import LoadPlan, active_session, plan_load
from .loadresult import load_result, log_loaded
from .locate import locate_wheelhouse, located_pin, wheelhouse_arg
from .pending import finish_driver_install
from .session_state import loaded_into, modules_for, runtime_packages_for
from .shipping import check_session, ship_to_executors

if TYPE_CHECKING:
    from .routes import Shipped

__all__ = [
    "active_session",
    "load",
    "loaded_into",
    "locate_wheelhouse",
    "modules_for",
    "runtime_packages_for",
    "wheelhouse_arg",
]

_DELIVERIES = ("auto", "classic", "connect", "shared", "environment", "driver-only")


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
    this environment instead. ``delivery="auto"`` ships through ``addFile`` on a
    classic session and through artifacts on Spark Connect; with no session only the
    driver gets the packages. ``delivery="shared"`` installs once beside a wheelhouse
    on storage every node mounts (``/Volumes``, ``/dbfs``, NFS; or ``payload_dir``). A
    fresh classic load returns once the wheels are checked and the executors served; the
    driver's first import of one of its packages waits for the install behind it. A
    background job readies live executors (``warm_executors=False``: at first import).

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
    """
    _check_options(mode, delivery)
    timings: dict[str, float] = {}
    with timed(timings, "total"):
        uri, expected = located_pin(*locate_wheelhouse(wheelhouse, task_key=task_key, key=key))
        plan = plan_load(uri, spark, delivery, cache_dir, payload_dir)._replace(
            warm_executors=warm_executors
        )
        with ExitStack() as owned:  # given up when the driver's install outlives load()
            result = _deliver(
                plan, (uri, expected), (delivery, probe), mode, strict=strict, replace=replace,
                timings=timings, owned=owned,
            )  # fmt: skip
    log_loaded(result, plan, delivery, timings)
    return result


def _deliver(
    plan: LoadPlan,
    located: tuple[str, str | None],
    asked: tuple[Delivery, bool | None],
    mode: Literal["cache", "pip"],
    *,
    strict: bool | None,
    replace: bool,
    timings: dict[str, float],
    owned: ExitStack,
) -> LoadResult:
    """Fetch the wheelhouse at ``located`` (URI, pinned digest). Nothing where the
    environment has every wheel already; else install, then ship. ``owned`` releases
    the fetched wheelhouse, unless the driver's install goes on after ``load`` returns:
    that install releases it once done (:func:`.driver.install_beside`)."""
    source, expected = located
    warm = mode == "cache"  # pip needs every wheel: no warm path that reads no manifest
    prepared = owned.enter_context(
        fetch_wheelhouse(source, plan.install_cache, warm=warm, expected=expected)
    )
    packages = check_session(plan, prepared, replace=replace)
    # Without a session, or without a manifest read (a warm load: an earlier load found this
    # digest not provided), it installs as before and imports no importlib.metadata.
    if asked[0] == "auto" and plan.ship is not None and prepared.manifest is not None:
        from .provided import provided_load  # noqa: PLC0415

        result = provided_load(
            plan, prepared, packages, asked, mode, strict=strict, timings=timings
        )
        if result is not None:
            return result
    if mode == "cache" and installs_beside_shipping(
        prepared, plan.install_cache, plan.kind, plan.ship
    ):

        def ship(planned: InstallResult) -> Shipped | None:
            return ship_to_executors(
                plan, prepared, planned, packages, timings, asked=asked, source=source
            )

        made = install_beside(
            prepared, plan.install_cache, timings, ship, strict=strict,
            shared=plan.kind == "shared",
        )  # fmt: skip
        owned.pop_all()  # the install thread releases the wheelhouse
        return load_result(prepared, made[1], made[0], plan, made[2], mode=mode, timings=timings)
    folder, installed = driver_install(
        prepared, plan.install_cache, mode, plan.kind, timings, strict=strict,
        client=plan.ship == "connect",
    )  # fmt: skip
    shipped = ship_to_executors(
        plan, prepared, installed, packages, timings, asked=asked, source=source
    )
    return load_result(prepared, installed, folder, plan, shipped, mode=mode, timings=timings)


def _check_options(mode: str, delivery: str) -> None:
    """A bad ``mode`` or ``delivery``, or ``environment`` without ``%pip``: before anything;
    then an earlier load's driver install finished (:mod:`.pending`)."""
    if mode not in ("cache", "pip"):
        raise InputError(f"mode must be 'cache' or 'pip', got {mode!r}")
    if delivery not in _DELIVERIES:
        raise InputError(f"delivery must be one of {', '.join(_DELIVERIES)}, got {delivery!r}")
    if delivery == "environment":
        from .environment import require_channel  # noqa: PLC0415

        require_channel()  # before anything is read or installed
    finish_driver_install(drop_failed=True)  # an earlier load's install, still running
