"""Load on the sandboxed Connect stand-in (run by tests/runtime/test_sandbox.py in its own process).

The stand-in (docs/delivery.md, ``sparkdeps.testing.localspark.sandboxed_connect_session``)
is a Spark Connect session whose Python workers cannot see the session's artifacts,
as reported of Databricks serverless (docs/facts.md, facts 17 and 23). Its JVM keeps
the sandboxed workers for the life of the process, so these cases run in a pytest
process of their own: ``python -m pytest tests/apps/sandbox_cases.py --sparkdeps-sandbox``.
The notebook's ``%pip`` is a stand-in too (``sparkdeps_notebook_pip``): it installs
into the interpreter the workers run, the equivalent here of Databricks syncing ``%pip``
to UDFs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import DeliveryError
from sparkdeps._runtime.load import load
from sparkdeps.testing.localspark import WorkerPip

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]


def _udf_imports(spark: Any, names: list[str]) -> list[str]:
    """Each worker imports ``names`` in a plain UDF: the files they came from."""
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import StringType

    def where(_index: int) -> str:
        import importlib

        return ";".join(str(importlib.import_module(name).__file__) for name in names)

    frame = spark.range(0, 2, 1, 2).select(udf(where, StringType(), useArrow=False)(col("id")))
    return [file for row in frame.collect() for file in str(row[0]).split(";")]


def _wheelhouse(tmp_path: Path, tag: str) -> Path:
    return make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag=tag))


def test_plain_udfs_run_and_artifacts_are_invisible(sparkdeps_sandboxed_connect: Any) -> None:
    """The stand-in itself: a UDF runs on the clean interpreter; what was added is not there."""
    from sparkdeps._runtime.probe import probe_executors

    result = probe_executors(sparkdeps_sandboxed_connect, ["json"])
    assert result.ok, result.describe()
    worker = result.workers[0]
    assert "/sandbox/local/" in worker.cwd, worker
    # the session folder (the worker's sys.path entry for artifacts) is not there for it
    assert any("/sandbox/local/" in entry for entry in worker.missing), worker


def test_default_delivery_fails_at_load_or_works_in_udfs(
    sparkdeps_sandboxed_connect: Any, tmp_path: Path
) -> None:
    """Never a green load and a failing UDF: load raises, or the UDF imports the wheelhouse."""
    spark = sparkdeps_sandboxed_connect
    tag = "_sbdefault"
    try:
        result = load(_wheelhouse(tmp_path, tag), spark=spark, cache_dir=tmp_path / "cache")
    except DeliveryError as exc:
        assert "environment" in str(exc), f"the error must name the route that fits: {exc}"
        return
    files = _udf_imports(spark, module_names(tag))
    assert files, f"load() reported delivery={result.delivery} and the UDF imported nothing"


def test_auto_without_a_pip_channel_raises_saying_what_to_configure(
    sparkdeps_sandboxed_connect: Any, tmp_path: Path
) -> None:
    tag = "_sbnochannel"
    saved = list(sys.path)
    with pytest.raises(DeliveryError) as caught:
        load(_wheelhouse(tmp_path, tag), spark=sparkdeps_sandboxed_connect, cache_dir=tmp_path)
    message = str(caught.value)
    assert caught.value.invisible
    assert "delivery='environment'" in message and "%pip install -r" in message, message
    assert "not there on the worker" in message and "Python 3." in message, message
    assert f"No module named 'sdload_pure{tag}'" in message, message
    assert sys.path == saved, "nothing may be left active on the driver"


def test_auto_takes_the_environment_route_where_artifacts_are_invisible(
    sparkdeps_sandboxed_connect: Any, sparkdeps_notebook_pip: Any, tmp_path: Path
) -> None:
    spark = sparkdeps_sandboxed_connect
    tag = "_sbauto"
    result = load(_wheelhouse(tmp_path, tag), spark=spark, cache_dir=tmp_path / "cache")
    assert result.delivery == "environment"
    assert result.timings["probe"] > 0
    prefix = str(sparkdeps_notebook_pip.python.parent.parent)
    files = _udf_imports(spark, module_names(tag))
    assert len(files) == 2 * len(module_names(tag))
    for file in files:  # the synced environment: the workers' own site-packages
        assert file.startswith(prefix + "/lib/") and "site-packages" in file, file


def test_auto_ships_nothing_where_the_environment_has_every_wheel(
    sparkdeps_sandboxed_connect: Any, sparkdeps_spark_manager: Any, tmp_path: Path
) -> None:
    """A serverless job's environment ``dependencies`` (``-r <run>/requirements.txt``)
    installed every wheel before the task started, on the driver and the workers alike
    (here: pip into both interpreters). No ``%pip`` in a job: ``auto`` must not ship,
    the probe proves the workers import from their environment, and UDFs do."""
    spark = sparkdeps_sandboxed_connect
    names = ["sdprov_one_sbenvhas", "sdprov_two_sbenvhas"]
    wheels = [
        make_wheel(tmp_path / "w", name.replace("_", "-"), "1.0", {f"{name}/__init__.py": ""})
        for name in names
    ]
    environments = [WorkerPip(sys.executable), WorkerPip(sparkdeps_spark_manager.python)]
    saved = list(sys.path)
    try:
        for environment in environments:
            environment.pip("install --no-deps " + " ".join(map(str, wheels)))
        result = load(
            make_wheelhouse(tmp_path / "runs", wheels), spark=spark, cache_dir=tmp_path / "c"
        )
        assert result.delivery == "provided" and result.payload is None, result
        assert result.timings["probe"] > 0, "no SparkContext: the workers must be proven"
        assert sys.path == saved, "nothing installed or put on sys.path on the driver"
        prefix = str(sparkdeps_spark_manager.python.parent.parent)
        files = _udf_imports(spark, names)
        assert len(files) == 2 * len(names)
        for file in files:  # the workers' own environment, not an artifact
            assert file.startswith(prefix + "/lib/") and "site-packages" in file, file
    finally:
        for environment in environments:  # pip uninstall takes no --no-index: not .pip()
            subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(environment.python), "uninstall",
                 "-q", "-y", *(name.replace("_", "-") for name in names)],
                check=True,
            )  # fmt: skip


def test_a_driver_that_has_every_wheel_still_ships_when_the_workers_have_not(
    sparkdeps_sandboxed_connect: Any, sparkdeps_notebook_pip: Any, tmp_path: Path
) -> None:
    """A Databricks Connect client whose own environment has the packages: the probe of
    the workers' environment fails, so ``auto`` takes the usual route (here, ``%pip``)."""
    spark = sparkdeps_sandboxed_connect
    names = ["sdprov_one_sbdriverhas"]
    wheels = [make_wheel(tmp_path / "w", "sdprov-one-sbdriverhas", "1.0", {f"{names[0]}.py": ""})]
    driver = WorkerPip(sys.executable)
    try:
        driver.pip(f"install --no-deps {wheels[0]}")
        result = load(
            make_wheelhouse(tmp_path / "runs", wheels), spark=spark, cache_dir=tmp_path / "c"
        )
        assert result.delivery == "environment", result
        prefix = str(sparkdeps_notebook_pip.python.parent.parent)
        for file in _udf_imports(spark, names):  # what the %pip stand-in installed
            assert file.startswith(prefix + "/lib/"), file
    finally:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "-q", "-y", "sdprov-one-sbdriverhas"],
            check=True,
        )


def test_connect_asked_for_fails_naming_the_route_that_fits(
    sparkdeps_sandboxed_connect: Any, sparkdeps_notebook_pip: Any, tmp_path: Path
) -> None:
    """A route asked for where it cannot work is not swapped silently: it fails, naming one."""
    with pytest.raises(DeliveryError, match="delivery='environment'"):
        load(
            _wheelhouse(tmp_path, "_sbasked"),
            spark=sparkdeps_sandboxed_connect,
            cache_dir=tmp_path,
            delivery="connect",
        )


def test_environment_route_udfs_import_from_the_synced_environment(
    sparkdeps_sandboxed_connect: Any, sparkdeps_notebook_pip: Any, tmp_path: Path
) -> None:
    spark = sparkdeps_sandboxed_connect
    tag = "_sbenv"
    result = load(
        _wheelhouse(tmp_path, tag), spark=spark, cache_dir=tmp_path, delivery="environment"
    )
    assert result.delivery == "environment" and result.payload is not None
    assert Path(result.payload).name == "requirements.txt"
    assert "--hash=sha256:" in Path(result.payload).read_text()
    prefix = str(sparkdeps_notebook_pip.python.parent.parent)
    for file in _udf_imports(spark, module_names(tag)):
        assert file.startswith(prefix + "/lib/"), file


def test_probe_false_opts_out(sparkdeps_sandboxed_connect: Any, tmp_path: Path) -> None:
    """probe=False trusts the route: load returns (the UDF would fail: the user's call)."""
    result = load(
        _wheelhouse(tmp_path, "_sbnoprobe"),
        spark=sparkdeps_sandboxed_connect,
        cache_dir=tmp_path,
        probe=False,
    )
    assert result.delivery == "connect" and "probe" not in result.timings


def test_the_sandbox_option_makes_every_connect_fixture_sandboxed(
    sparkdeps_connect: Any, sparkdeps_sandboxed_connect: Any
) -> None:
    """Run with --sparkdeps-sandbox (as test_sandbox.py does): a user's Connect tests then
    run as on serverless, unchanged."""
    assert sparkdeps_connect is sparkdeps_sandboxed_connect


def test_doctor_table_on_the_sandbox_without_a_pip_channel(
    sparkdeps_sandboxed_connect: Any, tmp_path: Path
) -> None:
    """``sparkdeps doctor`` where artifacts are invisible and no ``%pip`` is at hand: the
    routes that ship artifacts fail at load (their probe), naming what the workers saw."""
    from sparkdeps._jobs.doctor import doctor

    report = doctor(sparkdeps_sandboxed_connect, cache_dir=tmp_path / "cache")
    print(report.table())
    checks = {check.route: check for check in report.checks}
    assert checks["classic"].status == "n/a"
    for route in ("auto", "connect"):
        check = checks[route]
        assert check.status == "failed", (route, check)
        assert (check.failure or "").startswith("load: DeliveryError"), check.failure
        assert check.probe is not None and check.probe["invisible"], check.probe
    assert checks["environment"].status == "failed"
    assert "needs a Databricks notebook" in (checks["environment"].failure or "")
    assert "auto" not in report.working
    assert "cannot see what this route shipped" in report.table()


def test_doctor_table_on_the_sandbox_with_the_pip_stand_in(
    sparkdeps_sandboxed_connect: Any, sparkdeps_notebook_pip: Any, tmp_path: Path
) -> None:
    """With the notebook's ``%pip`` (its stand-in), ``auto`` turns to ``environment``."""
    from sparkdeps._jobs.doctor import doctor

    report = doctor(
        sparkdeps_sandboxed_connect, routes=["auto", "environment"], cache_dir=tmp_path / "c"
    )
    print(report.table())
    checks = {check.route: check for check in report.checks}
    for route in ("auto", "environment"):
        assert checks[route].status == "ok", (route, checks[route])
        assert checks[route].delivery == "environment"
    assert report.working == ("auto", "environment")
