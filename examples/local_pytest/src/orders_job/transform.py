"""The job's transformations: gross prices with the team's pricing rules, and a report."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType


def with_gross(orders: DataFrame) -> DataFrame:
    """Each order with its gross price (net plus the country's VAT, in cents)."""

    # Made per call, not at import: a UDF object belongs to the kind of session (classic
    # or Connect) active when it was made, and the tests run this module on both. Nested,
    # so the function travels by value and executors need only pricing_rules.
    def gross(net, country):  # no hints: pyspark 4.3 would read them as a pandas UDF's
        import pricing_rules  # shipped by sparkdeps.load; not installed on the executors

        return pricing_rules.gross(net, country)

    return orders.withColumn("gross", F.udf(gross, DoubleType())("net", "country"))


def totals_by_country(orders: DataFrame) -> DataFrame:
    """The report: per country, how many orders and their net and gross sums."""
    return (
        with_gross(orders)
        .groupBy("country")
        .agg(
            F.count("*").alias("orders"),
            F.sum("net").alias("net"),
            F.sum("gross").alias("gross"),
        )
    )


def main(spark: Any) -> None:  # the job's entry point on the cluster
    import sparkdeps

    sparkdeps.load(sparkdeps.wheelhouse_arg(), spark=spark)
    orders = spark.read.table("orders")
    with_gross(orders).write.mode("overwrite").saveAsTable("orders_gross")
    totals_by_country(orders).write.mode("overwrite").saveAsTable("orders_report")
