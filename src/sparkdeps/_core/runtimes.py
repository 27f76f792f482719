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
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from packaging.version import InvalidVersion, Version

from .errors import InputError, TargetError

__all__ = [
    "PROTECTED",
    "RuntimePackages",
    "canonical_name",
    "parse_freeze",
    "protection_reason",
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

# Spark itself is part of every runtime without being pip-installed: Databricks puts its
# own pyspark (and the py4j zip it bundles) on PYTHONPATH, ahead of site-packages, and
# builds Delta Lake's ``delta`` module in (docs/runtime-aware.md, "Spark is part of every
# runtime"). So these join every set that knows its Spark version, protected.
SPARK_BUILTINS: tuple[str, ...] = ("pyspark", "py4j", "delta-spark")

# What an ML runtime builds for itself (CPU or CUDA builds matched to its drivers): on a
# ``-ml`` profile shipping any of these, or a CUDA runtime package, needs an override.
ML_GUARDED: tuple[str, ...] = (
    "torch",
    "torchvision",
    "torchaudio",
    "tensorflow",
    "tensorflow-cpu",
    "triton",
    "jax",
    "jaxlib",
)
_ML_PREFIXES = ("nvidia-", "cuda-")

# py4j bundled by each Spark line (pyspark's own ``py4j==`` requirement).
_PY4J_OF_SPARK = {"3.4": "0.10.9.7", "3.5": "0.10.9.7", "4.0": "0.10.9.9"}
# Delta Lake in each Databricks runtime (its release notes' "Delta Lake" line): the
# ``delta-spark`` release whose Python API the built-in ``delta`` module offers.
_DELTA_OF_DBR = {
    "13.3": "2.4.0",
    "14.3": "3.1.0",
    "15.4": "3.2.0",
    "16.4": "3.3.0",
    "17.3": "4.0.0",
}
# Serverless environments carry Databricks Connect (1: 14.3, 2: 15.4, 3: 16.4, 4: 17.2),
# whose pyspark API is that of the matching runtime's Spark.
_SPARK_OF_SERVERLESS = {"1": "3.5.0", "2": "3.5.0", "3": "3.5.2", "4": "4.0.0"}
# Real sets are under 50 KB; a huge file costs gigabytes to parse and to resolve.
MAX_RUNTIME_FILE_BYTES = 1024 * 1024

logger = logging.getLogger(__name__)
_NAME_RE = re.compile(r"[-_.]+")
_LINE_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)$")
_HEADER_RE = re.compile(r"^#\s*python\s+(3\.\d+)(?:;\s*spark\s+([0-9][0-9.]*))?", re.I)
_DATABRICKS_RE = re.compile(r"Databricks Runtime (\d+\.\d+)(\S*)", re.I)
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_DATA = "runtime_sets"
_FREEZE_FIX = (
    "write the file with `python -m pip list --format=freeze > runtime.txt` (or "
    "`sparkdeps runtime-freeze`) on the cluster's driver: one 'name==version' per line"
)


def canonical_name(name: str) -> str:
    """PEP 503 normalisation, without importing packaging.utils on the load path."""
    return _NAME_RE.sub("-", name).lower()


@dataclass(frozen=True)
class RuntimePackages:
    """The packages a runtime's Python has before any wheelhouse is loaded."""

    name: str
    """A profile (``dbr-14.3``) or the file a custom set came from."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """Canonical name -> version string, as the runtime's pip lists it."""
    python_version: str | None = None
    spark_version: str | None = None
    builtins: Mapping[str, str] = field(default_factory=dict)
    """Spark's own packages (pyspark, py4j, delta-spark), on the runtime outside pip."""
    ml: bool = False
    """An ML runtime: what it builds for itself (torch, CUDA packages...) is protected."""

    @property
    def provided(self) -> Mapping[str, str]:
        """Everything the runtime's Python imports without a wheelhouse: pip's and Spark's."""
        return {**self.packages, **self.builtins}

    @property
    def digest(self) -> str:
        """sha256 of the sorted ``name==version`` lines: names a set in manifests and caches."""
        text = "\n".join(f"{n}=={v}" for n, v in sorted(self.provided.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    def version_of(self, name: str) -> str | None:
        return self.provided.get(canonical_name(name))

    def is_protected(self, name: str) -> bool:
        """pyspark loads it before user code, it is Spark's, or the ML runtime built it."""
        key = canonical_name(name)
        return key in PROTECTED or key in SPARK_BUILTINS or self.guards(key)

    def guards(self, name: str) -> bool:
        """What an ML runtime builds for itself (torch, CUDA...): protected even when absent."""
        key = canonical_name(name)
        return self.ml and (key in ML_GUARDED or key.startswith(_ML_PREFIXES))

    def protected(self) -> dict[str, str]:
        """The protected packages this runtime has, with their versions."""
        return {n: v for n, v in sorted(self.provided.items()) if self.is_protected(n)}


def protection_reason(name: str) -> str:
    """Why a package is protected, for messages."""
    key = canonical_name(name)
    if key in SPARK_BUILTINS:
        return "the runtime's own Spark (protected)"
    if key in ML_GUARDED or key.startswith(_ML_PREFIXES):
        return "a build the ML runtime made for itself (protected)"
    return "which pyspark imports before any user code (a protected package)"


def spark_builtins(
    packages: Mapping[str, str], spark_version: str | None, *, delta: str | None = None
) -> dict[str, str]:
    """pyspark at the runtime's Spark version, its py4j, and Delta where built in.

    A py4j that pip lists is kept (it is what the runtime reports); a pip-listed
    pyspark is not: the runtime's own Spark comes first on ``sys.path``.
    """
    if not spark_version:
        return {}
    line = ".".join(spark_version.split(".")[:2])
    found: dict[str, str] = {"pyspark": spark_version}
    py4j = packages.get("py4j") or _PY4J_OF_SPARK.get(line)
    if py4j:
        found["py4j"] = py4j
    if delta:
        found["delta-spark"] = delta
    return found


def _check_line(line: str, number: int, origin: str) -> tuple[str, str] | None:
    """``(canonical name, version)`` of one ``name==version`` line, or a refusal naming it."""
    where = f"{origin}, line {number}: {line[:120]!r}"
    if line.startswith("-"):
        raise InputError(
            f"{where}: options (-e, -r, --index-url...) are not packages; {_FREEZE_FIX}"
        )
    if " @ " in line or "://" in line:
        raise InputError(f"{where}: a URL reference has no version to resolve; {_FREEZE_FIX}")
    if ";" in line:
        raise InputError(
            f"{where}: markers are not allowed, the list is of one Python; {_FREEZE_FIX}"
        )
    match = _LINE_RE.match(line)
    if match is None:
        raise InputError(f"{where}: not a 'name==version' line; {_FREEZE_FIX}")
    name, version = match.group(1), match.group(2)
    if not _TOKEN_RE.fullmatch(version):
        raise InputError(f"{where}: {version!r} is not a version (PEP 440); {_FREEZE_FIX}")
    try:
        Version(version)
    except InvalidVersion:
        # a distribution's legacy version (Ubuntu's 1.1build1): no resolver can pin it
        logger.warning("%s: not a PEP 440 version, left out of the runtime's set", where)
        return None
    return canonical_name(name), version


def parse_freeze(text: str, origin: str) -> RuntimePackages:
    """Read ``pip list --format=freeze`` output (or a runtime set file).

    Comments and blank lines are skipped; any other line that is not ``name==version``
    with a PEP 440 version is refused, naming the line.
    """
    packages: dict[str, str] = {}
    python_version: str | None = None
    spark_version: str | None = None
    databricks: re.Match[str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = _HEADER_RE.match(line)
        if header:
            python_version, spark_version = header.group(1), header.group(2)
            continue
        if not line or line.startswith("#"):
            databricks = databricks or _DATABRICKS_RE.search(line)
            continue
        checked = _check_line(line, number, origin)
        if checked is not None:
            packages[checked[0]] = checked[1]
    if not packages:
        raise InputError(f"{origin}: no 'name==version' lines found; {_FREEZE_FIX}")
    # `sparkdeps runtime-freeze` on a cluster names it: "Databricks Runtime 15.4.x-cpu-ml-..."
    delta = _DELTA_OF_DBR.get(databricks.group(1)) if databricks else None
    return RuntimePackages(
        name=origin,
        packages=MappingProxyType(dict(sorted(packages.items()))),
        python_version=python_version,
        spark_version=spark_version,
        builtins=MappingProxyType(spark_builtins(packages, spark_version, delta=delta)),
        ml=bool(databricks and "-ml" in databricks.group(2).lower()),
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
    """The package set shipped for ``profile`` (``dbr-14.3``, ``serverless-v4``...),
    with Spark's own packages (:func:`spark_builtins`)."""
    cached = _CACHE.get(profile)
    if cached is not None:
        return cached
    resource = resources.files(__package__).joinpath(_DATA).joinpath(f"{profile}.txt")
    if not resource.is_file():
        known = ", ".join(runtime_profile_names())
        raise TargetError(f"no package set for runtime {profile!r}; known: {known}")
    parsed = parse_freeze(resource.read_text(encoding="utf-8"), profile)
    family, _, rest = profile.partition("-")
    release = rest.removesuffix("-ml")
    spark = parsed.spark_version
    if family == "serverless":
        spark = spark or _SPARK_OF_SERVERLESS.get(release.removeprefix("v"))
    delta = _DELTA_OF_DBR.get(release) if family == "dbr" else None
    result = RuntimePackages(
        name=profile,
        packages=parsed.packages,
        python_version=parsed.python_version,
        spark_version=parsed.spark_version,
        builtins=MappingProxyType(spark_builtins(parsed.packages, spark, delta=delta)),
        ml=profile.endswith("-ml"),
    )
    _CACHE[profile] = result
    return result


def read_runtime_file(path: str | os.PathLike[str]) -> RuntimePackages:
    """A custom runtime's set from a freeze file (``--runtime-packages FILE``).

    Refused whole, naming the file, when it is larger than any real set, not UTF-8,
    or holds a line that is not ``name==version``.
    """
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_RUNTIME_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{file}: cannot read the runtime package list: {exc}") from exc
    if len(data) > MAX_RUNTIME_FILE_BYTES:
        raise InputError(
            f"{file}: larger than {MAX_RUNTIME_FILE_BYTES // 1024} KB, which no runtime's "
            f"package list is (real ones are under 50 KB); {_FREEZE_FIX}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text (byte {exc.start}); {_FREEZE_FIX}") from exc
    return parse_freeze(text, str(file))
