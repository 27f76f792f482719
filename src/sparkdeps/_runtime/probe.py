"""The delivery probe: a small job that proves what the executors' Python workers import.

``load()`` runs it where it cannot be sure the route works (a session without a
SparkContext: Spark Connect, Databricks serverless and standard access mode; a
classic one when asked), and ``sparkdoctor`` runs it on every route. A plain UDF
over a few partitions imports each named top-level module on the workers and
reports, per worker: its Python, ``sys.path``, the ``sys.path`` entries that do
not exist there (files the session added that the worker cannot see, as on
Databricks serverless, docs/facts.md, fact 17), and where each module came from.
A module imported from outside ``within`` (the folders the route shipped) fails
the probe: the worker has another copy, which is not what was delivered.

The workers run :mod:`.worker_report`, as ``verify`` does (:func:`run_reports`):
executors need nothing from sparkdeps, nor pyarrow.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._core.plain import plain
from .._core.progress import plural
from .._core.results import ModuleImport
from .._core.timing import Timer
from . import worker_report
from .worker_report import ENVIRONMENT, report_json

__all__ = [
    "ENVIRONMENT",
    "ProbeResult",
    "WorkerReport",
    "plain_udf",
    "probe_executors",
    "run_reports",
]

logger = logging.getLogger(__name__)

_ERROR_LINES = 12


@dataclass(frozen=True)
class WorkerReport:
    """What one Python worker saw."""

    executor: str
    """Host and working folder of the worker."""
    python: str
    version: str
    prefix: str
    cwd: str
    sys_path: tuple[str, ...]
    missing: tuple[str, ...]
    """``sys.path`` entries that do not exist on the worker (shipped, yet not visible)."""
    imports: tuple[ModuleImport, ...]
    preloaded: tuple[str, ...] = ()
    """Modules the worker had imported from elsewhere before the probe (pyspark's numpy):
    it keeps them, as a cluster does; not a failure."""


@dataclass(frozen=True)
class ProbeResult:
    """The probe's outcome: ``ok`` when every worker imported every module from ``within``."""

    modules: tuple[str, ...]
    within: tuple[str, ...]
    workers: tuple[WorkerReport, ...]
    seconds: float
    error: str | None = None
    """Why the probe job itself failed (no worker report), else None."""

    @property
    def failures(self) -> tuple[ModuleImport, ...]:
        return tuple(item for worker in self.workers for item in worker.imports if not item.ok)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.workers) and not self.failures

    @property
    def invisible(self) -> tuple[str, ...]:
        """Shipped paths the workers could not see (``sys.path`` entries that do not exist)."""
        seen = {path for worker in self.workers for path in worker.missing}
        return tuple(sorted(seen))

    def describe(self) -> str:
        """What the executors saw, for an error message or a bug report."""
        if self.error is not None:
            return f"the probe job failed: {self.error}"
        if not self.workers:
            return "the probe job returned no worker report"
        lines: list[str] = []
        for worker in self.workers[:2]:  # workers of one compute look alike
            lines.append(
                f"worker {worker.executor}: Python {worker.version} ({worker.python}), "
                f"sys.path {list(worker.sys_path)}"
            )
            if worker.missing:
                lines.append(f"  not there on the worker: {', '.join(worker.missing)}")
            lines.extend(f"  {item.module}: {item.error}" for item in worker.imports if not item.ok)
        if len(self.workers) > 2:
            lines.append(f"  ... and {plural(len(self.workers) - 2, 'more worker')}")
        return "\n".join(lines[:_ERROR_LINES])

    def to_dict(self) -> dict[str, Any]:
        return {**plain(dataclasses.asdict(self)), "ok": self.ok, "invisible": list(self.invisible)}


def _worker(raw: Mapping[str, Any], names: Sequence[str]) -> WorkerReport:
    executor = str(raw["executor"])
    imports = []
    for name in names:
        outcome = raw["imports"].get(name, {"ok": False, "error": "not reported"})
        imports.append(
            ModuleImport(
                module=name,
                executor=executor,
                ok=bool(outcome["ok"]),
                file=outcome.get("file"),
                error=outcome.get("error"),
            )
        )
    return WorkerReport(
        executor=executor,
        python=str(raw["python"]),
        version=str(raw["version"]),
        prefix=str(raw["prefix"]),
        cwd=str(raw["cwd"]),
        sys_path=tuple(str(entry) for entry in raw["sys_path"]),
        missing=tuple(str(entry) for entry in raw["missing"]),
        imports=tuple(imports),
        preloaded=tuple(
            name for name in names if raw["imports"].get(name, {}).get("preloaded", False)
        ),
    )


def _last_lines(text: str, count: int = 6) -> str:
    """The end of a (JVM) error: where Python workers put the reason."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def probe_executors(
    spark: Any,
    modules: Iterable[str],
    *,
    within: Iterable[str] = (),
    partitions: int = 2,
) -> ProbeResult:
    """Import ``modules`` in ``partitions`` tasks on the executors of ``spark``; never raises.

    ``within``: where the modules must come from: absolute folders, folder names
    that must appear in the path (``sparkdeps_<digest16>``), or :data:`ENVIRONMENT`
    (the worker's own interpreter environment). Empty: anywhere. A failure of the
    job itself (a worker that cannot start) is :attr:`ProbeResult.error`.
    """
    names = tuple(modules)
    places = tuple(within)
    timer = Timer()
    try:
        reports = run_reports(spark, names, partitions, within=places)
        workers = tuple(_worker(report, names) for report in reports)
    except Exception as exc:
        message = _last_lines(str(exc)) or type(exc).__name__
        logger.debug("the delivery probe failed", exc_info=True)
        return ProbeResult(names, places, (), timer.seconds, error=message)
    result = ProbeResult(names, places, workers, timer.seconds)
    logger.info(
        "probe: %s on %s in %.2fs: %s",
        plural(len(names), "module"),
        plural(len(workers), "task"),
        result.seconds,
        "ok" if result.ok else f"{plural(len(result.failures), 'failure')}",
    )
    return result


def run_reports(
    spark: Any,
    modules: Iterable[str],
    partitions: int,
    *,
    within: Iterable[str] = (),
    packages: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """One :func:`.worker_report.worker_report` per task, from ``partitions`` tasks: the
    executor side of both the delivery probe and ``verify``."""
    from pyspark import cloudpickle  # noqa: PLC0415
    from pyspark.sql.functions import col, udf  # noqa: PLC0415
    from pyspark.sql.types import StringType  # noqa: PLC0415

    worker_report.ship_by_value(cloudpickle)
    names, places, dists = tuple(modules), tuple(within), tuple(packages)

    def body(_row: Any) -> str:
        return report_json(names, places, dists)  # shipped by value, as report_json is

    report = plain_udf(udf, body, StringType())
    frame = spark.range(0, partitions, 1, partitions).select(report(col("id")).alias("r"))
    return [json.loads(row["r"]) for row in frame.collect()]


def plain_udf(udf: Callable[..., Any], function: Callable[..., Any], return_type: Any) -> Any:
    """``udf(function, return_type)`` that never needs pyarrow on the executors."""
    try:
        return udf(function, return_type, useArrow=False)
    except TypeError:
        # pyspark < 3.5 has no useArrow; its plain UDFs are never Arrow-optimised.
        return udf(function, return_type)
