"""Load on the sandboxed Connect stand-in (run by tests/runtime/test_sandbox.py in its own process).

The stand-in (docs/delivery.md, ``sparkdeps.testing.localspark.sandboxed_connect_session``)
is a Spark Connect session whose Python workers cannot see the session's artifacts,
as reported of Databricks serverless (docs/facts.md, facts 17 and 19). Its JVM keeps
the sandboxed workers for the life of the process, so these cases run in a pytest
process of their own: ``python -m pytest tests/apps/sandbox_cases.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names

from sparkdeps._core.errors import DeliveryError
from sparkdeps._runtime.load import load

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]


def _udf_imports(spark: Any, names: list[str]) -> list[str]:
    """Each worker imports ``names`` in a plain UDF: the files they came from."""
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import StringType

    def where(_index: int) -> str:
        import importlib

        return ";".join(str(importlib.import_module(name).__file__) for name in names)

    frame = spark.range(0, 2, 1, 2).select(udf(where, StringType(), useArrow=False)(col("id")))
    return [str(row[0]) for row in frame.collect()]


def test_default_delivery_fails_at_load_or_works_in_udfs(
    sparkdeps_sandboxed_connect: Any, tmp_path: Any
) -> None:
    """Never a green load and a failing UDF: load raises, or the UDF imports the wheelhouse."""
    spark = sparkdeps_sandboxed_connect
    tag = "_sbdefault"
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag=tag))
    try:
        result = load(wheelhouse, spark=spark, cache_dir=tmp_path / "cache")
    except DeliveryError as exc:
        assert "environment" in str(exc), f"the error must name the route that fits: {exc}"
        return
    files = _udf_imports(spark, module_names(tag))
    assert files, f"load() reported delivery={result.delivery} and the UDF imported nothing"
