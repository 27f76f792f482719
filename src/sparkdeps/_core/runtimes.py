"""Runtime package sets: what a cluster's Python already has installed.

A Databricks runtime ships 140 to 400 packages (docs/facts.md, "Runtime package
sets"). The sets live as package data in ``runtime_sets/<profile>.txt``: two
header lines (``# <profile>: ...`` and ``# python X.Y[; spark A.B.C]``), then one
``name==version`` per line. ``--runtime-packages FILE`` reads the same shape from
``pip list --format=freeze`` of any cluster or image.

This module stays light (no ``packaging.requirements``): the runtime half reads
it on every driver.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from .errors import InputError, TargetError

__all__ = [
    "PROTECTED",
    "RuntimePackages",
    "canonical_name",
    "parse_freeze",
    "runtime_packages",
    "runtime_profile_names",
]

# Packages that the runtime's own pyspark imports before any user code runs, so
# a wheelhouse copy can never take their place (docs/facts.md, "What pyspark loads
# first"): pyspark.worker imports numpy; the driver imports pandas (and numpy,
# dateutil through it) when a session starts; Arrow UDFs import pyarrow; py4j is
# the classic gateway; Spark Connect clients import grpcio, protobuf,
# googleapis-common-protos and grpcio-status.
PROTECTED: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "py4j",
    "grpcio",
    "grpcio-status",
    "protobuf",
    "googleapis-common-protos",
)

_NAME_RE = re.compile(r"[-_.]+")
_LINE_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)\s*$")
_HEADER_RE = re.compile(r"^#\s*python\s+(3\.\d+)(?:;\s*spark\s+([0-9][0-9.]*))?", re.I)
_DATA = "runtime_sets"


def canonical_name(name: str) -> str:
    """PEP 503 normalisation, without importing packaging.utils on the load path."""
    return _NAME_RE.sub("-", name).lower()


@dataclass(frozen=True)
class RuntimePackages:
    """The packages a runtime's Python has before any wheelhouse is loaded."""

    name: str
    """A profile (``dbr-14.3``) or the file a custom set came from."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """Canonical name -> version string, as the runtime has it."""
    python_version: str | None = None
    spark_version: str | None = None

    @property
    def digest(self) -> str:
        """sha256 of the sorted ``name==version`` lines: names a set in manifests and caches."""
        text = "\n".join(f"{n}=={v}" for n, v in sorted(self.packages.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    def version_of(self, name: str) -> str | None:
        return self.packages.get(canonical_name(name))

    def protected(self) -> dict[str, str]:
        """The protected packages this runtime has, with their versions."""
        return {n: self.packages[n] for n in PROTECTED if n in self.packages}


def parse_freeze(text: str, origin: str) -> RuntimePackages:
    """Read ``pip list --format=freeze`` output (or a runtime set file).

    Lines that are not ``name==version`` (editable installs, ``@ file://`` lines,
    comments) are skipped: they cannot be resolved against anyway.
    """
    packages: dict[str, str] = {}
    python_version: str | None = None
    spark_version: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        header = _HEADER_RE.match(line)
        if header:
            python_version, spark_version = header.group(1), header.group(2)
            continue
        match = _LINE_RE.match(line)
        if match:
            packages[canonical_name(match.group(1))] = match.group(2)
    if not packages:
        raise InputError(
            f"{origin}: no 'name==version' lines found; produce the file on the cluster's "
            "driver with `python -m pip list --format=freeze > runtime.txt` "
            "(or `sparkdeps runtime-freeze`)"
        )
    return RuntimePackages(
        name=origin,
        packages=MappingProxyType(dict(sorted(packages.items()))),
        python_version=python_version,
        spark_version=spark_version,
    )


def runtime_profile_names() -> tuple[str, ...]:
    """Every profile that ships a package set, sorted."""
    folder = resources.files(__package__).joinpath(_DATA)
    names = [p.name[: -len(".txt")] for p in folder.iterdir() if p.name.endswith(".txt")]
    return tuple(sorted(names, key=_profile_sort_key))


def _profile_sort_key(name: str) -> tuple[str, tuple[int, ...], str]:
    family, _, rest = name.partition("-")
    numbers = tuple(int(part) for part in re.findall(r"\d+", rest))
    return family, numbers, rest


_CACHE: dict[str, RuntimePackages] = {}


def runtime_packages(profile: str) -> RuntimePackages:
    """The package set shipped for ``profile`` (``dbr-14.3``, ``serverless-v4``...)."""
    cached = _CACHE.get(profile)
    if cached is not None:
        return cached
    resource = resources.files(__package__).joinpath(_DATA).joinpath(f"{profile}.txt")
    if not resource.is_file():
        known = ", ".join(runtime_profile_names())
        raise TargetError(f"no package set for runtime {profile!r}; known: {known}")
    parsed = parse_freeze(resource.read_text(encoding="utf-8"), profile)
    result = RuntimePackages(
        name=profile,
        packages=parsed.packages,
        python_version=parsed.python_version,
        spark_version=parsed.spark_version,
    )
    _CACHE[profile] = result
    return result


def read_runtime_file(path: str | os.PathLike[str]) -> RuntimePackages:
    """A custom runtime's set from a freeze file (``--runtime-packages FILE``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{file}: cannot read the runtime package list: {exc}") from exc
    return parse_freeze(text, str(file))
