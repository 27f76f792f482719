"""The job's tests, in the pyspark testing dialect: chispa compares whole DataFrames.

``sparkdeps_session`` runs each test twice, on a local-cluster session and on Spark
Connect; chispa only collects rows and reads schemas, so it works on both.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from chispa.dataframe_comparer import DataFramesNotEqualError
from chispa.schema_comparer import assert_schema_equality
from orders_job.transform import totals_by_country, with_gross
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

import sparkdeps

ORDERS = [(1, 100.0, "DE"), (2, 10.0, "FR"), (3, 19.99, "NL"), (4, 5.0, "DE")]
ORDERS_SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("net", DoubleType()),
        StructField("country", StringType()),
    ]
)
GROSS_SCHEMA = StructType([*ORDERS_SCHEMA.fields, StructField("gross", DoubleType())])
REPORT_SCHEMA = StructType(
    [
        StructField("country", StringType()),
        StructField("orders", LongType(), nullable=False),  # count(*) is never null
        StructField("net", DoubleType()),
        StructField("gross", DoubleType()),
    ]
)
REPORT = [("DE", 2, 105.0, 124.95), ("FR", 1, 10.0, 12.0), ("NL", 1, 19.99, 24.19)]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def orders(sparkdeps_session: Any) -> Any:
    return sparkdeps_session.createDataFrame(ORDERS, ORDERS_SCHEMA).repartition(4)


def test_executors_cannot_import_before_load(sparkdeps_session: Any) -> None:
    # The plugin's executors run a clean interpreter: this is what makes the next tests honest.
    with pytest.raises(sparkdeps.VerificationError, match="No module named 'pricing_rules'"):
        sparkdeps.verify(sparkdeps_session, ["pricing_rules"])


def test_gross_prices_on_every_executor(
    sparkdeps_session: Any, sparkdeps_load: Any, wheelhouse: str, orders: Any
) -> None:
    loaded = sparkdeps_load(wheelhouse, sparkdeps_session)
    assert "pricing_rules" in loaded.top_level

    expected = sparkdeps_session.createDataFrame(
        [
            (1, 100.0, "DE", 119.0),
            (2, 10.0, "FR", 12.0),
            (3, 19.99, "NL", 24.19),
            (4, 5.0, "DE", 5.95),
        ],
        GROSS_SCHEMA,
    )
    # Exact: the rules round to cents. Schema included: a changed type or name fails too.
    assert_df_equality(with_gross(orders), expected, ignore_row_order=True)

    report = sparkdeps.verify(sparkdeps_session, ["pricing_rules"])
    assert report.ok, report


def test_report_by_country(
    sparkdeps_session: Any, sparkdeps_load: Any, wheelhouse: str, orders: Any
) -> None:
    sparkdeps_load(wheelhouse, sparkdeps_session)
    report = totals_by_country(orders)
    # The job changes the schema: check it on its own, so a failure names the column.
    assert_schema_equality(report.schema, REPORT_SCHEMA)
    # Sums of floats: 119.0 + 5.95 is not exactly 124.95, so compare within a precision.
    expected = sparkdeps_session.createDataFrame(REPORT, REPORT_SCHEMA)
    assert_approx_df_equality(report, expected, precision=1e-9, ignore_row_order=True)


def test_a_wrong_expectation_fails_with_chispa_diff(
    sparkdeps_session: Any, sparkdeps_load: Any, wheelhouse: str, orders: Any
) -> None:
    sparkdeps_load(wheelhouse, sparkdeps_session)
    wrong = [row if row[0] != "FR" else ("FR", 1, 10.0, 12.5) for row in REPORT]
    expected = sparkdeps_session.createDataFrame(wrong, REPORT_SCHEMA)
    with pytest.raises(DataFramesNotEqualError) as failure:
        assert_approx_df_equality(
            totals_by_country(orders), expected, precision=1e-9, ignore_row_order=True
        )
    message = str(failure.value)
    assert "\x1b[31m" in message  # the differing cells are red (and underlined)
    lines = ANSI.sub("", message).splitlines()
    [fr] = [line for line in lines if "country=FR" in line]
    assert "gross=12.0" in fr and "gross=12.5" in fr  # actual left, expected right
    assert any("country=DE" in line for line in lines)  # equal rows are shown too, in blue


def test_the_same_check_with_pyspark_testing(
    sparkdeps_session: Any, sparkdeps_load: Any, wheelhouse: str, orders: Any
) -> None:
    # pyspark >= 3.5 has its own; it imports pyspark.pandas first when pandas and pyarrow
    # are installed, which fails on pyspark 4.0.x with pandas 3 (see README).
    testing = pytest.importorskip("pyspark.testing", reason="pyspark < 3.5")
    try:
        import pyspark.pandas  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"assertDataFrameEqual cannot run here: pyspark.pandas: {exc}")
    sparkdeps_load(wheelhouse, sparkdeps_session)
    expected = sparkdeps_session.createDataFrame(REPORT, REPORT_SCHEMA)
    testing.assertDataFrameEqual(
        totals_by_country(orders), expected, checkRowOrder=False, rtol=1e-9, atol=0.0
    )


@pytest.mark.parametrize(
    ("net", "country", "gross"), [(1.0, "DE", 1.19), (3.0, "NL", 3.63)], ids=["de", "nl"]
)
def test_rules_on_the_driver(
    wheelhouse: str, sparkdeps_load: Any, net: float, country: str, gross: float
) -> None:
    sparkdeps_load(wheelhouse)
    import pricing_rules

    assert pricing_rules.gross(net, country) == gross
