"""``verify()``: import modules on the executors through a DataFrame UDF.

A plain Python UDF over ``spark.range`` with enough partitions to reach every
executor, so the same code works on classic sessions and on Spark Connect.
The UDF says ``useArrow=False`` where pyspark has the switch (3.5 on): pyspark 4.3
makes plain UDFs Arrow-optimised by default, and the worker then imports pyarrow
first (docs/facts.md, fact 12); the probe must run whatever the session's Arrow
setting and whether or not the executors have pyarrow. The probe is a closure,
so cloudpickle ships it by value: executors need nothing from sparkdeps itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._core.errors import VerificationError
from .._core.progress import plural
from .._core.results import ModuleImport, VerifyResult
from .delivery import is_connect, session_key
from .hints import failure_hint
from .load import active_session, loaded_into, modules_for, runtime_packages_for
from .probe import plain_udf
from .session_env import expected_archives, mark_stale

__all__ = ["make_probe", "plain_udf", "verify"]

logger = logging.getLogger(__name__)


def make_probe(modules: Iterable[str], distributions: Iterable[str] = ()) -> Callable[[Any], str]:
    """A UDF body that imports ``modules`` and reports, as JSON, where each came from
    (and the installed version of each of ``distributions``)."""
    names = tuple(modules)
    packages = tuple(distributions)

    def probe(_row: Any) -> str:
        # The probe runs on executors, shipped by value: it imports what it uses itself.
        import importlib  # noqa: PLC0415
        import json  # noqa: PLC0415
        import os  # noqa: PLC0415
        import socket  # noqa: PLC0415
        import sys  # noqa: PLC0415
        import traceback  # noqa: PLC0415

        # os.path, not pathlib: the probe runs on executors and stays minimal.
        here = os.path.abspath(os.getcwd())  # noqa: PTH100, PTH109
        report: dict[str, Any] = {
            "executor": f"{socket.gethostname()}:{here}",
            "python": sys.executable,
            "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "cwd": here,
            "imports": {},
        }
        try:
            from pyspark import SparkFiles  # noqa: PLC0415

            report["spark_files"] = os.path.abspath(SparkFiles.getRootDirectory())  # noqa: PTH100
        except Exception:
            report["spark_files"] = None
        for name in names:
            try:
                module = importlib.import_module(name)
            except BaseException as exc:
                last = traceback.format_exception_only(type(exc), exc)[-1].strip()
                report["imports"][name] = {"ok": False, "error": last}
                continue
            where = getattr(module, "__file__", None)
            if where is None:  # a namespace package
                where = next(iter(getattr(module, "__path__", [])), None)
            where = where and os.path.abspath(where)  # noqa: PTH100
            report["imports"][name] = {"ok": True, "file": where}
        if packages:
            import importlib.metadata  # noqa: PLC0415  (the probe: see above)

            versions: dict[str, str | None] = {}
            for package in packages:
                try:
                    versions[package] = importlib.metadata.version(package)
                except Exception:
                    versions[package] = None
            report["versions"] = versions
        return json.dumps(report)

    return probe


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
    # pyspark costs about a second to import: only when verify really runs
    from pyspark.sql.functions import col, udf  # noqa: PLC0415
    from pyspark.sql.types import StringType  # noqa: PLC0415

    probe = plain_udf(udf, make_probe(modules, distributions), StringType())
    frame = spark.range(0, partitions, 1, partitions).select(probe(col("id")).alias("report"))
    return [json.loads(row["report"]) for row in frame.collect()]


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
        reports = run_probe(spark, names, count, dists)
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
