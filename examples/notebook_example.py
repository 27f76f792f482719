# Databricks notebook source
# MAGIC %md
# MAGIC # sparkdeps in a notebook
# MAGIC
# MAGIC This notebook is a user task of the three-task job (`process_deps` -> this notebook ->
# MAGIC `cleanup`). It installs sparkdeps, loads the wheelhouse that `process_deps` built, and
# MAGIC uses the packages in UDFs. In a notebook task the path needs no parameter: `load()`
# MAGIC reads the task value `wheelhouse_path` of the `process_deps` task. Run by hand, set
# MAGIC the `wheelhouse` widget to a path printed by `sparkdeps build`.

# COMMAND ----------

# MAGIC %pip install sparkdeps

# COMMAND ----------

dbutils.widgets.text("wheelhouse", "")  # noqa: F821 - dbutils is the notebook's

# COMMAND ----------

import sparkdeps  # noqa: E402 - a notebook imports in the cell that uses it

path = dbutils.widgets.get("wheelhouse") or None  # noqa: F821
loaded = sparkdeps.load(path, spark=spark)  # noqa: F821 - spark is the notebook's
print(f"{len(loaded.wheels)} wheels from {loaded.uri}, delivery: {loaded.delivery}")

# COMMAND ----------

# MAGIC %md Every executor imports the packages from what sparkdeps shipped:

# COMMAND ----------

report = sparkdeps.verify(spark)  # noqa: F821
print(f"{len(report.executors)} executors, all imports ok: {report.ok}")

# COMMAND ----------

from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import StringType  # noqa: E402


@F.udf(StringType())
def weekday(text):
    from dateutil import parser  # from the wheelhouse

    return parser.parse(text).strftime("%A")


display(  # noqa: F821
    spark.createDataFrame([("2024-02-29",), ("March 4 2024",)], ["date"]).withColumn(  # noqa: F821
        "weekday", weekday("date")
    )
)
