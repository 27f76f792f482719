"""Classic delivery on ``local-cluster[2,1,1024]`` with executors on a clean venv.

A module imported on an executor proves delivery only because the executors'
interpreter has nothing installed (docs/facts.md, fact 7) and the test checks that
``__file__`` lies in the folder the shipped wheelhouse was split into
(``sparkdeps_<digest16>`` in the application's folder above each executor's SparkFiles
root, one for the node's executors), where the first import extracted its wheels.

CI runs these on pyspark 4.x. On pyspark 3.5.x (most Databricks LTS runtimes)::

    python -m venv /tmp/spark35
    /tmp/spark35/bin/pip install -e '.[test]' 'pyspark==3.5.*'
    /tmp/spark35/bin/python -m pytest tests/test_spark_classic.py tests/test_py310_app.py \
        tests/test_spark_connect.py      # Connect tests skip: they need pyspark 4
"""

from __future__ import annotations

import json
import marshal
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import StorageError, VerificationError
from sparkdeps._core.results import LoadResult
from sparkdeps._runtime import driver
from sparkdeps._runtime.bytecode import running_compile
from sparkdeps._runtime.delivery import archive_name
from sparkdeps._runtime.fetch import installed_marker
from sparkdeps._runtime.load import load
from sparkdeps._runtime.pending import finish_driver_install
from sparkdeps._runtime.verify import run_probe, verify

pytestmark = [pytest.mark.spark, pytest.mark.slow]
TAG = "_classic"


@pytest.fixture(scope="module")
def classic_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classic")
    return make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))


@pytest.fixture(scope="module")
def loaded(
    classic_wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory, sparkdeps_spark_manager: Any
) -> tuple[Any, LoadResult]:
    spark = sparkdeps_spark_manager.classic()
    cache = tmp_path_factory.mktemp("classic-cache")
    return spark, load(classic_wheelhouse, spark=spark, cache_dir=cache)


def test_load_picks_classic_and_keeps_the_payload(loaded: tuple[Any, LoadResult]) -> None:
    spark, result = loaded
    assert result.delivery == "classic"
    assert result.payload is not None and Path(result.payload).is_file()
    name = archive_name(result.digest)
    assert f"{name}_boot.zip" in spark.sparkContext._python_includes
    assert Path(result.payload).name == f"{name}.zip", "the wheelhouse itself, linked"
    assert set(result.top_level) == set(module_names(TAG))
    # a file each executor copies the wheels out of, not an archive Spark unpacks in the
    # executor's first task (docs/facts.md, fact 29)
    context = spark.sparkContext
    assert any(uri.endswith(f"/{name}.zip") for uri in context.listFiles), context.listFiles
    assert not any(name in uri for uri in context.listArchives), context.listArchives


def test_executors_import_every_package_from_the_distributed_folder(
    loaded: tuple[Any, LoadResult], sparkdeps_spark_manager: Any
) -> None:
    spark, result = loaded
    clean_python = str(sparkdeps_spark_manager.python)
    reports = run_probe(spark, module_names(TAG), 8)
    executors = {report["cwd"] for report in reports}
    assert len(executors) == 2, f"both executors must answer, got {executors}"
    distributed = archive_name(result.digest)
    folders = set()
    for report in reports:
        assert report["python"] == clean_python, "executors must run the clean venv"
        # executors work in the Spark home the plugin keeps in pytest's temp folder
        assert Path(report["cwd"]).is_relative_to(sparkdeps_spark_manager.workdir), report
        root = report["spark_files"]
        assert root and not root.startswith(str(result.folder))
        # the two executors share a node: they split and extract once, into the
        # application's folder above their own (work/<app>/), not each in its own
        shared = os.path.join(os.path.dirname(root), distributed)
        assert not os.path.exists(os.path.join(root, distributed)), "split beside the file"
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module} on {report['cwd']}: {outcome}"
            file = outcome["file"]
            assert file.startswith(shared + os.sep), (module, file, root)
            assert "site-packages" not in file
            assert not file.startswith(str(result.folder)), "must not be the driver's folder"
            folders.add(shared)
    assert len(folders) == 1, f"one folder for the node's executors, got {folders}"


def test_compiled_code_runs_on_executors(loaded: tuple[Any, LoadResult]) -> None:
    spark, _result = loaded
    module_c, module_m = f"sdload_cext{TAG}", f"sdload_cmod{TAG}"

    def compute(index: int) -> int:
        import importlib

        return int(importlib.import_module(module_c).add(index, 1)) + int(
            importlib.import_module(module_m).answer()
        )

    # An RDD function as well as the DataFrame UDF of the other tests.
    values = spark.sparkContext.parallelize(range(6), 6).map(compute).collect()
    assert values == [index + 1 + 42 for index in range(6)]


def test_verify_reports_every_executor(loaded: tuple[Any, LoadResult]) -> None:
    spark, result = loaded
    outcome = verify(spark, partitions=8)
    assert outcome.ok
    assert len(outcome.executors) == 2
    for module in module_names(TAG):
        files = outcome.files(module)
        assert files and all(archive_name(result.digest) in file for file in files)


def test_verify_asks_again_for_an_executor_busy_with_another_job(
    loaded: tuple[Any, LoadResult], tmp_path: Path
) -> None:
    # Spark cannot be told where a task runs: with one executor busy, every task of the
    # probe's first round runs on the other one, and a single round saw one executor.
    spark, _result = loaded
    context = spark.sparkContext
    verify(spark, [f"sdload_pure{TAG}"], partitions=8)  # both executors' workers started
    started, release = str(tmp_path / "started"), str(tmp_path / "release")

    def hold(value: int) -> int:  # runs on an executor until the test releases it
        import os
        import time

        open(started, "w").close()
        while not os.path.exists(release):
            time.sleep(0.02)
        return value

    busy = threading.Thread(target=lambda: context.parallelize([0], 1).map(hold).collect())
    busy.start()
    deadline = time.monotonic() + 60
    while not Path(started).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Path(started).exists(), "the holding task never started"
    freed = threading.Timer(1.2, Path(release).touch)  # during the probe's pause
    freed.start()
    try:
        outcome = verify(spark, [f"sdload_pure{TAG}"])
    finally:
        freed.cancel()
        Path(release).touch()
        busy.join(timeout=120)
    assert outcome.ok
    assert len(outcome.executors) == 2, outcome.executors


def test_verify_reports_executors_versions_of_runtime_packages(
    loaded: tuple[Any, LoadResult],
) -> None:
    """The executors run a clean venv: pytest is the driver's only, sdtest-absent nobody's."""
    import importlib.metadata

    spark, _result = loaded
    outcome = verify(spark, partitions=4, packages=["pytest", "sdtest-absent"])
    assert outcome.driver_versions == {
        "pytest": importlib.metadata.version("pytest"),
        "sdtest-absent": None,
    }
    executors = set(outcome.executors)
    assert set(outcome.package_versions["pytest"]) == executors
    assert set(outcome.package_versions["sdtest-absent"].values()) == {None}
    assert set(outcome.package_versions["pytest"].values()) == {None}
    assert sorted(outcome.version_differences) == sorted(
        f"pytest: driver {importlib.metadata.version('pytest')}, {executor} has none"
        for executor in executors
    )


def test_second_load_adds_nothing_twice(
    loaded: tuple[Any, LoadResult], classic_wheelhouse: Path
) -> None:
    spark, first = loaded
    context = spark.sparkContext
    archives_before, files_before = list(context.listArchives), list(context.listFiles)
    again = load(classic_wheelhouse, spark=spark, cache_dir=first.folder.parents[2])
    assert again.reused and again.payload == first.payload
    assert list(context.listArchives) == archives_before
    assert list(context.listFiles) == files_before
    assert context._python_includes.count(f"{archive_name(first.digest)}_boot.zip") == 1


def test_a_wheelhouse_no_hard_link_reaches_ships_under_the_payloads_name(
    sparkdeps_spark_manager: Any,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A wheelhouse on another file system than the payload folder (a Volume, a FUSE mount,
    # /tmp on its own disk) cannot be hard-linked: the payload is a symlink to it. Spark's
    # addFile resolves a plain path to the symlink's target, which would ship the file as
    # ``wheelhouse.zip`` where the executors look for ``sparkdeps_<digest16>.zip`` (found
    # by the benchmark on a second file system). Forcing the symlink stands in for the
    # second file system; Spark, the link and the executors are real.
    from sparkdeps._runtime import wheelpayload

    monkeypatch.setattr(wheelpayload, "_hard_link", lambda _source, _link: False)
    spark = sparkdeps_spark_manager.classic()
    tag = "_symlinked"
    root = tmp_path_factory.mktemp("symlinked")
    wheel = make_wheel(root / "wheels", f"sdlink{tag}", "1.0", {f"sdlink{tag}.py": "ANSWER = 7\n"})
    wheelhouse = make_wheelhouse(root / "runs", [wheel])
    result = load(wheelhouse, spark=spark, cache_dir=root / "cache")
    payload = Path(str(result.payload))
    assert payload.is_symlink() and payload.resolve() == wheelhouse.resolve()
    name = archive_name(result.digest)
    shipped = [uri.rsplit("/", 1)[1] for uri in spark.sparkContext.listFiles]
    assert f"{name}.zip" in shipped, shipped
    assert wheelhouse.name not in shipped, "shipped under the symlink's target's name"

    def answer(_index: int) -> tuple[int, str]:
        import importlib

        module = importlib.import_module(f"sdlink{tag}")
        return int(module.ANSWER), str(module.__file__)

    answers = spark.sparkContext.parallelize(range(4), 4).map(answer).collect()
    assert [value for value, _file in answers] == [7] * 4
    for _value, file in answers:  # from the folder the shipped file became, not the driver's
        assert f"{os.sep}{name}{os.sep}" in file and not file.startswith(str(result.folder))


def test_verify_lists_every_failure(loaded: tuple[Any, LoadResult]) -> None:
    spark, _result = loaded
    missing = ["sdload_absent_one", "sdload_absent_two"]
    with pytest.raises(VerificationError) as caught:
        verify(spark, [*missing, f"sdload_pure{TAG}"], partitions=4)
    message = str(caught.value)
    assert all(name in message for name in missing)
    assert f"sdload_pure{TAG} on" not in message
    fix = caught.value.fix  # the missing modules' fix, kept apart for --json
    assert fix is not None and fix.startswith("call sparkdeps.load(")
    assert message.endswith(f"\nfix: {fix}")


def test_cli_verify_uses_the_running_session(
    loaded: tuple[Any, LoadResult], classic_wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkdeps._cli import main

    assert main(["verify", str(classic_wheelhouse), "--partitions", "8", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["module"] for row in rows} == set(module_names(TAG))
    assert len({row["executor"] for row in rows}) == 2


def test_plugin_fixtures_load_into_the_shared_session(
    sparkdeps_spark: Any, sparkdeps_load: Any, classic_wheelhouse: Path
) -> None:
    result = sparkdeps_load(classic_wheelhouse)
    assert result.delivery == "classic"
    assert verify(sparkdeps_spark, [f"sdload_cext{TAG}"], partitions=4).ok


def test_shared_delivery_ships_nothing_but_stubs(
    sparkdeps_spark_manager: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Every local-cluster executor sees this machine's folders: a stand-in for /Volumes.
    spark = sparkdeps_spark_manager.classic()
    tag = "_shared"
    root = tmp_path_factory.mktemp("shared")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=tag))
    archives_before = list(spark.sparkContext.listArchives)
    result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=root / "cache")
    assert result.delivery == "shared"
    shared = wheelhouse.parent / ".sparkdeps" / "installs" / result.digest
    assert result.folder == shared
    assert list(spark.sparkContext.listArchives) == archives_before, "no archive travels"
    reports = run_probe(spark, module_names(tag), 8)
    assert len({report["cwd"] for report in reports}) == 2
    for report in reports:
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module} on {report['cwd']}: {outcome}"
            assert outcome["file"].startswith(f"{shared}{os.sep}"), (module, outcome["file"])

    # compiled once on the driver, in the background, in the shared folder, so executors
    # read it once it is written (tests/runtime/test_shared_bytecode.py: the order)
    job = running_compile(shared)
    assert job is not None and job.wait(timeout=300) == 0
    pure = [p for p in shared.rglob("*.py") if "__pycache__" not in p.parts]
    assert pure, "the test wheels have pure-Python modules"
    for source in pure:
        cached = source.parent / "__pycache__"
        compiled = list(cached.glob(f"{source.stem}.*.pyc"))
        assert compiled, f"no bytecode for {source}"
        code = marshal.loads(compiled[0].read_bytes()[16:])
        assert code.co_filename == str(source), code.co_filename


def test_executors_write_bytecode_once_whatever_the_worker_says(
    sparkdeps_spark_manager: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Bytecode once per executor, whatever PYTHONDONTWRITEBYTECODE says (issue 25): a
    worker that may not write bytecode (``sys.dont_write_bytecode``, what the variable
    sets) still leaves a ``.pyc`` beside each module it imports from the extracted
    wheels (a package's submodule too), compiled under the extracted file's own name, so
    the executor's next workers read it. Lazily: a module no import touched has none."""
    spark = sparkdeps_spark_manager.classic()
    tag = "_pyc"
    root = tmp_path_factory.mktemp("pyc")
    wheels = load_test_wheels(root / "wheels", tag=tag)
    untouched = f"sdload_untouched{tag}"
    files = {f"{untouched}/__init__.py": "X = 1\n", f"{untouched}/never.py": "Y = 2\n"}
    wheels.append(make_wheel(root / "wheels", f"sdload-untouched{tag}", "1.0", files))
    # without the warm-up, which compiles every module in the background (that side is
    # test_bootstrap.py's warm test): here the import alone writes what it compiled
    wheelhouse = make_wheelhouse(root / "runs", wheels)
    result = load(wheelhouse, spark=spark, cache_dir=root / "cache", warm_executors=False)
    names = [f"sdload_pure{tag}", f"sdload_pure{tag}.sub", f"sdload_single{tag}", untouched]

    def report(_rows: Any) -> Any:
        import importlib
        import importlib.util
        import marshal
        import sys

        before, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            sources = {name: importlib.import_module(name).__file__ for name in names}
        finally:
            sys.dont_write_bytecode = before
        sources["never"] = os.path.join(os.path.dirname(sources[untouched]), "never.py")
        found = {}
        for key, source in sources.items():
            cached = importlib.util.cache_from_source(source)
            code = None
            if os.path.exists(cached):
                with open(cached, "rb") as handle:
                    code = marshal.loads(handle.read()[16:])
            found[key] = {"source": source, "co_filename": code and code.co_filename}
        where = {"python": sys.executable, "cwd": os.getcwd()}
        yield json.dumps({**where, "found": found})

    rows = spark.sparkContext.parallelize(range(8), 8).mapPartitions(report).collect()
    reports = [json.loads(row) for row in rows]
    assert len({r["cwd"] for r in reports}) == 2, "both executors must answer"
    for r in reports:
        assert r["python"] == str(sparkdeps_spark_manager.python), "a clean executor venv"
        never = r["found"].pop("never")
        assert never["co_filename"] is None, "compiled although no import needed it"
        for key, seen in r["found"].items():
            assert archive_name(result.digest) in seen["source"], (key, seen)
            assert seen["co_filename"] == seen["source"], (key, seen, r["cwd"])


def test_a_planted_stub_zip_never_runs_on_executors(
    sparkdeps_spark_manager: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # issue 21, item 1: a stub zip planted in the payload folder used to be shipped as is
    import hashlib
    import zipfile

    spark = sparkdeps_spark_manager.classic()
    tag = "_planted"
    root = tmp_path_factory.mktemp("planted")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=tag))
    digest = hashlib.sha256(wheelhouse.read_bytes()).hexdigest()
    proof = root / "planted-code-ran.txt"
    wheels = root / "payloads" / f"{digest}.wheels"
    wheels.mkdir(parents=True, mode=0o700)
    (root / "payloads").chmod(0o700)
    evil = f"import pathlib\npathlib.Path({os.fspath(proof)!r}).write_text('ran')\n"
    with zipfile.ZipFile(wheels / f"{archive_name(digest)}_boot.zip", "w") as archive:
        for module in module_names(tag):
            archive.writestr(f"{module}.py", evil)
    result = load(wheelhouse, spark=spark, cache_dir=root / "cache", payload_dir=root / "payloads")
    reports = run_probe(spark, module_names(tag), 4)
    assert {report["cwd"] for report in reports}, "executors answered"
    for report in reports:
        node = os.path.dirname(report["spark_files"])  # the application's folder on the node
        shipped = os.path.join(node, archive_name(result.digest)) + os.sep
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module} on {report['cwd']}: {outcome}"
            assert outcome["file"].startswith(shipped), (module, outcome["file"])
    assert not proof.exists(), "the planted stub ran on an executor"


def test_classic_loads_do_not_probe_unless_asked(
    loaded: tuple[Any, LoadResult], tmp_path: Path
) -> None:
    """A SparkContext's archive and includes are documented Spark: no probe by default;
    probe=True proves them too (docs/delivery.md)."""
    spark, first = loaded
    assert "probe" not in first.timings
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag="_clp"))
    proven = load(wheelhouse, spark=spark, cache_dir=tmp_path / "cache", probe=True)
    assert proven.delivery == "classic" and proven.timings["probe"] > 0


def _slow_install(monkeypatch: pytest.MonkeyPatch, seconds: float, error: str | None) -> None:
    """The driver's install, ``seconds`` late (a slow Volume), or failing then with
    ``error`` (a full one): the real install otherwise, the executors real."""

    real = driver.install

    def install(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        if error is not None:
            raise StorageError(error)
        return real(*args, **kwargs)

    monkeypatch.setattr(driver, "install", install)


def test_a_shared_load_returns_before_its_install_and_executors_wait_for_it(
    sparkdeps_spark_manager: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``load`` returned once the shared folder was whole: here it would have
    found the install marker written."""

    spark = sparkdeps_spark_manager.classic()
    tag = "_shwait"
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag=tag))
    _slow_install(monkeypatch, 3.0, None)
    result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    assert installed_marker(result.folder) is None, "load waited for the shared install"
    reports = run_probe(spark, module_names(tag), 4)
    assert len({report["cwd"] for report in reports}) == 2
    for report in reports:
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module} on {report['cwd']}: {outcome}"
            assert outcome["file"].startswith(f"{result.folder}{os.sep}"), outcome["file"]
    finish_driver_install()
    assert installed_marker(result.folder) is not None
    assert not list(result.folder.parent.glob(".*.installing")), "the note goes once whole"


def test_a_failed_shared_install_fails_the_executors_imports_with_its_error(
    sparkdeps_spark_manager: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executors stop waiting at the failure the driver wrote beside the folder, and
    the driver raises it at its own first import (not a hang, not 'not in the
    wheelhouse')."""

    spark = sparkdeps_spark_manager.classic()
    tag = "_shfail"
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag=tag))
    _slow_install(monkeypatch, 1.0, "no space left on the test volume")
    result = load(wheelhouse, spark=spark, delivery="shared", cache_dir=tmp_path / "cache")
    reports = run_probe(spark, module_names(tag), 4)
    assert reports
    for report in reports:
        for module, outcome in report["imports"].items():
            assert not outcome["ok"], module
            error = str(outcome["error"])
            assert "the driver's install of the shared folder" in error, error
            assert "no space left on the test volume" in error, error
    with pytest.raises(StorageError, match="no space left on the test volume"):
        finish_driver_install()
    finish_driver_install(drop_failed=True)
    assert not result.folder.exists(), "nothing half-written"
