"""The job's transformation: add gross prices with the team's pricing rules."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType


@F.udf(DoubleType())
def _gross(net: float, country: str) -> float:
    import pricing_rules  # shipped by sparkdeps.load; not installed on the executors

    return pricing_rules.gross(net, country)


def with_gross(orders: DataFrame) -> DataFrame:
    return orders.withColumn("gross", _gross("net", "country"))


def main(spark: Any) -> None:  # the job's entry point on the cluster
    import sparkdeps

    sparkdeps.load(sparkdeps.wheelhouse_arg(), spark=spark)
    orders = spark.read.table("orders")
    with_gross(orders).write.mode("overwrite").saveAsTable("orders_gross")
