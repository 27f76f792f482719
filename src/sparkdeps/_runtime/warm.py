"""Executors ready before the first UDF: their extraction started at load, in the background.

A classic ``wheels`` delivery leaves each executor to unpack the wheelhouse at the
first import of one of its names (``bootstrap.py``). That first import sits inside
the user's first UDF, and on W1 it is most of the gap to the packed-venv peer
(benchmarks/RESULTS.md, issue 25). :func:`warm_executors` starts a small job on the
live executors as soon as the payload is shipped: each task imports the bootstrap
module and calls its ``warm``, which checks the wheels, writes their metadata and
starts extracting every wheel on a low-priority thread of that Python worker, then
returns: the task holds the executor's slot for milliseconds.

The job is an RDD's, made with the environment Spark gives SQL's Python workers
(docs/facts.md, fact 35): it needs no planning, so it is submitted at once, and the
user's first UDFs then run in the Python workers its tasks started, where the
extraction goes on. A session that refuses RDDs is warmed by a one-row-per-executor
SQL query instead, analysed in ``load``'s thread. Either way ``load`` returns once the
job is submitted, so the user's first job comes after it; ``load`` (and the driver's
own work after it) does not wait for it to run; a UDF that arrives first extracts what
it imports itself, or waits for the one wheel being extracted, never for a second
extraction. Executors that join later (dynamic allocation) pay at their first import,
as before. Nothing here raises: a failed warm-up leaves the first import to do the
work, which reports any real problem where the user sees it.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .probe import plain_udf
from .scale import from_every_executor, registered_executors

__all__ = ["Warming", "warm_executors"]

logger = logging.getLogger(__name__)

_MAX_TASKS = 512
_GROUPS = itertools.count(1)
_DESCRIPTION = "sparkdeps: preparing the executors for wheelhouse {digest}"


@dataclass
class Warming:
    """The background warm-up of one load: a handle, not a value (it changes as it runs)."""

    tasks: int
    wanted: int
    """The executors registered when the warm-up started."""
    group: str = ""
    """The Spark job group of the warm-up's jobs (``sparkdeps-warm-<digest16>-<n>``)."""
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None
    """Job start to its end, once it ended."""
    executors: int = 0
    """Distinct executors whose task ran (each extracted or found the folder made)."""
    error: str | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the warm-up ended (done or failed)."""
        return self._done.wait(timeout)


def _warm_body(module: str) -> Callable[[Any], str]:
    """The task's function: runs on executors (no sparkdeps there), so stdlib only,
    shipped by value; the same for the RDD's elements and the SQL query's rows."""

    def warm(_value: Any) -> str:
        from pyspark import SparkFiles  # noqa: PLC0415

        boot = importlib.import_module(module)
        boot.warm()  # prepares this executor, extracts on a background thread
        # one per executor process; relative (".", the executor's work folder) on some
        # cluster managers, so made absolute
        return os.path.realpath(SparkFiles.getRootDirectory())

    return warm


def _executor_count(context: Any) -> int:
    """Executors registered now; without the JVM view, a guess from the parallelism."""
    registered = registered_executors(context)
    if registered is None:
        return max(1, int(getattr(context, "defaultParallelism", 1)))
    return registered


def warm_executors(spark: Any, module: str, digest: str) -> Warming | None:
    """Start each live executor's Python worker in SQL's pool, and there the extraction
    of a shipped wheelhouse (a ``shared`` one has none), for a classic ``spark``; None
    when there are none to warm. ``module`` is the stub zip's bootstrap module."""
    context = getattr(spark, "sparkContext", spark)
    executors = _executor_count(context)
    if executors == 0:
        logger.debug("no executors registered yet: each extracts at its first import")
        return None
    # One task per executor: Spark offers each idle executor one task of a round before
    # any gets a second, and a second task on each would hold back the first UDF by a
    # task's start on every executor (issue 25, round 8). One that was busy is asked
    # again (from_every_executor).
    tasks = min(_MAX_TASKS, executors)
    warming = Warming(tasks, executors, f"sparkdeps-warm-{digest[:16]}-{next(_GROUPS)}")
    try:
        job = _rdd_job(spark, context, module, tasks)
    except Exception:  # a classic session that refuses RDDs (table access control)
        logger.debug("no RDD for the warm-up; a SQL query instead", exc_info=True)
        return _warm_by_query(spark, context, module, digest, warming)
    _start(spark, context, job, digest, warming)
    return warming


def _warm_by_query(
    spark: Any, context: Any, module: str, digest: str, warming: Warming
) -> Warming | None:
    try:
        frame = _frame(spark, module, warming.tasks)
    except Exception:  # the first import does the work and reports the problem
        logger.debug("warming the executors failed; the first import extracts", exc_info=True)
        return None
    with _without_generated_code(spark):
        _start(spark, context, lambda: [str(row[0]) for row in frame.collect()], digest, warming)
    return warming


def _start(
    spark: Any, context: Any, job: Callable[[], list[str]], digest: str, warming: Warming
) -> None:
    """Run ``job`` on a background thread; return once it is submitted."""
    thread_type = _thread_type()
    thread = thread_type(
        target=_run, args=(spark, job, digest, warming), name="sparkdeps-warm", daemon=True
    )
    thread.start()
    _until_submitted(context, warming)


_TRACEBACK_ENV = "SPARK_SIMPLIFIED_TRACEBACK"
_TRACEBACK_CONF = "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"


def _sql_worker_env(spark: Any) -> dict[str, str]:
    """What Spark adds to the environment of SQL's Python workers only (fact 35)."""
    try:
        enabled = str(spark.conf.get(_TRACEBACK_CONF, "true")).strip().lower() == "true"
    except Exception:  # a session that hides the setting: Spark's default
        enabled = True
    return {_TRACEBACK_ENV: "1"} if enabled else {}


def _rdd_job(spark: Any, context: Any, module: str, tasks: int) -> Callable[[], list[str]]:
    """The warm-up as an RDD job in SQL's Python workers: one element per task.

    pyspark copies ``SparkContext.environment`` into the RDD's Python function when it
    makes the RDD's JVM side (``_jrdd``), made here with SQL's variable added and the
    dictionary put back at once; a UDF another thread wraps in that instant gets the
    variable its workers get from Spark anyway."""
    rdd = context.parallelize(range(tasks), tasks).map(_warm_body(module))
    extra = _sql_worker_env(spark)
    environment = context.environment
    saved = {key: environment.get(key) for key in extra}
    environment.update(extra)
    try:
        rdd._jrdd  # noqa: B018 - made now, with the environment above
    finally:
        for key, value in saved.items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
    return rdd.collect  # type: ignore[no-any-return]


_CODEGEN = "spark.sql.codegen.wholeStage"


@contextlib.contextmanager
def _without_generated_code(spark: Any) -> Iterator[None]:
    """The warm-up's query planned without whole-stage code generation, the session's own
    setting back once its job is submitted. On a fresh session the driver compiles the
    generated code of the first query before its job can start (0.4 s here: issue 25,
    round 9); the warm-up's one row per executor needs none, and the user's first query
    compiles its own while the executors run the warm-up. A query that another thread
    plans meanwhile on this session runs without generated code: correct, a little
    slower."""
    conf = getattr(spark, "conf", None)
    try:
        before = conf.get(_CODEGEN, None) if conf is not None else None
        if conf is not None:
            conf.set(_CODEGEN, "false")
    except Exception:  # a session that refuses the setting: planned as any query
        logger.debug("cannot turn off code generation for the warm-up", exc_info=True)
        conf = None
    try:
        yield
    finally:
        if conf is not None:
            try:
                conf.unset(_CODEGEN) if before is None else conf.set(_CODEGEN, before)
            except Exception:  # pragma: no cover - it took the same key a moment ago
                logger.warning("could not restore %s=%s on the session", _CODEGEN, before)


_SUBMIT_WAIT_S = 5.0
"""At most this long, ``load`` waits for the warm-up's job to be submitted (not run)."""


def _until_submitted(context: Any, warming: Warming) -> None:
    """Return once the warm-up's job has an id: a job the caller submits after ``load``
    then comes after it, and Spark's FIFO scheduler gives each executor's slot to the
    warm-up first. Without the wait a UDF collected right after ``load`` was submitted
    first, took every slot, and the warm-up ran after it, for nothing (issue 25)."""
    deadline = time.monotonic() + _SUBMIT_WAIT_S
    try:
        tracker = context.statusTracker()
        while not tracker.getJobIdsForGroup(warming.group) and not warming.wait(0.01):
            if time.monotonic() > deadline:
                logger.debug("the warm-up's job is not submitted yet; load goes on")
                return
    except Exception:  # the job goes on either way; only its order is at stake
        logger.debug("cannot follow the warm-up's job", exc_info=True)


def _thread_type() -> Callable[..., threading.Thread]:
    try:
        # pyspark's thread carries the caller's local properties (job group, pool) to the JVM
        from pyspark import InheritableThread  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pyspark < 3.2
        return threading.Thread
    return InheritableThread


def _frame(spark: Any, module: str, tasks: int) -> Any:
    """The warm-up's query, analysed here in the caller's thread: the background thread
    then only submits it, before the user's first job is even analysed (else that job,
    submitted first, took every executor's slot and the warm-up ran after it)."""
    from pyspark.sql.functions import col, udf  # noqa: PLC0415
    from pyspark.sql.types import StringType  # noqa: PLC0415

    warm = plain_udf(udf, _warm_body(module), StringType())
    return spark.range(0, tasks, 1, tasks).select(warm(col("id")))


def _run(spark: Any, job: Callable[[], list[str]], digest: str, warming: Warming) -> None:
    try:
        description = _DESCRIPTION.format(digest=digest[:16])
        spark.sparkContext.setJobGroup(warming.group, description, interruptOnCancel=False)
        places = from_every_executor(job, str, warming.wanted)
        warming.executors = len(set(places))
        logger.debug(
            "executors warmed: %d of %d in %.2fs",
            warming.executors, warming.wanted, time.perf_counter() - warming.started,
        )  # fmt: skip
    except Exception as exc:  # the first import does the work and reports the problem
        warming.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}"
        logger.debug("warming the executors failed; the first import extracts", exc_info=True)
    finally:
        warming.seconds = time.perf_counter() - warming.started
        warming._done.set()
