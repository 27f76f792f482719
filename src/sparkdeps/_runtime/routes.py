"""Which route takes the wheelhouse to the executors, and the proof that it got there.

Routes (docs/delivery.md): ``classic`` (``addFile`` and python includes),
``connect`` (session artifacts), ``shared`` (a folder every node mounts) and
``environment`` (the channel the platform syncs to UDFs: the notebook's ``%pip``).

Where ``load`` cannot be sure the route works (a session without a SparkContext;
a classic one with ``probe=True``) it runs the probe (:mod:`.probe`) before it
returns: every top-level module must import on the workers from what was
shipped. When it does not, ``auto`` turns to ``environment`` if the files were
invisible to the workers (as on Databricks serverless) and a ``%pip`` channel is
there; otherwise :class:`DeliveryError` says what the workers saw and names the
route that fits. Never a green load and a failing UDF.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._core.databricks import notebook_pip
from .._core.errors import DeliveryError
from .._core.results import Delivery
from .delivery import archive_name, deliver
from .environment import configure_hint, install_environment, require_channel, requirements_file
from .fetch import Prepared
from .hints import Hint, failure_hint
from .install import InstallResult
from .probe import ENVIRONMENT, ProbeResult, probe_executors
from .session_state import STATE, SessionKind, session_key
from .warm import Warming, warm_executors
from .wheelpayload import StubContents, boot_module

__all__ = ["Route", "Shipped", "prove_provided", "ship"]

logger = logging.getLogger(__name__)

PROBE_PARTITIONS = 2
"""Tasks the load's probe runs: proof of the route, not of every executor (``verify``)."""
_INVISIBLE = re.compile(r"No module named|is not on this executor")


@dataclass(frozen=True)
class Route:
    """How ``load`` means to reach the executors (decided before anything is read)."""

    session: Any
    ship: SessionKind | None
    """The session's kind; None: no session."""
    kind: Delivery
    """``classic``, ``connect``, ``shared`` or ``environment``."""
    auto: bool
    """``delivery="auto"``: another route may be taken when the probe fails."""
    probe: bool | None
    """None: probe where the route cannot be sure (no SparkContext, or ``environment``)."""
    payload_dir: Path
    """Where the archive routes' payload is written."""
    environment_dir: Path
    """Where the environment route's requirements (and copied wheels) are written."""
    archive_url: str | None = None
    """An http(s) URL of the wheelhouse executors fetch themselves (classic; docs/storage.md)."""
    warm: bool = True
    """Start the executors' extraction at load, in the background (classic ``wheels``)."""


@dataclass(frozen=True)
class Shipped:
    kind: Delivery
    """The route that reached the executors."""
    payload: str | None
    archive: str
    """The archive executors import from (``sparkdeps_<digest16>``), or ""."""
    seconds: float
    probe: ProbeResult | None = None
    warming: Warming | None = None
    """The background warm-up of the executors (:mod:`.warm`), if one started."""


def ship(
    route: Route, prepared: Prepared, installed: InstallResult, published: Path | None
) -> Shipped:
    """Deliver ``installed`` to the executors of ``route.session``; prove it where needed."""
    if route.kind == "environment":
        return _prove(route, _environment(route, prepared, installed, published), installed)
    assert route.session is not None and route.ship is not None
    shared = route.kind == "shared"
    delivered = deliver(
        route.session,
        installed.folder,
        installed.digest,
        route.payload_dir,
        route.ship,
        wheelhouse=prepared.zip_path,
        site=installed.folder if shared else None,
        symlink_to=published,
        archive_url=None if shared else route.archive_url,
        contents=StubContents.of_manifest(prepared.manifest) if prepared.manifest else None,
    )
    archive = archive_name(installed.digest) if route.ship == "classic" and not shared else ""
    shipped = Shipped(route.kind, delivered.payload, archive, delivered.seconds)
    try:
        return _warmed(route, _prove(route, shipped, installed), installed.digest)
    except DeliveryError as exc:
        if not (route.auto and exc.invisible and notebook_pip() is not None):
            raise
    logger.warning(
        "the executors cannot see files added to this session; installing through the "
        "notebook's %%pip instead (delivery='environment')"
    )
    fallback = replace(route, kind="environment")
    return _prove(fallback, _environment(fallback, prepared, installed, published), installed)


def _warmed(route: Route, shipped: Shipped, digest: str) -> Shipped:
    """``shipped``, with the executors' Python workers started (and their extraction,
    for a shipped archive) where no probe has already imported: classic sessions."""
    if not route.warm or route.ship != "classic" or shipped.probe:
        return shipped
    if not shipped.archive and route.kind != "shared":
        return shipped
    warming = warm_executors(route.session, boot_module(digest), digest)
    return replace(shipped, warming=warming) if warming is not None else shipped


def _environment(
    route: Route, prepared: Prepared, installed: InstallResult, published: Path | None
) -> Shipped:
    channel = require_channel()
    requirements = requirements_file(
        installed.folder,
        installed.digest,
        route.environment_dir,
        zip_path=prepared.zip_path,
        published=published,
    )
    seconds = install_environment(channel, requirements)
    return Shipped("environment", str(requirements), "", seconds)


def _within(route: Route, shipped: Shipped, installed: InstallResult) -> tuple[str, ...]:
    """Where the probe must find the modules for this route."""
    if shipped.kind == "environment":
        return (ENVIRONMENT,)
    if route.kind == "shared":
        return (str(installed.folder),)
    return (archive_name(installed.digest),)


def _proven(key: str, digest: str, route: str) -> bool:
    """True once the probe of ``route`` passed for ``digest`` in the session ``key``: a
    second load need not probe again."""
    with STATE.reading(key) as record:
        return record is not None and (digest, route) in record.proven


def _passed(key: str, digest: str, route: str) -> None:
    with STATE.changing(key) as record:
        record.proven.add((digest, route))


def _wanted(route: Route, key: str, proof: tuple[str, str]) -> bool:
    if route.session is None or route.probe is False:
        return False
    if route.probe is None and route.ship == "classic" and route.kind != "environment":
        return False  # a SparkContext's archive and includes are what Spark documents
    return not _proven(key, *proof)


def _prove(route: Route, shipped: Shipped, installed: InstallResult) -> Shipped:
    """Run the probe when wanted; the shipment with its proof, or a DeliveryError."""
    key = ""  # no session: nothing is probed
    if route.session is not None and route.ship is not None:
        key = session_key(route.session, route.ship)
    proof = (installed.digest, shipped.kind)
    if not _wanted(route, key, proof):
        return shipped
    result = probe_executors(
        route.session,
        installed.top_level,
        within=_within(route, shipped, installed),
        partitions=PROBE_PARTITIONS,
    )
    if not result.ok:
        raise _failure(shipped.kind, result)
    _passed(key, *proof)
    return replace(shipped, probe=result)


def prove_provided(
    session: Any, kind: SessionKind, digest: str, modules: Sequence[str], *, probe: bool | None
) -> tuple[bool, ProbeResult | None]:
    """(whether to trust it, the probe) for an environment that already has every wheel
    (:mod:`.provided`): the workers must import each module from their own environment.

    Probed where ``load`` probes any route (no SparkContext, or ``probe=True``). A
    classic session without ``probe=True`` is not trusted: its workers may run another
    interpreter than the driver (``PYSPARK_PYTHON``: a local cluster, a twin), whose
    packages nothing on the driver can see, so it ships as usual."""
    if probe is False:
        return True, None
    if probe is None and kind == "classic":
        return False, None
    key = session_key(session, kind)
    if _proven(key, digest, "provided"):
        return True, None
    result = probe_executors(session, modules, within=(ENVIRONMENT,), partitions=PROBE_PARTITIONS)
    if result.ok:
        _passed(key, digest, "provided")
    return result.ok, result


def _worker_python_differs(result: ProbeResult) -> Hint | None:
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    versions = sorted({worker.version for worker in result.workers} - {here})
    if versions:
        return Hint(
            f"the workers run Python {', '.join(versions)} and this driver {here}",
            f"build the wheelhouse for the workers' Python (--python-version {versions[0]}) "
            "and run the driver on it too",
        )
    return None


def _failure(kind: Delivery, result: ProbeResult) -> DeliveryError:
    """The DeliveryError for a failed probe of route ``kind`` (``invisible`` when the
    shipped files were not there for the workers)."""
    seen = result.describe()
    head = (
        f"load() shipped the wheelhouse (delivery={kind!r}) but the executors' Python "
        f"workers cannot import it from there; they saw:\n{seen}\n"
    )
    invisible = bool(result.invisible) or (
        bool(result.failures)
        and all(_INVISIBLE.search(item.error or "") for item in result.failures)
    )
    differs = _worker_python_differs(result)
    if result.error is not None:
        why = Hint("", "read the probe job's error above; probe=False skips this check")
    elif differs:
        why = differs
    elif invisible and kind != "environment":
        why = Hint(
            "this compute does not show files added to the session to its UDFs' Python "
            "workers (as reported of Databricks serverless and standard access mode)",
            configure_hint(),
        )
    else:
        why = failure_hint((item.module, item.error or "") for item in result.failures)
    return DeliveryError(
        head + (why.cause + "\n" if why.cause else "") + "Nothing was left active on the driver.",
        probe=result,
        invisible=invisible and kind != "environment",
        fix=why.fix,
    )
