"""A Spark job written the way a user writes one: load the wheelhouse, then work in UDFs.

On Databricks this is the ``spark_python_task`` of the three-task job, started with
``--wheelhouse={{job.parameters.sparkdeps_base}}/job-{{job.run_id}}/wheelhouse.zip``. Locally:

    sparkdeps build examples/inputs/packaged --dest /tmp/runs      # prints the URI
    python examples/job_script.py --wheelhouse /tmp/runs/<run id>/wheelhouse.zip

It needs the ``packaged`` example's wheelhouse (``acme_process`` and python-dateutil).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

import sparkdeps

ORDERS = [
    (1, "2024-01-05", 10.0),
    (2, "Jan 20 2024", 2.5),
    (3, "2024-02-29T09:15", 4.0),
    (4, "1 March 2024", 7.25),
    (5, "2024/03/31", 0.75),
    (6, "Feb 2 2024", 1.0),
]


@F.udf(StringType())
def iso_date(text):  # type: ignore[no-untyped-def]  (hints would make pyspark 4 guess a UDF kind)
    # Runs on the executors: dateutil comes from the wheelhouse sparkdeps shipped.
    from dateutil import parser

    return parser.parse(text).date().isoformat()


def monthly_totals(rows):  # type: ignore[no-untyped-def]
    # mapPartitions: the user's own packaged code, imported on each executor.
    from acme_process import process_data

    yield from process_data({"date": row.date, "amount": row.amount} for row in rows).items()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", help="write the results here as JSON")
    args, _ = parser.parse_known_args(argv)  # --wheelhouse is sparkdeps.wheelhouse_arg's

    spark = SparkSession.builder.appName("orders-by-month").getOrCreate()
    # The path: --wheelhouse (a dynamic value reference), else the process_deps task value.
    loaded = sparkdeps.load(sparkdeps.wheelhouse_arg(argv), spark=spark)
    print(f"loaded {len(loaded.wheels)} wheels, delivery={loaded.delivery}")

    orders = spark.createDataFrame(ORDERS, ["id", "date", "amount"]).repartition(3)
    dated = orders.withColumn("day", iso_date("date"))
    days = {row.id: row.day for row in dated.collect()}

    totals: dict[str, float] = {}
    for month, amount in orders.rdd.mapPartitions(monthly_totals).collect():
        totals[month] = totals.get(month, 0.0) + amount
    totals = dict(sorted(totals.items()))
    for month, amount in totals.items():
        print(f"{month}  {amount:8.2f}")

    if args.output:
        result = {"days": days, "totals": totals, "wheels": list(loaded.wheels)}
        Path(args.output).write_text(json.dumps(result, indent=2, sort_keys=True))
    spark.stop()
    return 0 if totals == {"2024-01": 12.5, "2024-02": 5.0, "2024-03": 8.0} else 1


if __name__ == "__main__":
    sys.exit(main())
