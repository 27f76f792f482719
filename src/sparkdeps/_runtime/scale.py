"""When ``delivery="auto"`` installs once on shared storage instead of shipping per executor.

A classic ``wheels`` delivery sends the whole wheelhouse from the driver to every
executor (1.0x its bytes each: benchmarks/RESULTS.md), and each executor unpacks it.
A ``shared`` install is written once beside the wheelhouse, on storage every node
mounts, and only the stub zip (about 7 KB) travels. The driver's egress grows with the
executors under the first and stays flat under the second; the second pays a fixed
cost instead (writing and compiling the install on that storage, and executors
importing over it). The crossover on paper, from the per-executor figures measured
here (docs/delivery.md, "At scale"):

    N* = shared_extra_seconds * driver_egress_bytes_per_second / wheelhouse_bytes

With W1 (25.2 MB), a driver serving about 400 MB/s and a shared install costing about
6 s more than a local one (a FUSE mount writes small files slowly: an estimate, not a
measurement), N* is about 100 executors. ``auto`` takes ``shared`` only where that many
executors are planned and the wheelhouse already lies on a Databricks mount every node
sees (``/Volumes``, ``/dbfs``); everywhere else it ships as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from .._core.databricks import is_databricks
from .._core.storage.choose import databricks_root
from .._core.storage.local import DBFS_MOUNT, as_path

__all__ = [
    "ROUND_PAUSES",
    "SHARED_FROM_EXECUTORS",
    "auto_shares",
    "from_every_executor",
    "mounted_path",
    "planned_executors",
    "registered_executors",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SHARED_FROM_EXECUTORS = 100
"""The planned executors from which ``auto`` installs once on shared storage (see above)."""


def planned_executors(spark: Any) -> int:
    """The executors this classic session may run: the dynamic-allocation maximum where
    it is on, else the executors registered now (the driver's own entry is not one)."""
    context = spark.sparkContext
    conf = context.getConf()
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        maximum = conf.get("spark.dynamicAllocation.maxExecutors", None)
        if maximum is not None and maximum.strip().isdigit():
            return int(maximum)
    return registered_executors(context) or 0


ROUND_PAUSES = (1.0, 2.0)
"""Pauses before the second and third rounds of :func:`from_every_executor`."""


def from_every_executor(
    run: Callable[[], Iterable[T]], executor_of: Callable[[T], str], wanted: int | None
) -> list[T]:
    """What ``run`` (one Spark job) returns, asked again until ``wanted`` executors answered.

    Spark cannot be told where a task runs: an executor busy with another job's task, or
    still starting its first Python worker, takes none of a round's tasks while another
    runs them all. So ask again after a pause, up to three rounds and 3 s of pauses;
    ``wanted`` None (not known: Spark Connect) means one round."""
    answers = list(run())
    for pause in ROUND_PAUSES:
        answered = {executor_of(answer) for answer in answers}
        if wanted is None or len(answered) >= wanted:
            break
        logger.debug("%d of %d executors answered; asking again", len(answered), wanted)
        time.sleep(pause)
        answers += run()
    return answers


def registered_executors(context: Any) -> int | None:
    """Executors registered with a SparkContext now (its block managers but the
    driver's own); None where the JVM view is not there to ask."""
    try:
        return max(0, int(context._jsc.sc().getExecutorMemoryStatus().size()) - 1)
    except Exception:
        return None


def auto_shares(uri: str, spark: Any, *, executors: int | None = None) -> bool:
    """Should ``auto`` install ``uri`` once beside itself for this classic session?

    Only on Databricks, for a wheelhouse on a mount every node sees, and from
    :data:`SHARED_FROM_EXECUTORS` planned executors (``executors``: that count, given)."""
    if not is_databricks():
        return False
    local = mounted_path(uri)
    if local is None:
        return False
    planned = planned_executors(spark) if executors is None else executors
    if planned < SHARED_FROM_EXECUTORS:
        return False
    logger.info(
        "%d executors planned and the wheelhouse on %s: installing once beside it "
        "(delivery 'shared'; pass delivery='classic' to ship to each executor instead)",
        planned,
        local.parent,
    )
    return True


def mounted_path(uri: str) -> Path | None:
    """``uri`` as a path on a Databricks mount this node has and every node sees: a Unity
    Catalog volume or ``/dbfs``. None for anything else: ``dbfs:`` URIs (served through
    dbutils, without a local path, as ``delivery="shared"`` refuses them too),
    ``/Workspace`` files, local disks, object storage."""
    if urlparse(uri).scheme not in ("", "file"):
        return None
    path = as_path(uri).absolute()
    if path.parts[:2] == ("/", "dbfs"):
        return path if _mount_present(DBFS_MOUNT) else None
    root = databricks_root(path)
    if root is None or root.parts[1] != "Volumes" or not _mount_present(root):
        return None
    return path


def _mount_present(root: Path) -> bool:
    return root.is_dir()
