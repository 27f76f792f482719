"""Executors ready before the first UDF (issue 25): served while the driver installs,
their extraction started at load by a background job.

Real parts: ``local-cluster[2,1,1024]`` whose executors run a clean venv (pyspark's
runtime packages, none of the test packages: docs/facts.md, fact 7). The executors'
folders are looked at by a job that imports nothing of the wheelhouse, so a folder
found extracted was extracted by the warm-up, not by an import.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names

from sparkdeps._core.wheelhouse import read_manifest
from sparkdeps._runtime.delivery import archive_name
from sparkdeps._runtime.load import load
from sparkdeps._runtime.wheelpayload import StubContents

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _look(archive: str, names: list[str]) -> Any:
    def look(_rows: Iterator[Any]) -> Iterator[str]:
        import os
        import sys

        from pyspark import SparkFiles

        # split into the application's folder, above the executor's own (one per node)
        folder = os.path.join(
            os.path.dirname(os.path.abspath(SparkFiles.getRootDirectory())), archive
        )
        state = os.path.join(folder, ".site.state")
        # the wheels are copied out of the shipped file at the first activation
        split = os.path.isdir(os.path.join(folder, "wheels"))
        wheels = os.listdir(os.path.join(folder, "wheels")) if split else []
        done = os.listdir(state) if os.path.isdir(state) else []
        yield json.dumps(
            {
                "executor": os.getcwd(),
                # every wheel extracted (each is marked done once whole)
                "extracted": split and all(f"{wheel}.done" in done for wheel in wheels),
                "imported": sorted(name for name in names if name in sys.modules),
            }
        )

    return look


def _executors(spark: Any, archive: str, names: list[str]) -> list[dict[str, Any]]:
    rows = spark.sparkContext.parallelize(range(8), 8).mapPartitions(_look(archive, names))
    return [json.loads(row) for row in rows.collect()]


def _wheelhouse(root: Path, tag: str) -> Path:
    return make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=tag))


def test_load_starts_the_extraction_on_every_executor(
    tmp_path: Path, sparkdeps_spark_manager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spark = sparkdeps_spark_manager.classic()
    tag = "_warm"
    caplog.set_level(logging.DEBUG, logger="sparkdeps._runtime.warm")
    result = load(_wheelhouse(tmp_path, tag), spark=spark, cache_dir=tmp_path / "cache")
    archive, names = archive_name(result.digest), module_names(tag)
    # Each look is one job; while an executor is still busy unpacking, all of a look's
    # tasks may run on the other one: keep what every executor said last.
    latest: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        latest.update({row["executor"]: row for row in _executors(spark, archive, names)})
        if len(latest) == 2 and all(row["extracted"] for row in latest.values()):
            break
        time.sleep(1)
    assert len(latest) == 2, latest
    assert all(row["extracted"] for row in latest.values()), latest
    assert not any(row["imported"] for row in latest.values()), "the warm-up imports nothing"
    # it knew it reached both (else it runs again, rounds that hold the executors' cores)
    while time.monotonic() < deadline and "executors warmed" not in caplog.text:
        time.sleep(0.5)
    assert "executors warmed: 2 of 2" in caplog.text, caplog.text
    # the driver's install finishes behind load(): its first import waits for it
    assert importlib.import_module("sdload_pure_warm").__file__.startswith(str(result.folder))


def test_without_warming_executors_extract_at_the_first_import(
    tmp_path: Path, sparkdeps_spark_manager: Any
) -> None:
    spark = sparkdeps_spark_manager.classic()
    tag = "_cold"
    result = load(
        _wheelhouse(tmp_path, tag), spark=spark, cache_dir=tmp_path / "cache", warm_executors=False
    )
    archive, names = archive_name(result.digest), module_names(tag)
    time.sleep(3)  # what a warm-up would have had, and more
    latest: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(latest) < 2 and time.monotonic() < deadline:
        latest.update({row["executor"]: row for row in _executors(spark, archive, names)})
    assert len(latest) == 2, latest
    assert not any(row["extracted"] for row in latest.values()), latest


def test_the_stub_zip_names_the_same_from_the_manifest_as_from_the_install(
    tmp_path: Path,
) -> None:
    """Executors are served from the manifest before the driver's install exists."""
    wheelhouse = _wheelhouse(tmp_path, "_stubs")
    result = load(wheelhouse, cache_dir=tmp_path / "cache", delivery="driver-only")
    planned = StubContents.of_manifest(read_manifest(wheelhouse))
    assert planned is not None
    assert planned == StubContents.of_install(result.folder)
    assert set(planned.names) == set(module_names("_stubs"))


def _imports(archive: str, names: list[str]) -> Any:
    def imports(_rows: Iterator[Any]) -> Iterator[str]:
        import builtins
        import importlib
        import os
        import sys

        from pyspark import SparkFiles

        compiled: list[str] = []
        original = builtins.compile

        def recording(source: Any, filename: Any, *args: Any, **kwargs: Any) -> Any:
            compiled.append(str(filename))
            return original(source, filename, *args, **kwargs)

        # split into the application's folder, above the executor's own (one per node)
        root = os.path.join(
            os.path.dirname(os.path.abspath(SparkFiles.getRootDirectory())), archive
        )
        site = os.path.join(root, "site")
        fresh = not any(name in sys.modules for name in names)  # a reused worker imported
        builtins.compile = recording  # what the import system compiles, while importing
        try:
            files = {name: importlib.import_module(name).__file__ for name in names}
        finally:
            builtins.compile = original
        yield json.dumps(
            {
                "executor": os.getcwd(),
                "fresh": fresh,
                "site": site,
                "wheels": os.path.join(root, "wheels"),
                "files": files,
                "compiled": [path for path in compiled if path.startswith(root)],
            }
        )

    return imports


def test_executors_import_the_bytecode_the_build_compiled(
    tmp_path: Path, sparkdeps_spark_manager: Any
) -> None:
    spark = sparkdeps_spark_manager.classic()
    tag = "_shippedpyc"
    wheels = load_test_wheels(tmp_path / "wheels", tag=tag)
    wheelhouse = make_wheelhouse(tmp_path / "runs", wheels, bytecode=True)
    assert read_manifest(wheelhouse).bytecode is not None
    result = load(wheelhouse, spark=spark, cache_dir=tmp_path / "cache")
    archive, names = archive_name(result.digest), module_names(tag)
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while len(seen) < 2 and time.monotonic() < deadline:
        rows = spark.sparkContext.parallelize(range(8), 8).mapPartitions(_imports(archive, names))
        for row in map(json.loads, rows.collect()):
            if row["fresh"]:
                seen.setdefault(row["executor"], row)
    assert len(seen) == 2, seen
    # pure wheels come from the wheel itself (docs/delivery.md, "In place"); .data/purelib
    # and the compiled ones are extracted; neither compiles anything
    in_place = {f"sdload_pure{tag}", f"sdload_single{tag}"}
    for row in seen.values():
        where = {
            name: "wheels" if str(path).startswith(row["wheels"]) else "site"
            for name, path in row["files"].items()
            if str(path).startswith((row["site"], row["wheels"]))
        }
        assert where == {name: "wheels" if name in in_place else "site" for name in names}, row
        assert row["compiled"] == [], f"compiled on the executor: {row['compiled']}"


@pytest.fixture
def warmings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every warm-up a load starts in this test, as :class:`Warming` handles."""
    from sparkdeps._runtime import routes

    made: list[Any] = []
    real = routes.warm_executors

    def recording(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(routes, "warm_executors", recording)
    return made


def test_a_job_right_after_load_comes_after_the_warm_up(
    tmp_path: Path, sparkdeps_spark_manager: Any, warmings: list[Any]
) -> None:
    # load returns once the warm-up's job is submitted: a job the caller submits next
    # gets a later id, and Spark's FIFO scheduler runs the warm-up's tasks first. Before,
    # the warm-up was submitted from its thread after the user's first job, and ran after
    # it, for nothing (seen in every benchmark sample with no pause after load).
    spark = sparkdeps_spark_manager.classic()
    load(_wheelhouse(tmp_path, "_order"), spark=spark, cache_dir=tmp_path / "cache")
    (warming,) = warmings
    context = spark.sparkContext
    context.setJobGroup("sdtest-first-job", "the caller's first job", False)
    try:
        assert context.parallelize(range(4), 4).map(lambda value: value + 1).sum() == 10
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)
    tracker = context.statusTracker()
    warm_jobs, first_jobs = (
        tracker.getJobIdsForGroup(group) for group in (warming.group, "sdtest-first-job")
    )
    assert warm_jobs and first_jobs
    assert min(warm_jobs) < min(first_jobs), (warm_jobs, first_jobs)
    assert warming.wait(120)


def _sql_executions(spark: Any) -> int:
    """The SQL queries this session's application has run (the SQL tab's count)."""
    return int(spark._jsparkSession.sharedState().statusStore().executionsCount())


def _worker_of(module: str) -> Any:
    def worker(_value: Any) -> str:
        import os
        import sys

        # imported in this worker by the warm-up's task: nothing else imports it before
        # a name of the wheelhouse, and this UDF imports none
        return json.dumps({"pid": os.getpid(), "warmed": module in sys.modules})

    return worker


def _each_value(function: Any) -> Any:
    """``function`` over a pandas Series, typed as ``pandas_udf`` reads the hints."""
    import pandas as pd

    def each(values: Any) -> Any:
        return values.map(function)

    each.__annotations__ = {"values": pd.Series, "return": pd.Series}
    return each


@pytest.mark.parametrize(
    ("delivery", "traceback"),
    [("classic", None), ("classic", "false"), ("shared", None)],
    ids=["wheels", "wheels-full-tracebacks", "shared"],
)
def test_the_first_udfs_run_in_the_python_workers_the_warm_up_started(
    tmp_path: Path,
    sparkdeps_spark_manager: Any,
    warmings: list[Any],
    delivery: str,
    traceback: str | None,
) -> None:
    # Spark keeps SQL's Python workers apart from an RDD's: SQL adds a variable to their
    # environment (docs/facts.md, fact 35). The warm-up is an RDD job, submitted at once
    # (nothing to plan), with SQL's environment: the caller's first UDFs, plain and
    # pandas, run in the workers it started (with the extraction under way, for shipped
    # wheels). Without SQL's environment each UDF started a worker of its own.
    from pyspark.sql.functions import col, pandas_udf, udf

    from sparkdeps._runtime.probe import plain_udf
    from sparkdeps._runtime.wheelpayload import boot_module

    spark = sparkdeps_spark_manager.classic()
    key = "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"
    if traceback is not None:
        spark.conf.set(key, traceback)
    before = dict(spark.sparkContext.environment)
    executions = _sql_executions(spark)
    try:
        result = load(
            _wheelhouse(tmp_path, f"_wk{delivery[0]}{len(traceback or '')}"),
            spark=spark,
            cache_dir=tmp_path / "cache",
            delivery=delivery,  # type: ignore[arg-type]
        )
        assert _sql_executions(spark) == executions, "load planned and ran a SQL query"
        assert spark.sparkContext.environment == before
        (warming,) = warmings
        assert warming.wait(120)
        assert warming.error is None and warming.executors == 2, warming
        worker = _worker_of(boot_module(result.digest))
        plain = plain_udf(udf, worker, "string")
        pandas = pandas_udf(_each_value(worker), "string")
        frame = spark.range(0, 2, 1, 2)
        rows = [json.loads(row[0]) for row in frame.select(plain(col("id"))).collect()]
        rows += [json.loads(row[0]) for row in frame.select(pandas(col("id"))).collect()]
    finally:
        spark.conf.unset(key)
    assert all(row["warmed"] for row in rows), rows


@pytest.mark.parametrize("setting", [None, "true"], ids=["unset", "set-by-the-user"])
def test_a_session_refusing_rdds_is_warmed_by_a_query_planned_without_generated_code(
    tmp_path: Path,
    sparkdeps_spark_manager: Any,
    monkeypatch: pytest.MonkeyPatch,
    warmings: list[Any],
    setting: str | None,
) -> None:
    # A classic session that refuses RDDs (Databricks' table access control refuses
    # ``parallelize``) is warmed by a SQL query instead. The driver compiles the generated
    # code of a fresh session's first query before its job can start; the warm-up's query
    # needs none. The session's own setting is back once load returns, whatever it was.
    from sparkdeps._runtime import warm

    frames: list[Any] = []
    real_frame = warm._frame

    def frame_recorded(*args: Any) -> Any:
        frames.append(real_frame(*args))
        return frames[-1]

    def refused(*_args: Any) -> Any:
        raise RuntimeError("Method public ... parallelize(...) is not whitelisted")

    monkeypatch.setattr(warm, "_rdd_job", refused)
    monkeypatch.setattr(warm, "_frame", frame_recorded)
    spark = sparkdeps_spark_manager.classic()
    key = "spark.sql.codegen.wholeStage"
    if setting is None:
        spark.conf.unset(key)
    else:
        spark.conf.set(key, setting)
    try:
        load(
            _wheelhouse(tmp_path, f"_cg{len(setting or '')}"),
            spark=spark,
            cache_dir=tmp_path / "cache",
        )
        assert spark.conf.get(key, None) == setting
        (frame,) = frames
        plan = frame._jdf.queryExecution().executedPlan().toString()
        assert "BatchEvalPython" in plan, plan
        assert "*(" not in plan, plan  # a whole-stage codegen stage prints as "*(n) ..."
        (warming,) = warmings
        assert warming.wait(120)
        assert warming.error is None and warming.executors == 2, warming
        # the user's next query is planned with the session's setting
        user = spark.range(4).selectExpr("id + 1 AS v")
        assert "*(" in user._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.unset(key)
