"""Executors ready before the first UDF: their extraction started at load, in the background.

A classic ``wheels`` delivery leaves each executor to unpack the wheelhouse at the
first import of one of its names (``bootstrap.py``). That first import sits inside
the user's first UDF, and on W1 it is most of the gap to the packed-venv peer
(benchmarks/RESULTS.md, issue 25). :func:`warm_executors` starts a small job on the
live executors as soon as the payload is shipped: each task imports the bootstrap
module and calls its ``warm``, which checks the wheels, writes their metadata and
starts extracting every wheel on a low-priority thread of that Python worker, then
returns: the task holds the executor's slot for milliseconds. The job runs on a
daemon thread, so ``load`` (and the driver's own work after it) goes on; a UDF that
arrives first extracts what it imports itself, or waits for the one wheel being
extracted, never for a second extraction. Executors that join later (dynamic
allocation) pay at their first import, as before. Nothing here raises: a failed
warm-up leaves the first import to do the work, which reports any real problem where
the user sees it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .probe import plain_udf
from .scale import from_every_executor, registered_executors

__all__ = ["Warming", "warm_executors"]

logger = logging.getLogger(__name__)

_MAX_TASKS = 512
_DESCRIPTION = "sparkdeps: preparing the executors for wheelhouse {digest}"


@dataclass
class Warming:
    """The background warm-up of one load: a handle, not a value (it changes as it runs)."""

    tasks: int
    wanted: int
    """The executors registered when the warm-up started."""
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
    """The UDF: runs on executors (no sparkdeps there), so stdlib only, shipped by value.

    A plain SQL UDF, not an RDD task: Spark keeps separate Python workers for the two
    (their environments differ), and the user's first UDF then finds this one's worker
    started, the wheelhouse on its path."""

    def warm(_row: Any) -> str:
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
    """Start extracting on every live executor of a classic ``spark``; None when there
    are none to warm. ``module`` is the stub zip's bootstrap module."""
    context = getattr(spark, "sparkContext", spark)
    executors = _executor_count(context)
    if executors == 0:
        logger.debug("no executors registered yet: each extracts at its first import")
        return None
    # Two tasks per executor, so the scheduler spreads them to every one of them.
    tasks = min(_MAX_TASKS, 2 * executors)
    warming = Warming(tasks, executors)
    thread_type = _thread_type()
    thread = thread_type(
        target=_run, args=(spark, module, digest, warming), name="sparkdeps-warm", daemon=True
    )
    thread.start()
    return warming


def _thread_type() -> Callable[..., threading.Thread]:
    try:
        # pyspark's thread carries the caller's local properties (job group, pool) to the JVM
        from pyspark import InheritableThread  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pyspark < 3.2
        return threading.Thread
    return InheritableThread


def _run(spark: Any, module: str, digest: str, warming: Warming) -> None:
    try:
        from pyspark.sql.functions import col, udf  # noqa: PLC0415
        from pyspark.sql.types import StringType  # noqa: PLC0415

        spark.sparkContext.setJobDescription(_DESCRIPTION.format(digest=digest[:16]))
        warm = plain_udf(udf, _warm_body(module), StringType())
        frame = spark.range(0, warming.tasks, 1, warming.tasks).select(warm(col("id")))
        places = from_every_executor(
            lambda: [str(row[0]) for row in frame.collect()], str, warming.wanted
        )
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
