"""An input the runtime already satisfies gives an empty wheelhouse that builds, loads
(a no-op that says so), verifies and exports (issue 21, item 8).

Three ways to need nothing: every package is the runtime's (relied on, not shipped),
every requirement has a marker that never holds on the target, and a poetry.lock whose
every package is optional. Each used to fail with "the generated pylock.toml is not a
valid PEP 751 lock: Missing required value in 'packages'".
"""

from __future__ import annotations

import importlib.metadata
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build
from sparkdeps._build.tomlread import load_toml
from sparkdeps._cli import main
from sparkdeps._core.results import BuildResult
from sparkdeps._runtime.load import load
from sparkdeps._runtime.verify import verify

pytestmark = pytest.mark.network  # uv and pip run (find-links only)

RELIED = "iniconfig"
"""Installed in the test environment: a runtime set holding it at the installed version
is satisfied on this driver, so ``load`` checks it for real (strict by default)."""


def _packages(root: Path) -> Path:
    folder = root / "packages"
    folder.mkdir()
    make_wheel(folder, "sdempty-a", "1.0", {"sdempty_a/__init__.py": "A = 1\n"})
    # resolution reads its metadata only: a runtime package is never downloaded
    make_wheel(folder, RELIED, importlib.metadata.version(RELIED), {"iniconfig/__init__.py": ""})
    return folder


def _runtime_has_everything(root: Path) -> tuple[Path, dict[str, object]]:
    requirements = root / "requirements.txt"
    requirements.write_text(f"{RELIED}\n")
    freeze = root / "runtime.txt"
    freeze.write_text(f"{RELIED}=={importlib.metadata.version(RELIED)}\n")
    return requirements, {"runtime_packages": freeze}


def _markers_never_hold(root: Path) -> tuple[Path, dict[str, object]]:
    requirements = root / "requirements.txt"
    requirements.write_text('sdempty-a; python_version < "3"\n')
    return requirements, {}


def _all_optional_poetry(root: Path) -> tuple[Path, dict[str, object]]:
    folder = root / "project"
    folder.mkdir()
    (folder / "poetry.lock").write_text(
        '[[package]]\nname = "sdempty-a"\nversion = "1.0"\noptional = true\n'
        'python-versions = "*"\n'
        'files = [{file = "sdempty_a-1.0-py3-none-any.whl", hash = "sha256:' + "0" * 64 + '"}]\n'
        '\n[metadata]\nlock-version = "2.0"\npython-versions = "*"\ncontent-hash = "x"\n'
    )
    return folder / "poetry.lock", {}


CASES = [
    pytest.param(_runtime_has_everything, True, id="runtime-has-everything"),
    pytest.param(_markers_never_hold, False, id="markers-never-hold"),
    pytest.param(_all_optional_poetry, False, id="all-optional-poetry-lock"),
]


def _build(tmp_path: Path, make) -> BuildResult:  # type: ignore[no-untyped-def]
    source, options = make(tmp_path)
    return build(
        source,
        dest=tmp_path / "dest",
        cache_dir=tmp_path / "cache",
        no_index=True,
        find_links=[_packages(tmp_path)],
        task_value_key=None,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("make", "relies"), CASES)
def test_empty_wheelhouse_builds_loads_and_exports(
    make,  # type: ignore[no-untyped-def]
    relies: bool,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _build(tmp_path, make)
    assert result.wheels == ()
    relied = [item["name"] for item in (result.manifest.runtime or {}).get("relied_on", ())]
    assert relied == ([RELIED] if relies else [])
    with zipfile.ZipFile(result.uri) as archive:
        inside = archive.read("pylock.toml").decode()
        assert [name for name in archive.namelist() if name.startswith("wheels/")] == []
    lock = Pylock.from_dict(load_toml(inside))
    lock.validate()
    assert lock.packages == []

    caplog.set_level(logging.INFO, logger="sparkdeps")
    loaded = load(result.uri, delivery="driver-only", cache_dir=tmp_path / "node")
    assert loaded.wheels == () and loaded.top_level == () and loaded.payload is None
    assert "is empty (the runtime has everything the input needs)" in caplog.text

    assert main(["export", result.uri, "--format", "pylock"]) == 0
    assert capsys.readouterr().out == inside
    assert main(["export", result.uri]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("# sparkdeps wheelhouse for ")
    assert main(["inspect", "--pylock", result.uri]) == 0
    assert capsys.readouterr().out == inside


@pytest.mark.spark
@pytest.mark.slow
def test_empty_wheelhouse_loads_into_a_session_and_verifies(
    tmp_path: Path, sparkdeps_spark_manager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing is shipped to the executors; verify reports what the wheelhouse relies on."""
    result = _build(tmp_path, _runtime_has_everything)
    spark = sparkdeps_spark_manager.classic()
    archives = list(spark.sparkContext.listArchives)
    includes = list(spark.sparkContext._python_includes)
    caplog.set_level(logging.INFO, logger="sparkdeps")
    loaded = load(result.uri, spark=spark, cache_dir=tmp_path / "node")
    assert loaded.delivery == "classic" and loaded.wheels == () and loaded.payload is None
    assert "nothing installed or shipped" in caplog.text
    assert list(spark.sparkContext.listArchives) == archives
    assert list(spark.sparkContext._python_includes) == includes
    outcome = verify(spark, partitions=2)
    assert outcome.ok
    # the executors run a clean venv: the relied-on package is the driver's only
    assert set(outcome.package_versions[RELIED].values()) == {None}
    assert outcome.driver_versions[RELIED] == importlib.metadata.version(RELIED)
