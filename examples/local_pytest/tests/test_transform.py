from __future__ import annotations

from typing import Any

import pytest
from orders_job.transform import with_gross

import sparkdeps

ORDERS = [(1, 100.0, "DE"), (2, 10.0, "FR"), (3, 19.99, "NL"), (4, 5.0, "DE")]


def test_executors_cannot_import_before_load(sparkdeps_spark: Any) -> None:
    # The plugin's executors run a clean interpreter: this is what makes the next test honest.
    with pytest.raises(sparkdeps.VerificationError, match="No module named 'pricing_rules'"):
        sparkdeps.verify(sparkdeps_spark, ["pricing_rules"])


def test_gross_prices_on_every_executor(
    sparkdeps_spark: Any, sparkdeps_load: Any, wheelhouse: str
) -> None:
    loaded = sparkdeps_load(wheelhouse, sparkdeps_spark)
    assert "pricing_rules" in loaded.top_level

    orders = sparkdeps_spark.createDataFrame(ORDERS, ["id", "net", "country"]).repartition(4)
    result = {row.id: row.gross for row in with_gross(orders).collect()}
    assert result == {1: 119.0, 2: 12.0, 3: 24.19, 4: 5.95}

    report = sparkdeps.verify(sparkdeps_spark, ["pricing_rules"])
    assert report.ok, report
    assert len(report.executors) == 2


@pytest.mark.parametrize(
    ("net", "country", "gross"), [(1.0, "DE", 1.19), (3.0, "NL", 3.63)], ids=["de", "nl"]
)
def test_rules_on_the_driver(
    wheelhouse: str, sparkdeps_load: Any, net: float, country: str, gross: float
) -> None:
    sparkdeps_load(wheelhouse)
    import pricing_rules

    assert pricing_rules.gross(net, country) == gross
