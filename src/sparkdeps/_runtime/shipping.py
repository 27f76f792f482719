"""The executors' side of ``load()``: may the wheelhouse join the session, ship it, remember.

One environment per session (:mod:`.session_env`) is checked before anything is
installed; :func:`.routes.ship` delivers and proves the route; on success the
session's state (:mod:`.session_state`) learns the modules ``verify`` checks and the
archive each may come from. A failed shipment leaves nothing active on the driver.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._core.progress import plural
from .._core.results import Delivery
from .._core.storage import storage_for
from .fetch import Prepared
from .install import InstallResult
from .loadplan import LoadPlan, environment_dir
from .session_state import remember_load, session_key

if TYPE_CHECKING:
    from .routes import Shipped
    from .session_env import Package

__all__ = ["check_session", "ship_to_executors"]

logger = logging.getLogger(__name__)


def check_session(plan: LoadPlan, prepared: Prepared, *, replace: bool) -> dict[str, Package]:
    """With a session: the wheelhouse's packages, once it is known they may join the session's.

    Without one: nothing to check, and nothing read ({})."""
    if plan.session is None or plan.ship is None:
        return {}
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


def ship_to_executors(
    plan: LoadPlan,
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
    from .session_env import record_load  # noqa: PLC0415

    key = session_key(plan.session, plan.ship) if plan.ship is not None else None
    if not installed.wheels:  # an empty wheelhouse: nothing to ship
        if key is not None:  # verify still checks the runtime packages it relies on
            remember_load(key, installed.top_level, installed.runtime)
        return None
    shipped = _proven_ship(plan, prepared, installed, asked, source)
    timings["deliver"] = shipped.seconds
    if shipped.probe is not None:
        timings["probe"] = shipped.probe.seconds
    if key is None:
        return shipped
    remember_load(key, installed.top_level, installed.runtime)
    # executors import from <archive>/site (wheels), the shared folder, or their environment
    record_load(key, packages, prepared.uri, shipped.archive)
    return shipped


def _proven_ship(
    plan: LoadPlan,
    prepared: Prepared,
    installed: InstallResult,
    asked: tuple[Delivery, bool | None],
    source: str,
) -> Shipped:
    """``routes.ship``; on failure, nothing left active on the driver.

    Where executors can fetch the wheelhouse from its storage themselves (a presigned URL,
    classic sessions: docs/storage.md), the driver serves only the stub zip."""
    from .routes import Route, ship  # noqa: PLC0415

    route = Route(
        plan.session,
        plan.ship,
        plan.kind,
        auto=asked[0] == "auto",
        probe=asked[1],
        payload_dir=plan.payload_dir or plan.node_cache / "payloads",
        environment_dir=environment_dir(plan, prepared.uri),
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


def _published_path(prepared: Prepared) -> Path | None:
    """The wheelhouse's own path (never a download, removed after load, nor /proc)."""
    if prepared.stamp is not None:
        return Path(prepared.stamp[0])
    if prepared.temporary is None and prepared.handle is None:
        return prepared.zip_path  # a warm load: the path itself
    return None


def _deactivate(entries: Sequence[str | os.PathLike[str]]) -> None:
    for item in entries:
        entry = os.fspath(item)
        while entry in sys.path:
            sys.path.remove(entry)
    importlib.invalidate_caches()
