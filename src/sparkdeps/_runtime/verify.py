"""``verify()``: import modules on the executors through a DataFrame UDF.

A plain Python UDF over ``spark.range`` with enough partitions to reach every
executor, so the same code works on classic sessions and on Spark Connect.
The UDF says ``useArrow=False`` where pyspark has the switch (3.5 on): pyspark 4.3
makes plain UDFs Arrow-optimised by default, and the worker then imports pyarrow
first (docs/facts.md, fact 12); the probe must run whatever the session's Arrow
setting and whether or not the executors have pyarrow. The workers run
:mod:`.worker_report`, shipped by value, as the delivery probe does: executors need
nothing from sparkdeps itself.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .._core.errors import VerificationError
from .._core.progress import plural
from .._core.results import ModuleImport, VerifyResult
from .hints import failure_hint
from .loadplan import active_session
from .probe import run_reports
from .scale import from_every_executor, registered_executors
from .session_env import expected_archives, mark_stale
from .session_state import (
    is_connect,
    loaded_into,
    modules_for,
    runtime_packages_for,
    session_key,
)

__all__ = ["run_probe", "verify"]

logger = logging.getLogger(__name__)


def default_partitions(spark: Any) -> int:
    """Enough tasks to land on every executor at least once, in practice."""
    if not is_connect(spark):
        parallelism = int(spark.sparkContext.defaultParallelism)
    else:
        try:
            parallelism = int(spark.conf.get("spark.default.parallelism", "0") or 0)
        except Exception:
            parallelism = 0
    return max(4, 2 * parallelism)


def run_probe(
    spark: Any, modules: Iterable[str], partitions: int, distributions: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Run the probe on ``partitions`` tasks; one decoded report per task."""
    return run_reports(spark, modules, partitions, packages=distributions)


def _default_modules(spark: Any) -> tuple[str, ...]:
    return modules_for(spark)


def _default_packages(spark: Any) -> tuple[str, ...]:
    return runtime_packages_for(spark)


def _versions(reports: Iterable[dict[str, Any]], packages: tuple[str, ...]) -> dict[str, Any]:
    """package -> executor -> version, and the driver's versions, for VerifyResult."""
    if not packages:
        return {}
    driver: dict[str, str | None] = {}
    for package in packages:
        try:
            driver[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            driver[package] = None
    seen: dict[str, dict[str, str | None]] = {package: {} for package in packages}
    for report in reports:
        for package, version in report.get("versions", {}).items():
            seen.setdefault(package, {})[str(report["executor"])] = version
    return {"package_versions": seen, "driver_versions": driver}


def verify(
    spark: Any = None,
    modules: Iterable[str] | None = None,
    *,
    partitions: int | None = None,
    packages: Iterable[str] | None = None,
) -> VerifyResult:
    """Import ``modules`` (default: the top-level names loaded into ``spark``) on executors.

    Returns where each module was imported from on each executor; raises
    :class:`VerificationError` listing every failure. ``packages`` (default: the
    runtime packages the loaded wheelhouses rely on) are reported with the
    executors' installed versions; differences from the driver's are logged and
    listed in ``VerifyResult.version_differences``.

    Example::

        sparkdeps.load(wheelhouse, spark=spark)
        report = sparkdeps.verify(spark, ["dateutil"])
        for item in report.imports:
            print(item.executor, item.module, item.file)
    """
    spark = spark if spark is not None else _active_session()
    names = tuple(modules) if modules is not None else _default_modules(spark)
    dists = tuple(packages) if packages is not None else _default_packages(spark)
    if not names and not dists:
        if modules is None and packages is None and loaded_into(spark):
            logger.info(
                "the wheelhouses loaded into this session are empty and rely on no runtime "
                "package: nothing to verify"
            )
            return VerifyResult(imports=())
        raise VerificationError(
            "nothing to verify: no wheelhouse was loaded into this session; "
            "call sparkdeps.load(..., spark=spark) first or pass modules=[...]"
        )
    count = partitions or default_partitions(spark)
    try:
        # every registered executor, on a classic session (one busy may take no task)
        wanted = None if is_connect(spark) else registered_executors(spark.sparkContext)
        reports = from_every_executor(
            lambda: run_probe(spark, names, count, dists),
            lambda report: str(report["executor"]),
            wanted,
        )
    except Exception as exc:
        raise VerificationError(f"the import check could not run on the executors: {exc}") from exc
    imports = _imports(reports, names)
    if not is_connect(spark):  # each executor imports what the latest load delivered
        imports = mark_stale(imports, expected_archives(session_key(spark), names))
    _raise_failures(imports)
    result = VerifyResult(imports=imports, **_versions(reports, dists))
    for line in result.version_differences:
        logger.warning("executor and driver differ: %s", line)
    logger.info(
        "verified %s on %s",
        plural(len(names), "module"),
        plural(len(result.executors), "executor"),
    )
    return result


def _active_session() -> Any:
    spark = active_session()
    if spark is None:
        raise VerificationError(
            "verify() needs a Spark session: pass spark=... or create one first"
        )
    return spark


def _imports(reports: Iterable[dict[str, Any]], names: Sequence[str]) -> tuple[ModuleImport, ...]:
    """Every (module, executor, file) the probe reported, in a stable order."""
    seen: set[ModuleImport] = set()
    for report in reports:
        for name in names:
            outcome = report["imports"].get(name, {"ok": False, "error": "not reported"})
            seen.add(
                ModuleImport(
                    module=name,
                    executor=str(report["executor"]),
                    ok=bool(outcome["ok"]),
                    file=outcome.get("file"),
                    error=outcome.get("error"),
                )
            )
    return tuple(sorted(seen, key=lambda item: (item.module, item.executor, item.file or "")))


def _raise_failures(imports: Iterable[ModuleImport]) -> None:
    failures = [item for item in imports if not item.ok]
    if failures:
        lines = "\n".join(f"  {item.module} on {item.executor}: {item.error}" for item in failures)
        cause, fix = failure_hint((item.module, item.error or "") for item in failures)
        failed = plural(len(failures), "import")
        message = f"{failed} failed on the executors:\n{lines}"
        raise VerificationError(message + (f"\n{cause}" if cause else ""), fix=fix)
