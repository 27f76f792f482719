"""The user task of the bundle: load the wheelhouse, then use it in UDFs.

Runs as a ``spark_python_task`` with
``--wheelhouse={{job.parameters.sparkdeps_base}}/job-{{job.run_id}}/wheelhouse.zip``
(set by sparkdeps.three_task_job; ``{{job.run_id}}`` resolves in every task type).
On serverless the task's environment has already installed the run's wheels
(``-r .../requirements.txt`` in its dependencies): ``load`` then ships nothing and
reports ``provided delivery`` (docs/delivery.md, "Already in the environment").
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

import sparkdeps

spark = SparkSession.builder.getOrCreate()
loaded = sparkdeps.load(sparkdeps.wheelhouse_arg(), spark=spark)
print(f"loaded {len(loaded.wheels)} wheels ({loaded.delivery} delivery)")


@F.udf(StringType())
def weekday(text: str) -> str:
    from dateutil import parser  # from the wheelhouse, on every executor

    return parser.parse(text).strftime("%A")


events = spark.createDataFrame(
    [("launch", "2024-02-29"), ("review", "March 4 2024"), ("ship", "2024-03-08T17:00")],
    ["event", "date"],
)
result = events.withColumn("weekday", weekday("date"))
result.show()
assert [row.weekday for row in result.collect()] == ["Thursday", "Monday", "Friday"]
