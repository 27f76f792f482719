"""Targets: profiles, explicit Python/platform, accepted tags and markers."""

from __future__ import annotations

import sys

import pytest
from packaging.markers import Marker
from packaging.tags import parse_tag

from sparkdeps._core.errors import TargetError
from sparkdeps._core.target import PROFILES, Target, choose_target, host_target


@pytest.mark.parametrize(
    ("profile", "python", "spark"),
    [
        ("dbr-13.3", "3.10", "3.4.1"),
        ("dbr-14.3", "3.10", "3.5.0"),
        ("dbr-15.4", "3.11", "3.5.0"),
        ("dbr-16.4", "3.12", "3.5.2"),
        ("dbr-17.3", "3.12", "4.0.0"),
    ],
    ids=["13.3", "14.3", "15.4", "16.4", "17.3"],
)
def test_profiles_follow_the_runtime_table(profile: str, python: str, spark: str) -> None:
    target = choose_target(profile)
    assert target.python_version == python
    assert target.spark_version == spark
    assert target.glibc == (2, 35)
    assert target.arch == "x86_64"
    assert not target.native
    assert target.platforms[0] == "manylinux_2_35_x86_64"
    assert "manylinux2014_x86_64" in target.platforms
    assert "linux_x86_64" not in target.platforms
    assert target.profile == profile
    recorded = target.to_dict()  # what the manifest keeps
    assert recorded["python_version"] == python and recorded["profile"] == profile
    assert Target.from_dict(recorded) == target  # export reads targets back


def test_profile_with_aarch64() -> None:
    target = choose_target("dbr-15.4", platform="aarch64")
    assert target.arch == "aarch64"
    assert target.uv_platform == "aarch64-manylinux_2_35"
    assert all(p.endswith("_aarch64") for p in target.platforms)
    assert "manylinux_2_12_aarch64" not in target.platforms  # no aarch64 below 2014
    assert target.profile == "dbr-15.4"


def test_accepts_tags() -> None:
    target = choose_target(python_version="3.10", platform="manylinux_2_28_x86_64")
    accepted = [
        "py3-none-any",
        "cp310-cp310-manylinux_2_17_x86_64",
        "cp310-abi3-manylinux_2_28_x86_64",
        "cp38-abi3-manylinux2014_x86_64",
        "py2.py3-none-any",
    ]
    refused = [
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp310-cp310-manylinux_2_31_x86_64",
        "cp310-cp310-manylinux_2_17_aarch64",
        "cp310-cp310-win_amd64",
        "cp310-cp310-linux_x86_64",
        "pp310-pypy310_pp73-manylinux_2_17_x86_64",
    ]
    for text in accepted:
        assert target.accepts(parse_tag(text)), text
    for text in refused:
        assert not target.accepts(parse_tag(text)), text


def test_markers_are_the_targets() -> None:
    old = choose_target(python_version="3.10")
    new = choose_target(python_version="3.12", platform="aarch64")
    marker = Marker('python_version < "3.11"')
    assert marker.evaluate(old.markers())
    assert not marker.evaluate(new.markers())
    assert Marker('platform_machine == "aarch64"').evaluate(new.markers())
    assert Marker('sys_platform == "linux"').evaluate(old.markers())


def test_default_is_the_host() -> None:
    target = choose_target()
    assert target == host_target()
    assert target.python_version == f"{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.platform.startswith("linux"):
        assert target.native
        assert f"linux_{target.arch}" in target.platforms


def test_explicit_version_keeps_full_version() -> None:
    target = choose_target(python_version="3.10.12", platform="x86_64")
    assert target.python_version == "3.10"
    assert target.python_full_version == "3.10.12"
    assert target.abi == "cp310"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "dbr-9.1"}, "known profiles"),
        ({"python_version": "three"}, "python_version"),
        ({"platform": "win_amd64"}, "x86_64"),
        ({"python_version": "3"}, "3.10"),
    ],
    ids=["profile", "version", "platform", "short-version"],
)
def test_bad_targets(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(TargetError, match=match):
        choose_target(**kwargs)  # type: ignore[arg-type]


def test_keys_differ_per_target() -> None:
    keys = {t.key() for t in PROFILES.values()}
    assert len(keys) == 3  # 3.10, 3.11, 3.12 on the same platform
    assert choose_target("dbr-14.3", platform="aarch64").key() != PROFILES["dbr-14.3"].key()
