"""When ``auto`` installs once on shared storage (``_runtime/scale.py``, docs/delivery.md).

Databricks itself cannot run here: "on Databricks" is the documented
``DATABRICKS_RUNTIME_VERSION`` variable, the mounts (``/Volumes/<catalog>/<schema>/<volume>``,
``/dbfs``) are said present by a stand-in, and the session is a stand-in holding a real
pyspark ``SparkConf`` (pure Python without a JVM) and a fixed executor count. The
decision reads exactly those, so nothing else is imitated.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyspark import SparkConf

from sparkdeps._runtime import scale
from sparkdeps._runtime.scale import SHARED_FROM_EXECUTORS, auto_shares, planned_executors


def _mounted_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in: this node mounts /Volumes and /dbfs, as a Databricks cluster does."""
    monkeypatch.setattr(scale, "_mount_present", lambda root: True)


class _Status:
    def __init__(self, size: int) -> None:
        self._size = size

    def size(self) -> int:
        return self._size


class _Context:
    """What scale.py reads of a SparkContext: its conf and the executors registered."""

    def __init__(self, conf: dict[str, str], registered: int) -> None:
        self._conf = SparkConf(loadDefaults=False).setAll(list(conf.items()))
        self._registered = registered
        self._jsc = self

    def getConf(self) -> SparkConf:
        return self._conf

    def sc(self) -> _Context:
        return self

    def getExecutorMemoryStatus(self) -> _Status:
        return _Status(self._registered + 1)  # the driver's own block manager too


class _Session:
    def __init__(self, conf: dict[str, str] | None = None, registered: int = 2) -> None:
        self.sparkContext = _Context(conf or {}, registered)


@pytest.mark.parametrize(
    ("conf", "registered", "expected"),
    [
        ({}, 2, 2),
        (
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.maxExecutors": "400",
            },
            3,
            400,
        ),
        ({"spark.dynamicAllocation.enabled": "true"}, 3, 3),
        (
            {
                "spark.dynamicAllocation.enabled": "false",
                "spark.dynamicAllocation.maxExecutors": "400",
            },
            5,
            5,
        ),
    ],
    ids=["registered", "dynamic-maximum", "dynamic-without-maximum", "dynamic-off"],
)
def test_planned_executors(conf: dict[str, str], registered: int, expected: int) -> None:
    assert planned_executors(_Session(conf, registered)) == expected


@pytest.mark.parametrize(
    ("databricks", "uri", "executors", "expected"),
    [
        (True, "/Volumes/main/jobs/deps/run-1/wheelhouse.zip", SHARED_FROM_EXECUTORS, True),
        (True, "/dbfs/jobs/deps/run-1/wheelhouse.zip", 500, True),
        (True, "dbfs:/jobs/deps/run-1/wheelhouse.zip", 500, False),
        (True, "/Volumes/main/jobs/deps/run-1/wheelhouse.zip", SHARED_FROM_EXECUTORS - 1, False),
        (True, "/Workspace/Users/a/deps/wheelhouse.zip", 500, False),
        (True, "/local_disk0/deps/wheelhouse.zip", 500, False),
        (False, "/Volumes/main/jobs/deps/run-1/wheelhouse.zip", 500, False),
    ],
    ids=[
        "volume-at-threshold",
        "dbfs-mount-many",
        "dbfs-uri",
        "volume-below",
        "workspace",
        "local-disk",
        "not-databricks",
    ],
)
def test_auto_shares_only_at_scale_on_a_mount_every_node_sees(
    monkeypatch: pytest.MonkeyPatch, databricks: bool, uri: str, executors: int, expected: bool
) -> None:
    _mounted_here(monkeypatch)
    if databricks:
        monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    else:
        monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert auto_shares(uri, _Session(registered=executors)) is expected


def test_the_count_comes_from_the_session_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    _mounted_here(monkeypatch)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    uri = "/Volumes/main/jobs/deps/run-1/wheelhouse.zip"
    session: Any = _Session(
        {"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "1000"},
        registered=1,
    )
    assert auto_shares(uri, session)
    assert not auto_shares(uri, session, executors=10)
