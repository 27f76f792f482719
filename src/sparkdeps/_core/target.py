"""The target: the Python and platform of the cluster a wheelhouse is for.

A target is either a Databricks runtime profile (docs/facts.md, fact 11), explicit
``python_version`` + ``platform``, or the running interpreter and machine.
It knows which wheel tags it accepts and what its environment markers are, so
resolution can happen *for the target* rather than for the host (fact 5).
"""

from __future__ import annotations

import os
import platform as _platform
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from packaging.tags import Tag, compatible_tags, cpython_tags, sys_tags
from packaging.version import InvalidVersion, Version

from .errors import TargetError
from .plain import plain
from .runtimes import RuntimePackages, read_runtime_file, runtime_packages

__all__ = ["PROFILES", "Arch", "Target", "choose_target", "host_target"]

Arch = Literal["x86_64", "aarch64"]
_ARCHES: tuple[Arch, ...] = ("x86_64", "aarch64")
_DEFAULT_GLIBC = (2, 35)  # Ubuntu 22.04, every Databricks LTS from 13.3 on
_OLDEST_MANYLINUX_MINOR = 5
_LEGACY_ALIASES = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


@dataclass(frozen=True)
class Target:
    """Python version, implementation and platform a wheelhouse is built for."""

    python_version: str
    """``"3.10"``: major.minor."""
    arch: Arch
    glibc: tuple[int, int] = _DEFAULT_GLIBC
    """The glibc level: manylinux wheels up to this level are accepted."""
    python_full_version: str = ""
    profile: str | None = None
    """The runtime profile this came from, e.g. ``"dbr-14.3"``."""
    spark_version: str | None = None
    native: bool = False
    """True when this is the running interpreter: locally built ``linux_*`` wheels fit."""
    implementation: Literal["cp"] = "cp"
    runtime: RuntimePackages | None = field(default=None, compare=False, repr=False)
    """The packages the target's Python already has (a profile's set or a freeze file).

    None: the build ships the full closure, as for explicit ``--python``/``--platform``."""
    _tags: tuple[Tag, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"3\.\d{1,2}", self.python_version):
            raise TargetError(f"python_version must look like '3.10', got {self.python_version!r}")
        if self.arch not in _ARCHES:
            raise TargetError(f"unsupported architecture {self.arch!r}: use x86_64 or aarch64")
        if not self.python_full_version:
            object.__setattr__(self, "python_full_version", f"{self.python_version}.0")

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")
        return int(major), int(minor)

    @property
    def abi(self) -> str:
        major, minor = self.version_tuple
        return f"cp{major}{minor}"

    @property
    def platforms(self) -> tuple[str, ...]:
        """Platform tags this target accepts, most specific first."""
        names: list[str] = []
        major, top = self.glibc
        for minor in range(top, _OLDEST_MANYLINUX_MINOR - 1, -1):
            if self.arch == "aarch64" and minor < 17:
                break  # no aarch64 manylinux below 2014
            names.append(f"manylinux_{major}_{minor}_{self.arch}")
            legacy = _LEGACY_ALIASES.get((major, minor))
            if legacy:
                names.append(f"{legacy}_{self.arch}")
        if self.native:
            names.append(f"linux_{self.arch}")
        return tuple(names)

    @property
    def uv_platform(self) -> str:
        """The ``--python-platform`` value uv understands."""
        return f"{self.arch}-manylinux_{self.glibc[0]}_{self.glibc[1]}"

    @property
    def tags(self) -> tuple[Tag, ...]:
        """Every wheel tag the target accepts, best first.

        Computed on first use: importing this module builds every profile's Target, and
        computing their tags then (13,000 ``Tag`` objects) was most of a warm ``load``."""
        if not self._tags:
            object.__setattr__(self, "_tags", tuple(self._compute_tags()))
        return self._tags

    def _compute_tags(self) -> list[Tag]:
        version = self.version_tuple
        platforms = list(self.platforms)
        tags = list(cpython_tags(version, abis=[self.abi, "abi3", "none"], platforms=platforms))
        tags.extend(compatible_tags(version, interpreter=self.abi, platforms=platforms))
        return tags

    def accepts(self, wheel_tags: frozenset[Tag]) -> bool:
        return not wheel_tags.isdisjoint(self.tags)

    def markers(self) -> dict[str, str]:
        """The PEP 508 environment of the target (for markers in requirements)."""
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full_version,
            "os_name": "posix",
            "platform_machine": self.arch,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.python_full_version,
            "python_version": self.python_version,
            "sys_platform": "linux",
        }

    @property
    def description(self) -> str:
        head = f"{self.profile}: " if self.profile else ""
        return f"{head}CPython {self.python_version} on {self.platforms[0]}"

    def key(self) -> str:
        """A stable string for cache keys."""
        glibc = f"{self.glibc[0]}.{self.glibc[1]}"
        key = f"cp{self.python_version}-{self.arch}-glibc{glibc}-{int(self.native)}"
        return key if self.runtime is None else f"{key}-rt{self.runtime.digest[:16]}"

    def to_dict(self) -> dict[str, Any]:
        """What a manifest records: ``glibc`` as ``"2.35"``; ``native`` is a build-time detail."""
        out = {name: plain(getattr(self, name)) for name in _RECORDED}
        out["glibc"] = f"{self.glibc[0]}.{self.glibc[1]}"
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        """The Target a manifest recorded (:meth:`to_dict`), without its runtime set."""
        glibc_major, glibc_minor = (int(part) for part in str(data["glibc"]).split("."))
        return cls(
            python_version=str(data["python_version"]),
            arch=data["arch"],
            glibc=(glibc_major, glibc_minor),
            python_full_version=str(data.get("python_full_version") or ""),
            profile=data.get("profile"),
            spark_version=data.get("spark_version"),
            native="linux_" + str(data["arch"]) in data.get("platforms", ()),
        )


_RECORDED = (
    "profile",
    "implementation",
    "python_version",
    "python_full_version",
    "abi",
    "arch",
    "platforms",
    "spark_version",
)


def _profile(name: str, python: str, full: str, spark: str | None) -> Target:
    return Target(
        python_version=python,
        arch="x86_64",
        python_full_version=full,
        profile=name,
        spark_version=spark,
    )


# Databricks Runtime LTS -> (Spark, Python), docs/facts.md "Runtime table"; the ML
# runtimes share their base's Python and Spark; serverless environment versions
# 1 -> 3.10, 2 -> 3.11, 3 and 4 -> 3.12 (their Spark is the service's, not pinned).
# x86_64 by default; an aarch64 (Graviton) cluster takes ``platform="aarch64"``.
_LTS = {
    "dbr-13.3": ("3.10", "3.10.12", "3.4.1"),
    "dbr-14.3": ("3.10", "3.10.12", "3.5.0"),
    "dbr-15.4": ("3.11", "3.11.0", "3.5.0"),
    "dbr-16.4": ("3.12", "3.12.3", "3.5.2"),
    "dbr-17.3": ("3.12", "3.12.3", "4.0.0"),
}
_SERVERLESS = {
    "serverless-v1": ("3.10", "3.10.12"),
    "serverless-v2": ("3.11", "3.11.10"),
    "serverless-v3": ("3.12", "3.12.3"),
    "serverless-v4": ("3.12", "3.12.3"),
}
PROFILES: dict[str, Target] = {
    **{name: _profile(name, *spec) for name, spec in _LTS.items()},
    **{f"{name}-ml": _profile(f"{name}-ml", *spec) for name, spec in _LTS.items()},
    **{name: _profile(name, python, full, None) for name, (python, full) in _SERVERLESS.items()},
}


def host_target() -> Target:
    """The running interpreter and machine."""
    machine = _platform.machine().lower()
    arch: Arch = "aarch64" if machine in {"aarch64", "arm64"} else "x86_64"
    if sys.implementation.name != "cpython" or not sys.platform.startswith("linux"):
        # Clusters are CPython on Linux; off Linux (a laptop) default to a 2.35 manylinux
        # target of the same Python, which is what a cluster most likely runs.
        native = False
    else:
        native = machine in {"x86_64", "aarch64", "amd64", "arm64"}
    glibc = _host_glibc() if native else _DEFAULT_GLIBC
    return Target(
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        arch=arch,
        glibc=glibc,
        python_full_version=_platform.python_version(),
        native=native,
    )


def _host_glibc() -> tuple[int, int]:
    libc, version = _platform.libc_ver()
    if libc != "glibc" or not version:
        return _DEFAULT_GLIBC
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _parse_platform(text: str) -> tuple[Arch, tuple[int, int]]:
    value = text.strip().lower().replace("-", "_")
    for arch in _ARCHES:
        if value == arch:
            return arch, _DEFAULT_GLIBC
        match = re.fullmatch(rf"manylinux_(\d+)_(\d+)_{arch}", value)
        if match:
            return arch, (int(match.group(1)), int(match.group(2)))
        for (major, minor), alias in _LEGACY_ALIASES.items():
            if value == f"{alias}_{arch}":
                return arch, (major, minor)
        # uv's spelling: x86_64-manylinux_2_35
        match = re.fullmatch(rf"{arch}_manylinux_(\d+)_(\d+)", value)
        if match:
            return arch, (int(match.group(1)), int(match.group(2)))
    raise TargetError(
        f"unknown platform {text!r}: use 'x86_64', 'aarch64', or a manylinux tag such as "
        "'manylinux_2_35_x86_64'"
    )


def choose_target(
    target: str | Target | None = None,
    *,
    python_version: str | None = None,
    platform: str | None = None,
    runtime_packages: str | os.PathLike[str] | RuntimePackages | None = None,
) -> Target:
    """Turn the user's choice into a :class:`Target`.

    ``target`` is a profile name (``"dbr-14.3"``) or a Target; ``python_version``
    and ``platform`` override parts of it. With nothing given: the host. A
    profile carries its runtime's package set; ``runtime_packages`` (a
    ``pip list --format=freeze`` file, or a :class:`RuntimePackages`) gives
    one to any target, replacing the profile's.
    """
    chosen = _overridden(target, python_version=python_version, platform=platform)
    if runtime_packages is None:
        return chosen
    packages = (
        runtime_packages
        if isinstance(runtime_packages, RuntimePackages)
        else read_runtime_file(runtime_packages)
    )
    if packages.python_version and packages.python_version != chosen.python_version:
        raise TargetError(
            f"{packages.name} lists packages of Python {packages.python_version} but the target "
            f"is Python {chosen.python_version}",
            fix="pass the matching --python-version (or --target)",
        )
    return replace(chosen, runtime=packages)


def _overridden(
    target: str | Target | None, *, python_version: str | None, platform: str | None
) -> Target:
    """The profile (or Target, or host) with ``python_version`` and ``platform`` applied."""
    if target is None and python_version is None and platform is None:
        return host_target()
    base = _base_target(target)
    changes: dict[str, Any] = {}
    if python_version is not None:
        changes.update(_python_changes(python_version, base))
    if platform is not None:
        arch, glibc = _parse_platform(platform)
        changes.update(arch=arch, glibc=glibc, native=False)
    if not changes:
        return base
    return Target(
        python_version=changes.get("python_version", base.python_version),
        arch=changes.get("arch", base.arch),
        glibc=changes.get("glibc", base.glibc),
        python_full_version=changes.get("python_full_version", base.python_full_version),
        profile=base.profile,
        spark_version=base.spark_version,
        native=changes.get("native", base.native),
        runtime=base.runtime,
    )


def _base_target(target: str | Target | None) -> Target:
    """The Target the overrides apply to: the given one, a profile, or the host's Python."""
    if isinstance(target, Target):
        if (
            target.runtime is None
            and target.profile in PROFILES
            and target == PROFILES[target.profile]
        ):
            # sparkdeps.PROFILES["dbr-14.3"] means the same as "dbr-14.3"
            return replace(target, runtime=runtime_packages(target.profile))
        return target
    if target is not None:
        key = target.strip().lower()
        if key not in PROFILES:
            known = ", ".join(sorted(PROFILES))
            raise TargetError(f"unknown runtime profile {target!r}: known profiles are {known}")
        # the package set is read here, not in PROFILES: the load path never needs it
        return replace(PROFILES[key], runtime=runtime_packages(key))
    host = host_target()
    return Target(python_version=host.python_version, arch=host.arch)


def _python_changes(python_version: str, base: Target) -> dict[str, Any]:
    try:
        parsed = Version(python_version)
    except InvalidVersion as exc:
        raise TargetError(f"invalid python_version {python_version!r}") from exc
    if len(parsed.release) < 2:
        raise TargetError(f"python_version {python_version!r} needs major.minor, such as '3.10'")
    short = f"{parsed.major}.{parsed.minor}"
    changes: dict[str, Any] = {"python_version": short}
    if len(parsed.release) >= 3:
        changes["python_full_version"] = python_version
    elif short == base.python_version:
        changes["python_full_version"] = base.python_full_version
    else:
        changes["python_full_version"] = f"{short}.0"
    if short != base.python_version:
        changes["native"] = False
    return changes


def running_interpreter_tags() -> frozenset[Tag]:
    """Tags the running interpreter accepts (what ``load`` checks against)."""
    return frozenset(sys_tags())
