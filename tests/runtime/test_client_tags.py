"""A Spark Connect client whose platform is not the cluster's (a laptop on macOS or Windows).

No Spark here: what a load without a Connect session says when the wheelhouse is for
another platform, through the test-only override of the client's tags
(``sparkdeps._runtime.client.override_client_tags``). The Connect side (everything
shipped, only what fits installed, the probe proving the executors) is in
test_spark_connect.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, restored_imports

from sparkdeps._core.errors import IncompatibleWheelError
from sparkdeps._runtime.client import describe_client, fitting, override_client_tags
from sparkdeps._runtime.load import load

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
CLIENTS = {
    "macos-arm64": ["macosx_14_0_arm64", "macosx_11_0_arm64"],
    "windows": ["win_amd64"],
}


def client_tags(platforms: list[str]) -> list[Tag]:
    """The tags a CPython of this minor version on ``platforms`` accepts, most specific first."""
    return [*cpython_tags(platforms=platforms), *compatible_tags(platforms=platforms)]


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[str]:
    platforms = CLIENTS[request.param]
    override_client_tags(client_tags(platforms))
    try:
        yield platforms[0]
    finally:
        override_client_tags(None)


@pytest.mark.parametrize("client", sorted(CLIENTS), indirect=True)
def test_only_pure_wheels_fit_another_platform(client: str, tmp_path: Path) -> None:
    wheels = load_test_wheels(tmp_path, tag="_fit")
    fit, left = fitting(path.name for path in wheels)
    assert sorted(left) == sorted(p.name for p in wheels if "none-any" not in p.name)
    assert len(fit) == 3 and len(left) == 2
    assert describe_client() == f"Python {HERE} on {client}"


@pytest.mark.parametrize("client", sorted(CLIENTS), indirect=True)
def test_without_a_connect_session_the_hint_names_both_platforms(
    client: str, tmp_path: Path
) -> None:
    wheelhouse = make_wheelhouse(tmp_path / "runs", load_test_wheels(tmp_path / "w", tag="_h"))
    with restored_imports("sdload_"), pytest.raises(IncompatibleWheelError) as caught:
        load(wheelhouse, delivery="driver-only", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert f"this is Python {HERE} on {client}" in message, message
    assert "into a Spark Connect session" in message and "the cluster gets every wheel" in message
    assert "runtime" not in message.split(";", 1)[1], "no 'run the job on a Python X runtime'"
    assert not (tmp_path / "cache" / "node" / "installs").exists() or not any(
        (tmp_path / "cache" / "node" / "installs").iterdir()
    ), "nothing installed"
