"""Runtime mismatch, at load: does this Python have the runtime packages the wheelhouse
relies on, at the versions it was built against?

A runtime-aware wheelhouse (docs/runtime-aware.md) leaves out what its runtime
already has and records those packages in ``manifest.json``'s ``runtime``
section. Before the wheelhouse goes on ``sys.path`` the driver compares them
with what ``importlib.metadata`` finds:

- same version: fine;
- another version that still satisfies what the wheelhouse needs: a warning
  (a different runtime than the one built for), an error with ``strict=True``;
- a protected package (numpy, pandas, pyarrow...) at another version, a missing
  package, or a version the wheelhouse's requirements exclude: an error, a
  warning with ``strict=False``.

Protected packages the wheelhouse ships anyway (``--override-runtime``) get a
warning here too. On a fresh install, runtime distributions whose requirements
exclude a version the wheelhouse ships (a shadowing upgrade) are reported: the
build cannot see them, as package sets hold names and versions only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._core.errors import RuntimeMismatchError

__all__ = ["Difference", "check_runtime", "runtime_differences"]

logger = logging.getLogger(__name__)

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_NORMALISE = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class Difference:
    """A relied-on runtime package this Python has at another version, or not at all."""

    name: str
    expected: str
    found: str | None
    protected: bool
    fits: bool
    """``found`` satisfies what the wheelhouse needs of the package."""

    def is_error(self, strict: bool | None) -> bool:
        if strict is not None:
            return strict
        return self.protected or self.found is None or not self.fits

    def describe(self) -> str:
        found = f"this Python has {self.found}" if self.found else "this Python lacks it"
        kind = " (protected: pyspark loads it before user code)" if self.protected else ""
        fit = "" if self.found is None or self.fits else ", outside what the wheelhouse needs"
        return f"{self.name}: built against {self.expected}, {found}{fit}{kind}"


# Spark's own packages are on a runtime's PYTHONPATH, not pip-installed (Databricks lists
# neither pyspark nor py4j): the imported module's version is the runtime's, and where
# neither it nor metadata is found there is nothing to compare (docs/runtime-aware.md).
_SPARK_MODULES = {"pyspark": "pyspark", "py4j": "py4j.version", "delta-spark": "delta"}


def _installed(name: str) -> str | None:
    module = sys.modules.get(_SPARK_MODULES.get(name, ""))
    version = getattr(module, "__version__", None) if module is not None else None
    if isinstance(version, str):
        return version
    import importlib.metadata  # noqa: PLC0415

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fits(found: str, requires: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # noqa: PLC0415
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    try:
        return SpecifierSet(requires).contains(Version(found), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def runtime_differences(section: Mapping[str, Any]) -> list[Difference]:
    """Every relied-on package whose installed version is not the one built against."""
    differences: list[Difference] = []
    for item in section.get("relied_on", ()):
        name, expected = str(item["name"]), str(item["version"])
        found = _installed(name)
        if found == expected or (found is None and name in _SPARK_MODULES):
            continue
        from packaging.version import InvalidVersion, Version  # noqa: PLC0415

        try:
            if found is not None and Version(found) == Version(expected):
                continue
        except InvalidVersion:
            pass
        fits = found is not None and _fits(found, str(item.get("requires") or ""))
        differences.append(Difference(name, expected, found, bool(item.get("protected")), fits))
    return differences


def _broken_dependents(shadows: Sequence[Mapping[str, Any]], skip: str | None) -> list[str]:
    """Runtime distributions whose requirements exclude a version the wheelhouse ships."""
    shipped = {_NORMALISE.sub("-", str(s["name"])).lower(): str(s["version"]) for s in shadows}
    if not shipped:
        return []
    import importlib.metadata  # noqa: PLC0415

    from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    path = [entry for entry in sys.path if entry != skip]
    problems: list[str] = []
    for dist in importlib.metadata.distributions(path=path):
        for text in dist.requires or ():
            match = _REQ_NAME.match(text)
            key = _NORMALISE.sub("-", match.group(1)).lower() if match else ""
            if key not in shipped:
                continue
            try:
                requirement = Requirement(text)
                if requirement.marker is not None and not requirement.marker.evaluate(
                    {"extra": ""}
                ):
                    continue
                if requirement.specifier.contains(Version(shipped[key]), prereleases=True):
                    continue
            except (InvalidRequirement, InvalidVersion):
                continue
            problems.append(
                f"{dist.metadata['Name']} {dist.version} (runtime) requires {text}, "
                f"but the wheelhouse ships {key} {shipped[key]}"
            )
    return sorted(set(problems))


def check_runtime(
    section: Mapping[str, Any] | None,
    *,
    strict: bool | None = None,
    fresh: bool = False,
    folder: str | os.PathLike[str] | None = None,
) -> list[Difference]:
    """Warn or raise :class:`RuntimeMismatchError` as ``strict`` says; return the differences.

    ``fresh`` (a first install on this node) adds the check of runtime packages
    that depend on a shadowed one; ``folder`` (the install) is left out of it.
    """
    if not section:
        return []
    built_for = str(section.get("name", "?"))
    _warn_protected_overrides(section.get("shadows", ()), built_for)
    differences = runtime_differences(section)
    _report(differences, strict, built_for)
    if fresh:
        skip = os.fspath(folder) if folder is not None else None
        _report_dependents(_broken_dependents(section.get("shadows", ()), skip), strict)
    return differences


def _warn_protected_overrides(shadows: Sequence[Mapping[str, Any]], built_for: str) -> None:
    for item in shadows:
        if item.get("protected"):
            logger.warning(
                "this wheelhouse ships %s %s over the runtime's %s (built for %s with "
                "--override-runtime): pyspark imports the runtime's %s before user code on "
                "executors and in the driver's session, so code built for %s may fail there",
                item["name"], item["version"], item.get("runtime_version"), built_for,
                item["name"], item["version"],
            )  # fmt: skip


def _report(differences: Sequence[Difference], strict: bool | None, built_for: str) -> None:
    errors = [d for d in differences if d.is_error(strict)]
    warnings = [d for d in differences if not d.is_error(strict)]
    if warnings:
        logger.warning(
            "this Python differs from the runtime the wheelhouse was built for (%s):\n  %s",
            built_for,
            "\n  ".join(d.describe() for d in warnings),
        )
    if errors:
        raise RuntimeMismatchError(
            f"the wheelhouse was built for {built_for} and relies on runtime packages this "
            "Python lacks or has at other versions:\n  "
            + "\n  ".join(d.describe() for d in errors),
            fix="rebuild for this cluster's runtime (`sparkdeps check --target <profile>`, "
            "or --runtime-packages with `sparkdeps runtime-freeze` output from this driver), "
            "or load with strict=False to only warn",
        )


def _report_dependents(broken: Sequence[str], strict: bool | None) -> None:
    if broken and strict:
        raise RuntimeMismatchError(
            "shipped upgrades break runtime packages that depend on them:\n  "
            + "\n  ".join(broken),
            fix="pin the shipped package to a version those accept, or load with "
            "strict=None to only warn",
        )
    if broken:
        logger.warning(
            "shipped upgrades may break runtime packages (if they are imported):\n  %s",
            "\n  ".join(broken),
        )
