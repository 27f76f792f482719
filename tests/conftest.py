"""Shared fixtures: a clean pip/uv environment, test packages, a local index.

The packages served by the index are built here from dicts of files (see
support/wheels.py); setuptools/wheel/python-dateutil are repackaged from this
venv so isolated builds and the examples resolve without leaving 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.index import IndexServer
from tests.support.twins import link_folder, require_python, require_twin_wheels
from tests.support.wheels import (
    find_python,
    make_cext_wheel,
    make_sdist,
    make_wheel,
    mirror_installed,
)

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
TEST_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a Spark session run after those that need none.

    A session, once started, stays active for the rest of the process (the plugin's
    sessions are shared), and ``load(spark=None)`` rightly ships to an active session:
    a test of driver-only behaviour must not depend on the file order putting it first.
    """
    items.sort(
        key=lambda item: (
            item.get_closest_marker("spark") is not None
            or item.get_closest_marker("connect") is not None
        )
    )


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No PIP_*/UV_* from the machine (it sets find-links and a constraint file here),
    and a private sparkdeps cache per test."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("SPARKDEPS_WHEELHOUSE", raising=False)
    monkeypatch.delenv("SPARKDEPS_DEST", raising=False)
    monkeypatch.delenv("SPARKDEPS_DBUTILS", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.setenv("SPARKDEPS_CACHE_DIR", str(tmp_path_factory.mktemp("sparkdeps-cache")))


@pytest.fixture(scope="session")
def pythons() -> dict[str, Path]:
    """Interpreters available for cross-version tests, by "3.X"."""
    found: dict[str, Path] = {
        f"{sys.version_info.major}.{sys.version_info.minor}": Path(sys.executable)
    }
    for version in TEST_PYTHONS:
        if version not in found:
            path = find_python(version)
            if path is not None:
                found[version] = path
    return found


def _build_test_packages(root: Path, pythons: dict[str, Path]) -> None:
    def pkg(name: str, version: str, requires: tuple[str, ...] = ()) -> None:
        module = name.replace("-", "_")
        source = f'NAME = "{name}"\nVERSION = "{version}"\n\ndef hello():\n    return "{name} {version}"\n'
        make_wheel(root, name, version, {f"{module}/__init__.py": source}, requires=requires)

    # a dependency chain: alpha -> beta -> gamma
    pkg("sdtest-gamma", "1.0")
    pkg("sdtest-beta", "1.0", ("sdtest-gamma>=1.0",))
    pkg("sdtest-beta", "2.0", ("sdtest-gamma>=1.0",))
    pkg("sdtest-alpha", "1.0", ("sdtest-beta>=1.0,<2",))
    # a marker-conditional dependency
    pkg("sdtest-oldpy", "1.0")
    pkg("sdtest-marker", "1.0", ('sdtest-oldpy; python_version < "3.11"',))
    # a C extension, for every interpreter we have
    for python in pythons.values():
        make_cext_wheel(root, "sdtest-cext", "1.0", module="sdtest_cext", python=python)
    # sdist-only: pure (buildable for any target) and one that needs a compiler
    make_sdist(
        root,
        "sdtest-sdistonly",
        "1.0",
        {"sdtest_sdistonly/__init__.py": 'def hello():\n    return "built from sdist"\n'},
    )
    make_sdist(
        root,
        "sdtest-needscc",
        "1.0",
        {"sdtest_needscc/__init__.py": "X = 1\n"},
        wheel_tag="cp311-cp311-linux_x86_64",
    )
    # build backends and the examples' PyPI dependency, repackaged from this venv
    # tzdata: the mixed example's index dependency (python-dateutil 2.x, pinned for
    # botocore, no longer pulls it in as 4.x did)
    mirror_installed(["setuptools", "wheel", "python-dateutil", "packaging", "tzdata"], root)


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory, pythons: dict[str, Path]) -> Path:
    """A folder of test wheels and sdists (also usable as --find-links)."""
    root = tmp_path_factory.mktemp("index-packages")
    _build_test_packages(root, pythons)
    return root


@pytest.fixture(scope="session")
def index(package_dir: Path) -> Iterator[IndexServer]:
    """A PEP 503 index on 127.0.0.1 serving ``package_dir``."""
    with IndexServer(package_dir) as server:
        yield server


@pytest.fixture(scope="session")
def index_url(index: IndexServer) -> str:
    return index.url


@pytest.fixture
def fixture_project(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Copy ``tests/fixtures/<name>`` into tmp_path and return the copy."""

    def copy(name: str) -> Path:
        destination = tmp_path / "input" / name
        shutil.copytree(FIXTURES / name, destination)
        return destination

    return copy


@pytest.fixture(scope="session")
def twin_index(
    tmp_path_factory: pytest.TempPathFactory, package_dir: Path
) -> Iterator[IndexServer]:
    """An index on 127.0.0.1 with the runtime twins' wheels and the test packages."""
    folder = tmp_path_factory.mktemp("twin-index")
    for profile in ("dbr-14.3", "dbr-17.3"):
        link_folder(require_twin_wheels(profile), folder)
    link_folder(package_dir, folder)
    # a pure package that needs numpy, for the runtime-aware end-to-end tests
    make_wheel(
        folder,
        "sdtest-npuser",
        "1.0",
        {
            "sdtest_npuser/__init__.py": (
                "import numpy\n\nNUMPY = numpy.__version__\n\n"
                "def mean(values):\n    return float(numpy.mean(values))\n"
            )
        },
        requires=("numpy",),
    )
    with IndexServer(folder) as server:
        yield server


@pytest.fixture(scope="session")
def twin143(twin_index: IndexServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbr-14.3 twin (Python 3.10, pyspark 3.5.0, the runtime's numpy/pandas/pyarrow),
    made by the CLI; what it printed is in ``<root>.out``."""
    import contextlib
    import io

    from sparkdeps._cli import main

    python = require_python("dbr-14.3")
    root = tmp_path_factory.mktemp("twin") / "dbr-14.3"
    argv = ["twin", "dbr-14.3", str(root), "--python", str(python), "--index-url", twin_index.url]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    root.with_suffix(".out").write_text(printed.getvalue())
    return root


@pytest.fixture(scope="session")
def twin173(twin_index: IndexServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbr-17.3 twin (Python 3.12, pyspark 4.0.0, numpy 2.1.3, pandas 2.2.3, pyarrow 19.0.1)."""
    from sparkdeps.testing.twin import create_twin

    python = require_python("dbr-17.3")
    root = tmp_path_factory.mktemp("twin") / "dbr-17.3"
    return create_twin("dbr-17.3", root, python=python, index_url=twin_index.url).root
