"""Connect delivery: ``SparkSession.builder.remote("local[2]")``, workers on a clean venv.

Spark Connect sessions have no SparkContext (docs/facts.md, fact 4), like Databricks
serverless; sparkdeps ships the wheelhouse as an archive artifact unpacked into the
session folder (the worker's cwd) and a stub zip as a pyfile; the first import
extracts the wheels there. The test checks that ``__file__`` lies in that folder
and not in any site-packages, for a compiled package too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import (
    load_test_wheels,
    make_wheelhouse,
    module_names,
    restored_imports,
)

from sparkdeps._core.results import LoadResult
from sparkdeps._runtime.delivery import is_connect
from sparkdeps._runtime.load import load
from sparkdeps._runtime.verify import run_probe, verify

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]
TAG = "_connect"


@pytest.fixture(scope="module")
def connect_loaded(
    tmp_path_factory: pytest.TempPathFactory, sparkdeps_spark_manager: Any
) -> tuple[Any, LoadResult]:
    from sparkdeps.testing.pytest_plugin import _connect_missing

    reason = _connect_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("connect")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))
    spark = sparkdeps_spark_manager.connect()
    return spark, load(wheelhouse, spark=spark, cache_dir=root / "cache")


def test_connect_session_is_detected(connect_loaded: tuple[Any, LoadResult]) -> None:
    spark, result = connect_loaded
    assert is_connect(spark)
    assert result.delivery == "connect"


def test_workers_import_every_package_from_the_session_folder(
    connect_loaded: tuple[Any, LoadResult], sparkdeps_spark_manager: Any
) -> None:
    spark, result = connect_loaded
    reports = run_probe(spark, module_names(TAG), 4)
    assert reports
    for report in reports:
        assert report["python"] == str(sparkdeps_spark_manager.python), (
            "workers must run the clean venv"
        )
        session_folder = report["cwd"]
        assert not session_folder.startswith(str(result.folder))
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module}: {outcome}"
            file = outcome["file"]
            assert file.startswith(session_folder + os.sep), (module, file, session_folder)
            assert "site-packages" not in file
            assert not file.startswith(str(result.folder))


def test_compiled_code_runs_in_connect_udfs(connect_loaded: tuple[Any, LoadResult]) -> None:
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import LongType

    spark, _result = connect_loaded
    names = (f"sdload_cext{TAG}", f"sdload_cmod{TAG}")

    def compute(index: int) -> int:
        import importlib

        package, single = (importlib.import_module(name) for name in names)
        return int(package.add(index, 1)) + int(single.answer())

    rows = spark.range(0, 4, 1, 2).select(udf(compute, LongType())(col("id")).alias("v")).collect()
    assert sorted(row["v"] for row in rows) == [index + 43 for index in range(4)]


def test_a_symlinked_payload_reaches_connect_workers_under_its_own_name(
    connect_loaded: tuple[Any, LoadResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on classic (test_spark_classic.py): a wheelhouse on another file system is
    # linked with a symlink, which the artifact's #name must keep, not its target's name.
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import StringType
    from tests.support.wheels import make_wheel

    from sparkdeps._runtime import wheelpayload
    from sparkdeps._runtime.delivery import archive_name

    monkeypatch.setattr(wheelpayload, "_hard_link", lambda _source, _link: False)
    spark, _first = connect_loaded
    module = "sdlink_connect"
    wheel = make_wheel(tmp_path / "wheels", module, "1.0", {f"{module}.py": "ANSWER = 7\n"})
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel])
    result = load(wheelhouse, spark=spark, cache_dir=tmp_path / "cache")
    assert result.delivery == "connect" and Path(str(result.payload)).is_symlink()

    def answer(index: int) -> str:
        import importlib

        imported = importlib.import_module(module)
        return f"{int(imported.ANSWER) + index} {imported.__file__}"

    rows = spark.range(0, 4, 1, 2).select(udf(answer, StringType())(col("id")).alias("v"))
    answers = [row["v"].split(" ", 1) for row in rows.collect()]
    assert sorted(int(value) for value, _file in answers) == [7, 8, 9, 10]
    name = archive_name(result.digest)
    for _value, file in answers:  # from the folder the artifact became, not the driver's
        assert f"{os.sep}{name}{os.sep}" in file and not file.startswith(str(result.folder))


def test_verify_and_second_load_on_connect(
    connect_loaded: tuple[Any, LoadResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark, first = connect_loaded
    outcome = verify(spark, module_names(TAG), partitions=4)
    assert outcome.ok and outcome.executors
    uploads: list[tuple[Any, ...]] = []
    original = spark.addArtifacts

    def counting(*paths: Any, **kwargs: Any) -> Any:
        uploads.append(paths)
        return original(*paths, **kwargs)

    monkeypatch.setattr(spark, "addArtifacts", counting)
    again = load(first.uri, spark=spark, cache_dir=first.folder.parents[2])
    assert again.reused and again.delivery == "connect" and again.payload == first.payload
    assert uploads == [], "a second load must not upload again"


def test_plugin_fixtures_on_connect(
    connect_loaded: tuple[Any, LoadResult], sparkdeps_connect: Any, sparkdeps_load: Any
) -> None:
    spark, first = connect_loaded
    assert sparkdeps_connect is spark, "the manager shares one Connect session"
    result = sparkdeps_load(first.uri)
    assert result.delivery == "connect"


def test_connect_load_proved_itself_once(connect_loaded: tuple[Any, LoadResult]) -> None:
    """No SparkContext: the load ran the probe before returning; a second load of the same
    wheelhouse into the session need not run it again."""
    spark, first = connect_loaded
    assert first.timings["probe"] > 0
    again = load(first.uri, spark=spark, cache_dir=first.folder.parents[2])
    assert "probe" not in again.timings


def test_probe_fails_a_module_from_outside_what_was_shipped(
    connect_loaded: tuple[Any, LoadResult],
) -> None:
    from sparkdeps._runtime.probe import probe_executors

    spark, result = connect_loaded
    ok = probe_executors(spark, [f"sdload_pure{TAG}"], within=[f"sparkdeps_{result.digest[:16]}"])
    assert ok.ok, ok.describe()
    within = [f"sparkdeps_{result.digest[:16]}"]
    elsewhere = probe_executors(spark, ["colorsys"], within=within)
    assert not elsewhere.ok
    assert "not from what was shipped" in elsewhere.describe()
    assert elsewhere.to_dict()["ok"] is False
    # numpy: pyspark's worker imports it before any UDF and keeps it (docs/facts.md, fact 13)
    preloaded = probe_executors(spark, ["numpy"], within=within)
    assert preloaded.ok, preloaded.describe()
    assert all(worker.preloaded == ("numpy",) for worker in preloaded.workers)


def test_a_laptop_client_ships_every_wheel_and_installs_what_fits(
    connect_loaded: tuple[Any, LoadResult], tmp_path: Path
) -> None:
    """Databricks Connect from macOS arm64 (the client's tags overridden): the cluster gets
    every wheel, the client installs the pure ones and says which it left out, and the
    probe proved the executors (which import the compiled ones in a UDF)."""
    from packaging.tags import compatible_tags, cpython_tags
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import LongType

    from sparkdeps._runtime.client import override_client_tags

    spark, _first = connect_loaded
    tag = "_laptop"
    wheels = load_test_wheels(tmp_path / "w", tag=tag)
    wheelhouse = make_wheelhouse(tmp_path / "runs", wheels)
    mac = ["macosx_14_0_arm64", "macosx_11_0_arm64"]
    override_client_tags([*cpython_tags(platforms=mac), *compatible_tags(platforms=mac)])
    try:
        with restored_imports("sdload_"):
            result = load(wheelhouse, spark=spark, cache_dir=tmp_path / "cache")
    finally:
        override_client_tags(None)
    compiled = sorted(path.name for path in wheels if "none-any" not in path.name)
    assert sorted(result.left_out) == compiled and len(compiled) == 2
    assert sorted(result.wheels) == sorted(path.name for path in wheels)
    assert result.delivery == "connect" and result.timings["probe"] > 0
    assert (result.folder / f"sdload_pure{tag}").is_dir()
    assert not (result.folder / f"sdload_cext{tag}").exists(), "left out on the client"
    names = (f"sdload_cext{tag}", f"sdload_cmod{tag}")

    def compute(index: int) -> int:
        import importlib

        package, single = (importlib.import_module(name) for name in names)
        return int(package.add(index, 1)) + int(single.answer())

    rows = spark.range(0, 4, 1, 2).select(udf(compute, LongType())(col("id")).alias("v")).collect()
    assert sorted(row["v"] for row in rows) == [index + 43 for index in range(4)]
