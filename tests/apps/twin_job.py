"""An end-to-end job, run by pytest INSIDE a runtime twin (tests/runtime/test_twin_spark.py copies it as test_job.py).

Uses the sparkdeps pytest plugin's fixtures: since pytest runs inside a twin, the
executors run the twin's interpreter too. Loads $E2E_WHEELHOUSE, runs a plain UDF and
a pandas_udf that use its packages, and writes what the driver and the executors saw
to $E2E_OUT (the outer test asserts on it). $E2E_MODE: classic or connect.
"""

# No `from __future__ import annotations`: pyspark reads the pandas_udf's type hints
# at run time, and a nested function's string hints cannot be resolved.
import json
import os
import sys
from typing import Any


def test_job(request: Any, sparkdeps_load: Any, sparkdeps_spark_manager: Any) -> None:
    import pandas as pd
    from pyspark.sql.functions import col, pandas_udf, udf

    import sparkdeps

    mode = os.environ["E2E_MODE"]
    spark = request.getfixturevalue("sparkdeps_connect" if mode == "connect" else "sparkdeps_spark")
    result = sparkdeps_load(os.environ["E2E_WHEELHOUSE"], spark)
    import numpy
    import sdtest_cext
    import sdtest_npuser

    # defined here: cloudpickle ships a closure by value (a module-level
    # function would be pickled by reference to this test module)
    def facts(_row: Any) -> str:
        import json
        import os
        import sys

        import numpy
        import pandas
        import pyarrow
        import sdtest_cext
        import sdtest_npuser

        try:
            from pyspark import SparkFiles

            root = SparkFiles.getRootDirectory()
        except Exception:
            root = None
        return json.dumps(
            {
                "python": sys.executable,
                "cwd": os.getcwd(),
                "root": root,
                "numpy": numpy.__version__,
                "pandas": pandas.__version__,
                "pyarrow": pyarrow.__version__,
                "cext": sdtest_cext.__file__,
                "npuser": sdtest_npuser.__file__,
                "mean": sdtest_npuser.mean([1, 2, 3]),
            }
        )

    plain = udf(facts, "string")
    reports = [
        json.loads(row[0]) for row in spark.range(0, 8, 1, 8).select(plain(col("id"))).collect()
    ]

    @pandas_udf("double")  # type: ignore[misc]
    def shifted(ids: pd.Series) -> pd.Series:
        import sdtest_cext
        import sdtest_npuser

        return ids.apply(lambda v: float(sdtest_cext.add(int(v), 1)) + sdtest_npuser.mean([0, 2]))

    values = sorted(row[0] for row in spark.range(0, 6, 1, 3).select(shifted(col("id"))).collect())
    verified = sparkdeps.verify(spark, ["sdtest_cext", "sdtest_npuser"])
    seen = {
        "executor_python": str(sparkdeps_spark_manager.python),
        "driver": {
            "python": sys.executable,
            "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "numpy": numpy.__version__,
            "pandas": pd.__version__,
            "cext": sdtest_cext.__file__,
            "npuser": sdtest_npuser.__file__,
            "folder": str(result.folder),
            "delivery": result.delivery,
        },
        "reports": reports,
        "values": values,
        "verified": verified.ok,
    }
    with open(os.environ["E2E_OUT"], "w", encoding="utf-8") as handle:
        json.dump(seen, handle, indent=1)
