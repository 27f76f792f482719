"""``load`` plans a query of the warm-up's shape while it fetches (issue 25, round 12).

The JVM's first analysis and planning of a fresh session (about 1.5 s on this machine)
then lies behind the warm-up's own query, which can only be planned once the payload is
shipped. Real parts for the Spark tests: the shared ``local-cluster[2,1,1024]`` session.
The stand-ins below stand for what is not a classic session (Spark Connect plans on
its server) and for a session whose planning fails.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse

from sparkdeps._runtime import load as load_module
from sparkdeps._runtime import warm


class _ConnectLike:
    """A Spark Connect session has no JVM session on the client."""

    def range(self, *args: Any) -> Any:  # pragma: no cover - must not be called
        raise AssertionError("a Connect session was asked to plan on the client")


class _Failing:
    _jsparkSession = object()

    def range(self, *args: Any) -> Any:
        raise RuntimeError("the JVM went away")


def test_a_session_without_a_jvm_is_left_alone() -> None:
    assert warm.plan_ahead(_ConnectLike()) is None


def test_a_failed_plan_costs_only_the_head_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=warm.__name__)
    thread = warm.plan_ahead(_Failing())
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()
    assert "planning ahead of the warm-up failed" in caplog.text
    assert "the JVM went away" in caplog.text


@pytest.mark.spark
def test_planning_ahead_plans_the_warm_ups_shape_and_submits_nothing(
    sparkdeps_spark_manager: Any,
) -> None:
    spark = sparkdeps_spark_manager.classic()
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    thread = warm.plan_ahead(spark)
    assert thread is not None
    thread.join(120)
    assert not thread.is_alive()
    assert set(tracker.getJobIdsForGroup(None)) == before  # planned, never run
    plan = warm._plan_like_the_warm_up(spark)
    assert plan is not None and "BatchEvalPython" in plan, plan  # the warm-up's operator


@pytest.mark.spark
@pytest.mark.parametrize("warm_executors", [True, False], ids=["warm", "no-warm-up"])
def test_load_plans_ahead_only_for_a_warm_up(
    tmp_path: Path,
    sparkdeps_spark_manager: Any,
    monkeypatch: pytest.MonkeyPatch,
    warm_executors: bool,
) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(load_module, "plan_ahead", asked.append)
    spark = sparkdeps_spark_manager.classic()
    tag = "_ahead" if warm_executors else "_behind"
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "wheels", tag=tag))
    load_module.load(
        wheelhouse, spark=spark, cache_dir=tmp_path / "cache", warm_executors=warm_executors
    )
    assert asked == ([spark] if warm_executors else [])
