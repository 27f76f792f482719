"""An environment that already has every wheel: ``load(delivery="auto")`` ships nothing.

The decision (``_runtime/provided.py``) on real installs: the wheels are pip-installed
with ``--target`` into a folder that plays the environment's site-packages. For
``load()`` that folder is handed to the decision in place of this interpreter's own
site-packages (the test must not install into the venv running it); the sandboxed
Connect cases prove the whole route on Spark (tests/apps/sandbox_cases.py).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.wheelhouses import PREFIX, make_wheelhouse, restored_imports
from tests.support.wheels import make_wheel

from sparkdeps._core.manifest import inspect_wheel
from sparkdeps._runtime import provided
from sparkdeps._runtime.load import load


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    with restored_imports(PREFIX):
        yield


def _wheel(folder: Path, name: str, version: str) -> Path:
    module = name.replace("-", "_")
    return make_wheel(folder, name, version, {f"{module}/__init__.py": f"V = {version!r}\n"})


def _site(tmp_path: Path, wheels: list[Path]) -> Path:
    """A folder with ``wheels`` installed by pip, as an environment's site-packages."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--target", str(site), *map(str, wheels)],
        check=True,
    )  # fmt: skip
    return site


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sdload-prov-a`` 1.0 and ``sdload-prov-b`` 2.0.0 installed in a site folder."""
    tmp_path = tmp_path_factory.mktemp("provided")
    wheels = [
        _wheel(tmp_path / "env", f"{PREFIX}-prov-a", "1.0"),
        _wheel(tmp_path / "env", f"{PREFIX}-prov-b", "2.0.0"),
    ]
    return _site(tmp_path, wheels)


@pytest.mark.parametrize(
    ("wheelhouse", "expected"),
    [
        ([("prov-a", "1.0"), ("prov-b", "2.0.0")], True),
        ([("prov-a", "1.0.0"), ("Prov_B", "2.0")], True),  # PEP 440 equality, normalised names
        ([("prov-a", "1.0")], True),  # the environment may hold more
        ([("prov-a", "1.0"), ("prov-b", "2.1")], False),  # another version is not provided
        ([("prov-a", "1.0"), ("prov-c", "1.0")], False),  # one missing
        ([], False),  # an empty wheelhouse: the empty route says so
    ],
    ids=["exact", "equal-versions", "subset", "other-version", "missing", "empty"],
)
def test_the_environment_provides_only_every_wheel_at_its_version(
    installed: Path, tmp_path: Path, wheelhouse: list[tuple[str, str]], expected: bool
) -> None:
    infos = [
        inspect_wheel(_wheel(tmp_path, f"{PREFIX}-{name}", version)) for name, version in wheelhouse
    ]
    assert provided.environment_has(infos, [str(installed)]) is expected


def test_only_the_interpreters_environment_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder put on sys.path (the node cache of an earlier load) is not what workers share."""
    monkeypatch.syspath_prepend(str(tmp_path))
    paths = provided.environment_paths()
    assert str(tmp_path) not in paths
    assert sysconfig.get_paths()["purelib"] in paths, paths


def test_a_driver_only_load_installs_even_where_the_environment_has_every_wheel(
    installed: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment is consulted only where there is a session to ship to: a
    driver-only load keeps its light imports and installs as before (the session case,
    ``delivery == "provided"``, is proven on Spark in tests/apps/sandbox_cases.py)."""
    monkeypatch.setattr(provided, "environment_paths", lambda: [str(installed)])
    wheels = [_wheel(tmp_path / "w", f"{PREFIX}-prov-a", "1.0")]
    wheels.append(_wheel(tmp_path / "w", f"{PREFIX}-prov-b", "2.0.0"))
    cache = tmp_path / "cache"
    result = load(make_wheelhouse(tmp_path / "runs", wheels), cache_dir=cache)
    assert result.delivery == "driver-only"
    assert result.folder.is_dir() and result.folder.is_relative_to(cache)


def test_load_installs_a_wheelhouse_whose_versions_differ(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's behaviour for packages the environment has at another version."""
    monkeypatch.setattr(provided, "environment_paths", lambda: [str(installed)])
    wheels = [_wheel(tmp_path / "w", f"{PREFIX}-prov-a", "1.0")]
    wheels.append(_wheel(tmp_path / "w", f"{PREFIX}-prov-b", "2.1"))
    cache = tmp_path / "cache"
    result = load(make_wheelhouse(tmp_path / "runs", wheels), cache_dir=cache)
    assert result.delivery == "driver-only"
    assert result.folder.is_dir() and result.folder.is_relative_to(cache)
    import sdload_prov_b  # type: ignore[import-not-found]

    assert sdload_prov_b.V == "2.1" and str(cache) in sdload_prov_b.__file__


def test_provided_is_a_result_not_an_option(tmp_path: Path) -> None:
    from sparkdeps._core.errors import InputError

    with pytest.raises(InputError, match="delivery must be one of"):
        load(tmp_path / "wheelhouse.zip", delivery="provided")
