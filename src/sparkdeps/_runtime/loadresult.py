"""The :class:`LoadResult` of ``load()`` and the lines it logs when done."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .._core.progress import plural
from .._core.results import Delivery, LoadResult
from .fetch import Prepared
from .install import InstallResult
from .loadplan import LoadPlan

if TYPE_CHECKING:
    from .routes import Shipped

__all__ = ["load_result", "log_loaded"]

logger = logging.getLogger(__name__)


def load_result(
    prepared: Prepared,
    installed: InstallResult | None,
    folder: Path,
    plan: LoadPlan,
    shipped: Shipped | None,
    *,
    mode: Literal["cache", "pip"],
    timings: dict[str, float],
) -> LoadResult:
    """What ``load()`` returns: the wheels, where the driver imports them, how executors do."""
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
    shadows = _shadows_of(prepared, installed)
    if shadows:  # the manifest says these take the place of the runtime's copies
        result = dataclasses.replace(result, shadows=shadows)
    return result


def _shadows_of(prepared: Prepared, installed: InstallResult | None) -> dict[str, tuple[str, str]]:
    """Shipped package -> (the runtime's version it takes the place of, its own version)."""
    if installed is not None and installed.shadows is not None:
        return dict(installed.shadows)  # kept in the install marker
    manifest = prepared.manifest  # read unless warm (pip mode for the driver alone reads it)
    if manifest is None:  # warm, on an install whose marker predates the shadows
        assert installed is not None
        from .._core.manifest import MANIFEST_NAME, Manifest  # noqa: PLC0415

        kept = installed.folder / MANIFEST_NAME
        manifest = Manifest.from_json(kept.read_bytes(), origin=str(kept))
    return manifest.shadowed()


def log_loaded(
    result: LoadResult, plan: LoadPlan, delivery: Delivery, timings: Mapping[str, float]
) -> None:
    """The log lines of a finished load: who got it, and how long it took."""
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
