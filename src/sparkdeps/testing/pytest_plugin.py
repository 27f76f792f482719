"""pytest fixtures for Spark tests with sparkdeps (registered through ``pytest11``).

* ``sparkdeps_spark``: a shared ``local-cluster[2,1,1024]`` session whose executors run
  a clean venv (only pyspark's own pyarrow, pandas and numpy), so an import of
  anything else on an executor proves delivery.
* ``sparkdeps_connect``: a shared Spark Connect session (``remote("local[2]")``), same
  clean workers; skipped where pyspark < 4 or the connect extra is missing.
* ``sparkdeps_session``: the test runs twice, on the ``local-cluster`` session and on the
  Connect one (ids ``classic``/``connect``; pytest groups the runs by kind, so each
  session starts once). DataFrame helpers that only ``collect()`` and read ``.schema``,
  such as chispa's, work on both; ``sparkContext`` and ``.rdd`` exist only on classic.
* ``sparkdeps_sandboxed_connect``: the sandboxed stand-in of Databricks serverless: a
  Spark Connect session whose Python workers cannot see the session's artifacts
  (docs/delivery.md; needs root or user namespaces). One JVM per process serves either
  it or the other sessions: give it a pytest process of its own, or run the whole
  process sandboxed with ``--sparkdeps-sandbox`` (``sparkdeps_connect`` and the
  Connect run of ``sparkdeps_session`` are then sandboxed too).
* ``sparkdeps_notebook_pip``: for one test, a stand-in of the Databricks notebook's
  ``%pip`` that installs into the executors' interpreter (``WorkerPip``): what
  ``delivery="environment"`` goes through, and what ``auto`` turns to on the sandbox.
* ``sparkdeps_load``: ``load(wheelhouse) -> LoadResult`` into the current session.

Executors' interpreter: ``--sparkdeps-runtime PROFILE`` (or the ini option
``sparkdeps_runtime``) runs them on a runtime twin of PROFILE (created once in the
sparkdeps cache, from ``--sparkdeps-index-url`` when given); when the tests
themselves run inside a twin, the executors use that same interpreter. Spark
needs the driver and its workers on one Python minor version.

Nothing is autouse and nothing starts until a test asks. One JVM session lives in
a process at a time, so the manager stops one kind before starting the other: run
the classic tests before the Connect ones (file order does it).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from .._core.databricks import set_notebook_pip
from .._core.errors import TargetError
from .._core.results import LoadResult
from .._runtime.load import active_session, load
from .localspark import (
    WorkerPip,
    clean_python,
    connect_session,
    end_jvm,
    local_cluster_session,
    sandbox_missing,
    sandboxed_connect_session,
)
from .twin import create_twin, running_twin, twin_home, twin_spec

__all__ = [
    "SparkManager",
    "sparkdeps_connect",
    "sparkdeps_load",
    "sparkdeps_notebook_pip",
    "sparkdeps_sandboxed_connect",
    "sparkdeps_session",
    "sparkdeps_session_kind",
    "sparkdeps_spark",
]

SessionKind = Literal["classic", "connect"]


def _driver_pyspark() -> str | None:
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_driver(runtime: str) -> None:
    """Refuse a driver that cannot drive the twin's executors: another Python minor version
    or another pyspark (a mismatch fails late, inside Arrow or pickling, e.g. pyspark 4.2's
    driver against pyarrow 8 on 3.5.0 executors: ``RecordBatch has no itercolumns``)."""
    spec = twin_spec(runtime)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    inside = (
        f"run pytest inside the twin: `sparkdeps twin {runtime} DIR`, then "
        "`DIR/bin/python -m pytest`"
    )
    if spec.python_version != here:
        raise TargetError(
            f"--sparkdeps-runtime {runtime} runs executors on Python {spec.python_version}, "
            f"but pytest runs on {here}: Spark needs one minor version on the driver and its "
            "workers",
            fix=f"run pytest with Python {spec.python_version} (e.g. {inside})",
        )
    driver = _driver_pyspark()
    if driver is not None and driver != spec.pyspark_version:
        raise TargetError(
            f"--sparkdeps-runtime {runtime} runs executors on pyspark {spec.pyspark_version}, "
            f"but pytest's driver has pyspark {driver}: Spark needs one pyspark on the driver "
            "and its executors",
            fix=f"install the runtime's (pip install 'pyspark=={spec.pyspark_version}'), "
            f"or {inside}",
        )


class SparkManager:
    """Keeps the one live session of a test run; switches kind on demand."""

    def __init__(
        self,
        workdir: Path,
        runtime: str | None = None,
        index_url: str | None = None,
        *,
        sandbox: bool = False,
    ) -> None:
        self.workdir = workdir
        self.runtime = runtime
        self.index_url = index_url
        self.sandbox = sandbox
        """Every Connect session of this run is the sandboxed stand-in."""
        self._python: Path | None = None
        self._kind: str | None = None
        self._session: Any = None

    @property
    def python(self) -> Path:
        """The executors' interpreter: the runtime's twin, this twin, or a clean venv."""
        if self._python is None:
            self._python = self._choose_python()
        return self._python

    def _choose_python(self) -> Path:
        if self.runtime:
            check_driver(self.runtime)
            twin = create_twin(self.runtime, twin_home(self.runtime), index_url=self.index_url)
            return twin.python
        inside = running_twin()
        if inside is not None:
            return Path(sys.executable)
        return clean_python(self.workdir / "clean-venv")

    def classic(self) -> Any:
        if self._kind != "classic":
            self.stop()
            # Spark's home (executors work in it) inside pytest's temp folder goes with
            # it; a mkdtemp home outlived every run, 10 to 120 MB each
            home = self.workdir / "spark-home"
            self._session = local_cluster_session(2, 1, 1024, python=self.python, work_dir=home)
            self._kind = "classic"
        return self._session

    def connect(self) -> Any:
        if self.sandbox:
            return self.sandboxed()
        if self._kind != "connect":
            self.stop()
            self._session = connect_session(python=self.python)
            self._kind = "connect"
        return self._session

    def sandboxed(self) -> Any:
        """The sandboxed Connect stand-in: workers cannot see the session's artifacts."""
        if self._kind != "sandboxed":
            self.stop()
            self._session = sandboxed_connect_session(
                python=self.python, folder=self.workdir / "sandbox"
            )
            self._kind = "sandboxed"
        return self._session

    def stop(self) -> None:
        if self._session is not None:
            try:
                self._session.stop()
            finally:
                if self._kind in ("connect", "sandboxed"):
                    # pyspark marks the process as a Connect client; left set, the next
                    # classic session (here or in a child process) fails CONNECT_URL_NOT_SET
                    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
                    # the server's JVM would carry its state into the next session
                    end_jvm()
                self._session = None
                self._kind = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """With a runtime asked for, a driver that cannot drive its twin stops the run here,
    before any test (a usage error with the fix, not a failure in every Spark test)."""
    config = session.config
    runtime = config.getoption("sparkdeps_runtime") or config.getini("sparkdeps_runtime") or None
    if runtime:
        try:
            check_driver(runtime)
        except TargetError as exc:
            raise pytest.UsageError(str(exc)) from exc


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sparkdeps")
    group.addoption(
        "--sparkdeps-runtime",
        dest="sparkdeps_runtime",
        default=None,
        metavar="PROFILE",
        help="run the Spark fixtures' executors on a twin of this runtime (e.g. dbr-14.3)",
    )
    group.addoption(
        "--sparkdeps-index-url",
        dest="sparkdeps_index_url",
        default=None,
        metavar="URL",
        help="package index the runtime twin is created from (default: uv's)",
    )
    group.addoption(
        "--sparkdeps-sandbox",
        dest="sparkdeps_sandbox",
        action="store_true",
        default=False,
        help="Connect sessions are the sandboxed stand-in of Databricks serverless: Python "
        "workers that cannot see the session's artifacts (needs root or user namespaces)",
    )
    parser.addini("sparkdeps_runtime", "runtime profile for the executors' twin", default="")


def _connect_missing() -> str | None:
    try:
        import pyspark  # noqa: PLC0415
    except ImportError:
        return "pyspark is not installed"
    major = int(pyspark.__version__.split(".")[0])
    if major < 4:
        return f"Spark Connect tests need pyspark 4.x (found {pyspark.__version__})"
    try:
        for name in ("grpc", "pyarrow", "pyspark.sql.connect.session"):
            importlib.import_module(name)
    except ImportError as exc:
        return f"Spark Connect needs pyspark[connect]: {exc}"
    return None


@pytest.fixture(scope="session")
def sparkdeps_spark_manager(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkManager]:
    try:
        import pyspark  # noqa: F401, PLC0415
    except ImportError:
        pytest.skip("pyspark is not installed")
    config = request.config
    runtime = config.getoption("sparkdeps_runtime") or config.getini("sparkdeps_runtime") or None
    index_url = config.getoption("sparkdeps_index_url") or None
    manager = SparkManager(
        tmp_path_factory.mktemp("sparkdeps-spark"),
        runtime,
        index_url,
        sandbox=bool(config.getoption("sparkdeps_sandbox")),
    )
    yield manager
    manager.stop()


@pytest.fixture
def sparkdeps_spark(sparkdeps_spark_manager: SparkManager) -> Any:
    """The shared local-cluster session (2 executors on a clean interpreter)."""
    return sparkdeps_spark_manager.classic()


@pytest.fixture
def sparkdeps_connect(sparkdeps_spark_manager: SparkManager) -> Any:
    """The shared Spark Connect session; skips where Connect cannot run."""
    reason = _connect_missing()
    if reason:
        pytest.skip(reason)
    return sparkdeps_spark_manager.connect()


@pytest.fixture
def sparkdeps_sandboxed_connect(sparkdeps_spark_manager: SparkManager) -> Any:
    """The sandboxed Connect stand-in; skips where Connect or the sandbox cannot run."""
    reason = _connect_missing() or sandbox_missing()
    if reason:
        pytest.skip(reason)
    return sparkdeps_spark_manager.sandboxed()


@pytest.fixture
def sparkdeps_notebook_pip(sparkdeps_spark_manager: SparkManager) -> Iterator[WorkerPip]:
    """The notebook's ``%pip`` stand-in for this test: installs into the executors' interpreter."""
    channel = WorkerPip(sparkdeps_spark_manager.python)
    set_notebook_pip(channel)
    try:
        yield channel
    finally:
        set_notebook_pip(None)


@pytest.fixture(scope="session", params=["classic", "connect"])
def sparkdeps_session_kind(request: pytest.FixtureRequest) -> SessionKind:
    """``classic`` then ``connect``; session-scoped so pytest groups the tests by kind."""
    kind: SessionKind = request.param
    return kind


@pytest.fixture
def sparkdeps_session(
    sparkdeps_session_kind: SessionKind, sparkdeps_spark_manager: SparkManager
) -> Any:
    """The shared session of this run's kind; the Connect run skips where Connect cannot run."""
    if sparkdeps_session_kind == "classic":
        return sparkdeps_spark_manager.classic()
    reason = _connect_missing()
    if reason:
        pytest.skip(reason)
    return sparkdeps_spark_manager.connect()


@pytest.fixture
def sparkdeps_load(tmp_path: Path) -> Callable[..., LoadResult]:
    """``load(wheelhouse, spark=None, **options)`` with a per-test node cache."""

    def _load(wheelhouse: str | os.PathLike[str], spark: Any = None, **options: Any) -> LoadResult:
        options.setdefault("cache_dir", tmp_path / "sparkdeps-cache")
        return load(wheelhouse, spark=spark if spark is not None else active_session(), **options)

    return _load
