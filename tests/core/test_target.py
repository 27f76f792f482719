"""``_core/target``'s pure parts: platform spellings, the platform ladder, what a manifest
records and reads back, and how overrides combine. (Profiles, tags and markers against
real choices: tests/build/test_target.py.)"""

from __future__ import annotations

import pytest

from sparkdeps._core.errors import TargetError
from sparkdeps._core.runtimes import RuntimePackages
from sparkdeps._core.target import PROFILES, Target, choose_target


@pytest.mark.parametrize(
    ("platform", "arch", "glibc"),
    [
        ("x86_64", "x86_64", (2, 35)),
        ("AARCH64", "aarch64", (2, 35)),
        ("manylinux_2_28_x86_64", "x86_64", (2, 28)),
        ("manylinux-2-31-aarch64", "aarch64", (2, 31)),
        ("manylinux2014_x86_64", "x86_64", (2, 17)),
        ("manylinux2010_x86_64", "x86_64", (2, 12)),
        ("manylinux1_x86_64", "x86_64", (2, 5)),
        ("x86_64-manylinux_2_34", "x86_64", (2, 34)),
        (" aarch64-manylinux_2_17 ", "aarch64", (2, 17)),
    ],
    ids=[
        "arch",
        "upper",
        "manylinux",
        "dashes",
        "2014",
        "2010",
        "manylinux1",
        "uv-spelling",
        "uv-aarch64-spaces",
    ],
)
def test_platform_spellings(platform: str, arch: str, glibc: tuple[int, int]) -> None:
    target = choose_target(python_version="3.11", platform=platform)
    assert (target.arch, target.glibc, target.native) == (arch, glibc, False)


@pytest.mark.parametrize(
    "platform",
    ["win_amd64", "macosx_11_0_arm64", "musllinux_1_2_x86_64", "manylinux_2_x_x86_64", ""],
    ids=["windows", "macos", "musl", "bad-glibc", "empty"],
)
def test_unknown_platforms(platform: str) -> None:
    with pytest.raises(TargetError, match="unknown platform"):
        choose_target(python_version="3.11", platform=platform)


def test_the_platform_ladder() -> None:
    ladder = Target("3.11", "x86_64", glibc=(2, 17)).platforms
    assert ladder[:2] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert ladder[-2:] == ("manylinux_2_5_x86_64", "manylinux1_x86_64")
    assert "manylinux2010_x86_64" in ladder and not any(p == "linux_x86_64" for p in ladder)
    assert Target("3.11", "aarch64", glibc=(2, 17)).platforms == (
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    )
    native = Target("3.11", "x86_64", glibc=(2, 35), native=True).platforms
    assert native[0] == "manylinux_2_35_x86_64" and native[-1] == "linux_x86_64"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"python_version": "3.x"}, "look like '3.10'"),
        ({"python_version": "3.100"}, "look like '3.10'"),
        ({"arch": "armv7l"}, "unsupported architecture"),
    ],
    ids=["not-a-version", "three-digit-minor", "arch"],
)
def test_a_target_checks_itself(kwargs: dict[str, str], match: str) -> None:
    values = {"python_version": "3.11", "arch": "x86_64", **kwargs}
    with pytest.raises(TargetError, match=match):
        Target(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target",
    [
        PROFILES["dbr-14.3"],
        Target("3.12", "aarch64", glibc=(2, 28), python_full_version="3.12.3"),
        Target("3.11", "x86_64", native=True),
    ],
    ids=["profile", "aarch64", "native"],
)
def test_to_dict_reads_back(target: Target) -> None:
    recorded = target.to_dict()
    assert recorded["glibc"] == f"{target.glibc[0]}.{target.glibc[1]}"
    assert recorded["platforms"] == list(target.platforms)
    assert Target.from_dict(recorded) == target


def test_python_overrides() -> None:
    profile = choose_target("dbr-15.4")
    same = choose_target("dbr-15.4", python_version="3.11")
    assert same.python_full_version == profile.python_full_version == "3.11.0"
    other = choose_target("dbr-15.4", python_version="3.12")
    assert (other.python_full_version, other.profile) == ("3.12.0", "dbr-15.4")
    full = choose_target("dbr-15.4", python_version="3.12.7")
    assert full.python_full_version == "3.12.7"


def test_a_profile_object_means_the_profile_name() -> None:
    assert choose_target(PROFILES["dbr-14.3"]).runtime == choose_target("dbr-14.3").runtime
    assert choose_target(PROFILES["dbr-14.3"]).runtime is not None


def test_runtime_packages_must_match_the_python() -> None:
    packages = RuntimePackages("custom.txt", {"six": "1.16.0"}, python_version="3.10")
    with pytest.raises(TargetError, match=r"custom\.txt lists packages of Python 3\.10"):
        choose_target("dbr-15.4", runtime_packages=packages)
    target = choose_target("dbr-14.3", runtime_packages=packages)
    assert target.runtime is packages
    assert target.key() != choose_target("dbr-14.3").key()  # the set is part of the key
