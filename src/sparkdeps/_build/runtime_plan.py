"""Resolving against a runtime's packages: what ships, what the runtime provides.

A target with a package set (a profile, or ``--runtime-packages FILE``) resolves
the input *runtime-first* (docs/runtime-aware.md):

- every runtime package is a hard ``name==version`` constraint unless the user
  overrides it by name; what no index has as the runtime has it (Spark's own
  packages, ``torch 2.3.1+cpu``) is offered as a stand-in wheel (:mod:`.runtime_stubs`);
- where the input cannot be met that way, the runtime packages that must move are
  relaxed; protected ones (pyspark loads them before user code, docs/facts.md fact
  13; Spark's own; what an ML runtime builds) never move without an override;
- ``prefer_newest`` brings back the older behaviour: only protected packages are
  hard, every other runtime package is a *preference* (uv keeps a pin already in
  its output file unless a requirement excludes it);
- a pin the runtime's version satisfies (PEP 440: ``2.3.1`` is met by
  ``2.3.1+cpu``) is not shipped, only recorded as relied on; a pin that differs
  ships and *shadows* the runtime's copy.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .._core.manifest import WheelInfo
from .._core.plain import fields_dict
from .._core.runtimes import RuntimePackages
from .._core.target import Target

__all__ = [
    "Placement",
    "RuntimeContext",
    "RuntimePlan",
    "classify",
    "runtime_meets",
]

logger = logging.getLogger(__name__)

Status = Literal["new", "shadows", "runtime"]


def runtime_meets(have: str, pinned: str) -> bool:
    """The runtime's ``have`` is the pinned release: equal, or ``pinned`` without the
    local label ``have`` carries (PEP 440: ``==2.3.1`` matches ``2.3.1+cpu``)."""
    try:
        wanted, found = Version(pinned), Version(have)
    except InvalidVersion:
        return have == pinned
    return found == wanted or (wanted.local is None and found.public == wanted.public)


@dataclass(frozen=True)
class RuntimeContext:
    """A runtime's packages, the names the user chose to override, and the strategy."""

    packages: RuntimePackages
    overrides: frozenset[str] = frozenset()
    prefer_newest: bool = False
    """Only protected packages are hard; other runtime versions are preferences."""

    @classmethod
    def of(
        cls, target: Target, overrides: Iterable[str] = (), *, prefer_newest: bool = False
    ) -> RuntimeContext | None:
        if target.runtime is None:
            return None
        chosen = frozenset(canonicalize_name(n) for n in overrides)
        return cls(target.runtime, chosen, prefer_newest)

    def provided(self) -> dict[str, str]:
        """Every runtime package (pip's and Spark's) -> its version, overrides left out."""
        return {n: v for n, v in self.packages.provided.items() if not self.overridden(n)}

    def overridden(self, name: str) -> bool:
        """Named in ``override_runtime``, or matched by a pattern there (``nvidia-*``)."""
        key = canonicalize_name(name)
        return key in self.overrides or any(
            "*" in pattern and fnmatch.fnmatchcase(key, pattern) for pattern in self.overrides
        )

    def protected(self) -> dict[str, str]:
        """Protected package -> the runtime's version, overrides left out."""
        return {
            name: version
            for name, version in self.packages.protected().items()
            if not self.overridden(name)
        }

    def constraint_lines(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.protected().items())]

    def hard_lines(self, relaxed: Iterable[str] = ()) -> list[str]:
        """``name==version`` for every runtime package but the overridden and ``relaxed``."""
        moved = set(relaxed)
        return [f"{n}=={v}" for n, v in sorted(self.provided().items()) if n not in moved]

    def preference_lines(self) -> list[str]:
        """Seed for uv's ``-o`` file: uv prefers these pins (overrides resolve freely)."""
        return [f"{name}=={version}" for name, version in self.provided().items()]

    def stand_ins(self) -> dict[str, str]:
        """What uv gets stand-in wheels for: what no index offers as the runtime has it
        (Spark's own packages, versions with a local label such as ``2.3.1+cpu``)."""
        builtins = self.packages.builtins
        return {n: v for n, v in self.provided().items() if n in builtins or "+" in v}

    def guarded_new(self, name: str) -> bool:
        """An ML runtime's own kind of package (torch, CUDA...) that it lacks: never
        shipped without an override."""
        key = canonicalize_name(name)
        return self.packages.guards(key) and not self.overridden(key)


@dataclass(frozen=True)
class Placement:
    """Where one resolved package comes from on the cluster."""

    name: str
    version: str
    status: Status
    """``new`` ships; ``shadows`` ships over the runtime's copy; ``runtime`` ships nothing."""
    runtime_version: str | None = None
    protected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True)
class RuntimePlan:
    context: RuntimeContext
    placements: tuple[Placement, ...] = field(default=())

    def status(self, name: str) -> Placement | None:
        key = canonicalize_name(name)
        return next((p for p in self.placements if p.name == key), None)

    @property
    def relied_on(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.status == "runtime")

    @property
    def shadows(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.status == "shadows")

    def ships(self, name: str) -> bool:
        placement = self.status(name)
        return placement is None or placement.status != "runtime"

    def mark(self, wheel: WheelInfo) -> WheelInfo:
        """The wheel with its runtime status (new, or which version it shadows)."""
        placement = self.status(wheel.name)
        if placement is not None and placement.status == "shadows":
            return replace(wheel, runtime="shadows", shadows=placement.runtime_version)
        return replace(wheel, runtime="new")

    def warn_overrides(self) -> None:
        for item in self.shadows:
            if item.protected:
                logger.warning(
                    "shipping %s %s over the runtime's %s %s (--override-runtime): pyspark "
                    "imports the runtime's copy before user code, so executors' Python workers "
                    "and the driver's session keep %s; code compiled against %s may fail there",
                    item.name,
                    item.version,
                    item.name,
                    item.runtime_version,
                    item.runtime_version,
                    item.version,
                )

    def manifest_section(
        self, wheels: Sequence[WheelInfo], roots: Sequence[Requirement], target: Target
    ) -> dict[str, Any]:
        """``manifest.json``'s ``runtime``: the set, its digest, what the wheelhouse relies on."""
        needs = _needed_specifiers(wheels, roots, target)
        packages = self.context.packages
        return {
            "name": packages.name,
            "digest": packages.digest,
            "python_version": packages.python_version,
            "spark_version": packages.spark_version,
            "relied_on": [
                {
                    "name": p.name,
                    "version": p.version,
                    "protected": p.protected,
                    "requires": str(needs.get(p.name, SpecifierSet())),
                }
                for p in self.relied_on
            ],
            "shadows": [
                {
                    "name": p.name,
                    "version": p.version,
                    "runtime_version": p.runtime_version,
                    "protected": p.protected,
                }
                for p in self.shadows
            ],
            "overrides": sorted(self.context.overrides),
        }


def classify(pins: Iterable[tuple[str, str, bool]], context: RuntimeContext) -> RuntimePlan:
    """Place each ``(name, version, local)`` pin: new, shadowing the runtime, or the runtime's.

    A local wheel (provided, built, generated) always ships, even at the runtime's version.
    """
    packages = context.packages.provided
    placements: list[Placement] = []
    for name, version, local in pins:
        key = canonicalize_name(name)
        have = packages.get(key)
        protected = context.packages.is_protected(key)
        if have is None:
            placements.append(Placement(key, version, "new", None, context.packages.guards(key)))
        elif runtime_meets(have, version) and not local:
            shown = have if "+" in have else version  # the local build the runtime has
            placements.append(Placement(key, shown, "runtime", have, protected))
        else:
            placements.append(Placement(key, version, "shadows", have, protected))
    return RuntimePlan(context, tuple(sorted(placements, key=lambda p: p.name)))


def _needed_specifiers(
    wheels: Sequence[WheelInfo], roots: Sequence[Requirement], target: Target
) -> Mapping[str, SpecifierSet]:
    """What the shipped wheels and the input ask of each package (markers for the target)."""
    env = target.markers()
    needs: dict[str, SpecifierSet] = {}
    requirements = list(roots)
    for wheel in wheels:
        requirements += [
            r
            for r in wheel.requirements()
            if r.marker is None or r.marker.evaluate({**env, "extra": ""})
        ]
    for requirement in requirements:
        key = canonicalize_name(requirement.name)
        needs[key] = needs.get(key, SpecifierSet()) & requirement.specifier
    return needs
