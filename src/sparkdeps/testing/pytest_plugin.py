"""pytest fixtures for Spark tests with sparkdeps (registered through ``pytest11``).

* ``sparkdeps_spark``: a shared ``local-cluster[2,1,1024]`` session whose executors run
  a clean venv (nothing installed), so an import on an executor proves delivery.
* ``sparkdeps_connect``: a shared Spark Connect session (``remote("local[2]")``), same
  clean workers; skipped where pyspark < 4 or the connect extra is missing.
* ``sparkdeps_session``: the test runs twice, on the ``local-cluster`` session and on the
  Connect one (ids ``classic``/``connect``; pytest groups the runs by kind, so each
  session starts once). DataFrame helpers that only ``collect()`` and read ``.schema``,
  such as chispa's, work on both; ``sparkContext`` and ``.rdd`` exist only on classic.
* ``sparkdeps_load``: ``load(wheelhouse) -> LoadResult`` into the current session.

Nothing is autouse and nothing starts until a test asks. One JVM session lives in
a process at a time, so the manager stops one kind before starting the other: run
the classic tests before the Connect ones (file order does it).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from .._core.results import LoadResult
from .localspark import clean_python, connect_session, local_cluster_session

__all__ = [
    "SparkManager",
    "sparkdeps_connect",
    "sparkdeps_load",
    "sparkdeps_session",
    "sparkdeps_session_kind",
    "sparkdeps_spark",
]

SessionKind = Literal["classic", "connect"]


class SparkManager:
    """Keeps the one live session of a test run; switches kind on demand."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._python: Path | None = None
        self._kind: str | None = None
        self._session: Any = None

    @property
    def python(self) -> Path:
        """The executors' clean interpreter."""
        if self._python is None:
            self._python = clean_python(self.workdir / "clean-venv")
        return self._python

    def classic(self) -> Any:
        if self._kind != "classic":
            self.stop()
            self._session = local_cluster_session(2, 1, 1024, python=self.python)
            self._kind = "classic"
        return self._session

    def connect(self) -> Any:
        if self._kind != "connect":
            self.stop()
            self._session = connect_session(python=self.python)
            self._kind = "connect"
        return self._session

    def stop(self) -> None:
        if self._session is not None:
            try:
                self._session.stop()
            finally:
                self._session = None
                self._kind = None


def _connect_missing() -> str | None:
    try:
        import pyspark  # noqa: PLC0415  (optional: sparkdeps[spark])
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
def sparkdeps_spark_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkManager]:
    try:
        import pyspark  # noqa: F401, PLC0415
    except ImportError:
        pytest.skip("pyspark is not installed")
    manager = SparkManager(tmp_path_factory.mktemp("sparkdeps-spark"))
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
    # the plugin loads in every pytest run of a project that installs sparkdeps: keep it light
    from .._runtime.load import active_session, load  # noqa: PLC0415

    def _load(wheelhouse: str | os.PathLike[str], spark: Any = None, **options: Any) -> LoadResult:
        options.setdefault("cache_dir", tmp_path / "sparkdeps-cache")
        return load(wheelhouse, spark=spark if spark is not None else active_session(), **options)

    return _load
