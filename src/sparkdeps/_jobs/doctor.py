"""``sparkdeps doctor``: which delivery routes work on this compute, found by trying each.

On any session (a laptop's local Spark, a cluster's driver, a serverless notebook,
Databricks Connect) it builds a tiny wheelhouse per route with no index
(``_jobs/doctor_inputs.py``: a generated pure wheel, plus a compiled one where a C
compiler or a cached build is at hand), loads it with that route, imports its
modules on the driver and on the executors, and reports a row per route: whether it
worked, on the driver and on how many executors, how long it took and what failed.
One minute on a workspace tells which route the compute supports; the JSON form
(``--json``, :meth:`DoctorReport.to_dict`) is what goes into a bug report.
docs/compute.md says how to read it.

Each route ships modules no other route ships, so a route never passes on an earlier
one's delivery. The session keeps what the routes added (small files, modules named
``sddoctor_*``): run it in a session of its own where that matters.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import platform
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._core.errors import InputError, SparkdepsError, VerificationError
from .._core.plain import plain
from .._core.timing import Timer
from .._runtime.delivery import session_kind
from .._runtime.load import active_session, load
from .._runtime.verify import verify
from .doctor_inputs import Native, native_library, route_input

__all__ = ["ROUTES", "DoctorReport", "RouteCheck", "doctor", "session_for"]

logger = logging.getLogger(__name__)

ROUTES: tuple[str, ...] = ("auto", "classic", "connect", "shared", "environment")
"""Every delivery ``load`` may take, ``auto`` first (what a plain ``load()`` does here)."""
Status = Literal["ok", "failed", "n/a"]
_CELL = 70


@dataclass(frozen=True)
class RouteCheck:
    """One route tried on this compute."""

    route: str
    status: Status
    delivery: str | None = None
    """The delivery ``load`` reported (for ``auto``: the one it chose)."""
    driver: str = "-"
    """``ok``, ``failed`` or ``-`` (not reached)."""
    executors: str = "-"
    """``<ok>/<all>`` executors that imported every module, ``failed`` or ``-``."""
    seconds: float = 0.0
    failure: str | None = None
    """What failed, in full: the stage (``load``, ``driver``, ``executors``) and the error."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Module -> where the driver imported it from."""
    probe: Mapping[str, Any] | None = None
    """What the executors saw when ``load``'s probe failed (its ``to_dict()``), for a report."""


@dataclass(frozen=True)
class DoctorReport:
    """What ``doctor`` found: the compute, and one :class:`RouteCheck` per route."""

    session: str
    python: str
    spark: str | None
    platform: str
    compiled: str
    """How the compiled wheel was made (``compiled``, ``cached``) or why there is none."""
    checks: tuple[RouteCheck, ...]
    seconds: float

    @property
    def working(self) -> tuple[str, ...]:
        """The routes that reached the driver and every executor."""
        return tuple(check.route for check in self.checks if check.status == "ok")

    def to_dict(self) -> dict[str, Any]:
        return {**plain(dataclasses.asdict(self)), "working": list(self.working)}

    def table(self) -> str:
        """The report as a plain-text table (what ``sparkdeps doctor`` prints)."""
        header = (
            f"sparkdeps doctor: {self.session} session, Python {self.python} ({self.platform}), "
            f"Spark {self.spark or 'unknown'}; compiled wheel: {self.compiled}"
        )
        rows = [("route", "result", "delivery", "driver", "executors", "time", "what failed")]
        for check in self.checks:
            failure = _cell(check)
            rows.append(
                (
                    check.route,
                    check.status,
                    check.delivery or "-",
                    check.driver,
                    check.executors,
                    f"{check.seconds:.2f}s" if check.status != "n/a" else "-",
                    failure if len(failure) <= _CELL else failure[: _CELL - 3] + "...",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        lines = [header]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        working = ", ".join(self.working) or "none"
        lines.append(f"routes that work here: {working} ({self.seconds:.1f}s in all)")
        return "\n".join(lines)


def _cell(check: RouteCheck) -> str:
    """The table's "what failed": the failure's first line, or what the probe showed."""
    if check.probe is not None and check.probe.get("invisible"):
        return "load: the executors cannot see what this route shipped (see --json)"
    return (check.failure or "").splitlines()[0] if check.failure else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _not_applicable(route: str, kind: str) -> str | None:
    if route == "classic" and kind != "classic":
        return "needs a classic session (one with a SparkContext)"
    if route == "connect" and kind != "connect":
        return "needs a Spark Connect session"
    return None


def _driver_files(modules: Iterable[str]) -> tuple[dict[str, str], str | None]:
    files: dict[str, str] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            return files, f"driver: {_first_line(exc)}"
        files[name] = str(getattr(module, "__file__", None) or "")
    return files, None


def _executors(spark: Any, modules: tuple[str, ...]) -> tuple[str, str | None]:
    """``<ok>/<all>`` executors, and the failure (None when every one imported all)."""
    try:
        result = verify(spark, modules)
    except VerificationError as exc:
        return "failed", f"executors: {_first_line(exc)}"
    executors = result.executors
    bad = {item.executor for item in result.imports if not item.ok}
    return f"{len(executors) - len(bad)}/{len(executors)}", None


def _check(
    route: str,
    spark: Any,
    kind: str,
    uri: str,
    modules: tuple[str, ...],
    *,
    cache: str | os.PathLike[str] | None,
) -> RouteCheck:
    """Load ``uri`` through ``route``, then import ``modules`` on the driver and executors."""
    reason = _not_applicable(route, kind)
    if reason is not None:
        return RouteCheck(route, "n/a", failure=reason)
    timer = Timer()
    try:
        loaded = load(uri, spark=spark, delivery=route, cache_dir=cache)  # type: ignore[arg-type]
    except InputError as exc:  # refused before anything ran: not a route of this sparkdeps
        return RouteCheck(route, "n/a", seconds=timer.seconds, failure=f"load: {exc}")
    except SparkdepsError as exc:
        seen: Any = getattr(exc, "probe", None)  # a DeliveryError from load's probe has it
        return RouteCheck(
            route,
            "failed",
            seconds=timer.seconds,
            failure=f"load: {_first_line(exc)}",
            probe=seen.to_dict() if hasattr(seen, "to_dict") else None,
        )
    files, driver_failure = _driver_files(modules)
    executors, executor_failure = _executors(spark, modules)
    failure = driver_failure or executor_failure
    return RouteCheck(
        route,
        "failed" if failure else "ok",
        delivery=loaded.delivery,
        driver="failed" if driver_failure else "ok",
        executors=executors,
        seconds=timer.seconds,
        failure=failure,
        files=files,
    )


def _build_route(
    route: str, token: str, native: Native, work: Path, dest: str
) -> tuple[str, tuple[str, ...]]:
    from .._build.publish import build  # noqa: PLC0415

    folder, modules = route_input(route, token, native, work / route)
    built = build(
        folder,
        dest=dest,
        run_id=f"doctor-{token}-{route}",
        no_index=True,
        name=modules[0].replace("_", "-"),
        use_cache=False,
        task_value_key=None,
    )
    return built.pinned_uri, modules


def _routes(routes: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(routes) if routes is not None else ROUTES
    unknown = [route for route in chosen if route not in ROUTES]
    if unknown or not chosen:
        raise InputError(
            f"doctor: unknown route {', '.join(unknown) or '(none given)'}",
            fix=f"choose from {', '.join(ROUTES)}",
        )
    return chosen


def doctor(
    spark: Any = None,
    *,
    routes: Iterable[str] | None = None,
    dest: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    compiled: bool = True,
) -> DoctorReport:
    """Try every delivery route on ``spark`` (default: the active session) and report.

    ``dest``: where the tiny wheelhouses are published (default a temporary folder,
    removed afterwards); pass a folder every node mounts (``/Volumes/...``) to try
    ``shared`` on a cluster. ``compiled=False`` leaves the compiled wheel out.
    Never raises for a route that fails: that is a row of the report.
    Example: ``sparkdeps.doctor(spark)`` in a notebook shows the table.
    """
    chosen = _routes(routes)
    session = spark if spark is not None else active_session()
    if session is None:
        raise InputError(
            "doctor needs a Spark session: pass spark=..., or create one first "
            "(`sparkdeps doctor --master local[2]` or `--remote sc://...` from a shell)"
        )
    timer, token = Timer(), secrets.token_hex(4)
    kind = session_kind(session)
    work = Path(tempfile.mkdtemp(prefix="sparkdeps-doctor-"))
    base = os.fspath(dest) if dest is not None else os.fspath(work / "runs")
    try:
        native = native_library(cache_dir) if compiled else Native(None, "", "not asked for")
        checks = []
        for route in chosen:
            uri, modules = _build_route(route, token, native, work / "inputs", base)
            logger.info("doctor: trying %s with %s", route, ", ".join(modules))
            checks.append(_check(route, session, kind, uri, modules, cache=cache_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DoctorReport(
        session=kind,
        python=f"{sys.version_info[0]}.{sys.version_info[1]}",
        spark=str(getattr(session, "version", "")) or None,
        platform=f"{platform.system().lower()} {platform.machine()}",
        compiled=native.how,
        checks=tuple(checks),
        seconds=timer.seconds,
    )


def session_for(*, remote: str | None = None, master: str | None = None) -> Any:
    """A session for ``sparkdeps doctor`` run from a shell: Connect, a master, or the default."""
    try:
        from pyspark.sql import SparkSession  # noqa: PLC0415
    except ImportError as exc:
        raise InputError(
            "sparkdeps doctor needs pyspark here: pip install 'sparkdeps[spark]' "
            "(or run it where Spark is, such as a cluster's driver)"
        ) from exc
    builder = SparkSession.builder.appName("sparkdeps-doctor")
    if remote:
        builder = builder.remote(remote)
    elif master:
        builder = builder.master(master)
    return builder.getOrCreate()
