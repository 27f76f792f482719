"""Frozen result values returned by the public API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .paths import pin_uri

if TYPE_CHECKING:  # annotations only: a load imports neither
    from .manifest import Format, Manifest, WheelInfo
    from .target import Target

__all__ = [
    "BuildResult",
    "CleanupResult",
    "Delivery",
    "LoadResult",
    "ModuleImport",
    "VerifyResult",
]

Delivery = Literal["auto", "classic", "connect", "shared", "environment", "driver-only", "provided"]
"""How executors get the packages. ``auto`` picks ``classic`` (archive + python
includes) for a session with a SparkContext, ``connect`` (artifacts) for a
Spark Connect session, proven by a probe, and ``environment`` where that probe
shows the workers cannot see the artifacts and a notebook's ``%pip`` is there;
``driver-only`` when there is no session. ``shared`` (opt-in) installs once
beside a wheelhouse on storage every node mounts and points the executors
there. ``environment`` (docs/delivery.md) installs through the notebook's
``%pip``, which Databricks syncs to UDFs. ``provided`` is a result, never an
option: ``auto`` found every wheel already installed in the environment at its
version (a serverless job's ``dependencies``, cluster libraries): nothing shipped."""


@dataclass(frozen=True)
class BuildResult:
    """What ``build()`` published: the wheelhouse's URI, its wheels and manifest, timings."""

    uri: str
    """Where the wheelhouse was published: ``<dest>/<run_id>/wheelhouse.zip``."""
    run_id: str
    run_uri: str
    format: Format
    wheels: tuple[WheelInfo, ...]
    manifest: Manifest
    target: Target
    digest: str
    """sha256 of ``wheelhouse.zip``."""
    timings: Mapping[str, float] = field(default_factory=dict)
    cached: bool = False
    """True when the wheelhouse came from the build cache (nothing downloaded or built)."""
    task_value_set: bool = False

    @property
    def pinned_uri(self) -> str:
        """``<uri>#sha256=<digest>``: what the task value carries; ``load`` checks the digest."""
        return pin_uri(self.uri, self.digest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "pinned_uri": self.pinned_uri,
            "run_id": self.run_id,
            "run_uri": self.run_uri,
            "format": self.format,
            "wheels": [wheel.filename for wheel in self.wheels],
            "python_version": self.target.python_version,
            "platforms": list(self.target.platforms),
            "profile": self.target.profile,
            "digest": self.digest,
            "top_level": list(self.manifest.top_level),
            "inputs": dict(self.manifest.inputs),
            "cached": self.cached,
            "task_value_set": self.task_value_set,
            "timings": {key: round(value, 4) for key, value in self.timings.items()},
            # runtime-aware builds: what the wheelhouse relies on and what it shadows
            **({"runtime": dict(self.manifest.runtime)} if self.manifest.runtime else {}),
        }


@dataclass(frozen=True)
class LoadResult:
    """What ``load()`` did: the wheels it installed, where, and how they reach the executors."""

    uri: str
    digest: str
    wheels: tuple[str, ...]
    folder: Path
    """The driver's install folder (node cache), first on ``sys.path``."""
    delivery: Delivery
    top_level: tuple[str, ...]
    reused: bool
    """True when the install folder was already complete in the node cache."""
    payload: str | None = None
    """What executors fetch (an archive path, or the folder of Connect archives);
    None for driver-only loads."""
    mode: Literal["cache", "pip"] = "cache"
    timings: Mapping[str, float] = field(default_factory=dict)
    shadows: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Packages that take the place of the runtime's copy: name -> (runtime's version,
    the wheelhouse's), from the manifest of a runtime-aware build."""
    left_out: tuple[str, ...] = ()
    """Wheels shipped to the cluster but not installed on this Spark Connect client:
    their tags do not fit it (a laptop on macOS or Windows; docs/delivery.md)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "digest": self.digest,
            "wheels": list(self.wheels),
            "folder": str(self.folder),
            "delivery": self.delivery,
            "top_level": list(self.top_level),
            "reused": self.reused,
            "payload": self.payload,
            "mode": self.mode,
            "timings": {key: round(value, 4) for key, value in self.timings.items()},
            "shadows": {name: list(pair) for name, pair in self.shadows.items()},
            "left_out": list(self.left_out),
        }

    def _repr_html_(self) -> str:
        """A small table in Jupyter and Databricks notebooks."""
        from .html import load_html  # noqa: PLC0415

        return load_html(self, self.shadows)


@dataclass(frozen=True)
class ModuleImport:
    """One module imported on one executor by ``verify()``, and the file it came from."""

    module: str
    executor: str
    """An identifier of the executor (its working folder and host)."""
    ok: bool
    file: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify()`` found on the executors: every import, the runtime packages."""

    imports: tuple[ModuleImport, ...]
    package_versions: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    """Runtime package -> executor -> its installed version (None: not installed)."""
    driver_versions: Mapping[str, str | None] = field(default_factory=dict)
    """The same packages' versions on the driver."""

    @property
    def version_differences(self) -> tuple[str, ...]:
        """``name: driver X, executor E has Y`` for every executor that differs."""
        out: list[str] = []
        for name, by_executor in sorted(self.package_versions.items()):
            driver = self.driver_versions.get(name)
            for executor, version in sorted(by_executor.items()):
                if version != driver:
                    out.append(
                        f"{name}: driver {driver or 'absent'}, {executor} has {version or 'none'}"
                    )
        return tuple(out)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.imports)

    @property
    def executors(self) -> tuple[str, ...]:
        return tuple(sorted({item.executor for item in self.imports}))

    def files(self, module: str) -> tuple[str, ...]:
        return tuple(
            sorted({item.file for item in self.imports if item.module == module and item.file})
        )

    def _repr_html_(self) -> str:
        """Where each executor imported each module from, as a table in notebooks."""
        from .html import verify_html  # noqa: PLC0415

        return verify_html(self)


@dataclass(frozen=True)
class CleanupResult:
    """What ``cleanup()`` or ``cleanup_older_than()`` removed (or, with ``dry_run``, would)."""

    removed: tuple[str, ...]
    """Run folders and payloads that were removed (empty when already gone)."""
    kept: tuple[str, ...] = ()
    dry_run: bool = False
    """True when nothing was removed: ``removed`` lists what would have been."""
