"""One environment per Spark session: what a second ``load()`` into the same session may do.

Executors' Python workers are reused across tasks (``spark.python.worker.reuse``,
on by default): a worker keeps every module it imported from the first
wheelhouse, while imports it has not made yet come from whichever archive is
first on its path. Two wheelhouses with different versions of one package would
mix silently. So, per session:

* a wheelhouse whose packages agree with what the session already has (same
  version, or packages it does not have) is **merged**: it is delivered too;
* one that changes the version of a package already delivered is **refused**
  with :class:`SessionConflictError`, naming each package and both versions;
* ``replace=True`` lets the new versions win, only where workers are not reused
  (``spark.python.worker.reuse=false``: every task starts a fresh worker, and
  the newest python include comes first on its path). Where workers are reused,
  nothing public can recycle them, so replacing is refused there too.

``verify`` asks :func:`expected_archives` which archive each module must come
from, so an executor still importing a replaced version fails verification. What a
session has is kept in :data:`.session_state.STATE`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._core.errors import SessionConflictError
from .._core.manifest import MANIFEST_NAME, Manifest
from .._core.progress import plural
from .._core.results import ModuleImport
from .session_state import STATE

__all__ = [
    "SessionConflictError",
    "check_second_load",
    "expected_archives",
    "mark_stale",
    "record_load",
    "wheelhouse_packages",
    "worker_reuse",
]


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    top_level: tuple[str, ...]
    shadows: str | None = None
    """The runtime's version this package takes the place of, when the manifest says so."""


def wheelhouse_packages(manifest: Manifest | None, folder: Path) -> dict[str, Package]:
    """The packages of a wheelhouse: its manifest, else the copy kept in its install folder."""
    if manifest is None:
        manifest = Manifest.from_json((folder / MANIFEST_NAME).read_bytes(), origin=str(folder))
    return {
        str(wheel.name): Package(
            str(wheel.name), wheel.version, tuple(wheel.top_level), wheel.shadows
        )
        for wheel in manifest.wheels
    }


def worker_reuse(spark: Any) -> bool | None:
    """``spark.python.worker.reuse`` of a classic session (None when it cannot be read)."""
    try:
        value = spark.sparkContext.getConf().get("spark.python.worker.reuse", "true")
    except Exception:
        return None
    return str(value).strip().lower() != "false"


def check_second_load(
    key: str,
    packages: Mapping[str, Package],
    uri: str,
    *,
    replace: bool,
    spark: Any,
    kind: str,
) -> list[str]:
    """Refuse a wheelhouse that changes what ``key`` has; returns the agreeing names."""
    with STATE.reading(key) as record:
        have = dict(record.packages) if record is not None else {}
    changed = [
        (name, have[name][0], package.version, have[name][1])
        for name, package in sorted(packages.items())
        if name in have and have[name][0] != package.version
    ]
    agreeing = sorted(name for name, package in packages.items() if name in have)
    if not changed:
        return agreeing
    listing = "\n".join(
        f"  {name}: {old} delivered by {old_uri}; {new} in {uri}"
        for name, old, new, old_uri in changed
    )
    if replace and kind == "classic" and worker_reuse(spark) is False:
        return agreeing
    why, fix = _refusal(replace, kind)
    raise SessionConflictError(
        f"this Spark session already has another version of {plural(len(changed), 'package')} "
        f"this wheelhouse would change:\n{listing}\n{why}",
        fix=fix,
    )


def _refusal(replace: bool, kind: str) -> tuple[str, str]:
    """Why a second load is refused, and its fix."""
    fix = (
        "build one wheelhouse that holds everything the session needs (one input "
        "with both sets of requirements) and load it once, or load this one in a new "
        "Spark application (another job task or cluster)"
    )
    if not replace:
        return (
            "Executors' reused Python workers keep what they imported from the first, so the "
            "versions would mix.",
            f"{fix}; replace=True lets the new versions win where spark.python.worker.reuse=false",
        )
    if kind != "classic":
        return "replace=True needs a classic session (Spark Connect keeps its artifacts).", fix
    return (
        "replace=True needs spark.python.worker.reuse=false (set when the session is "
        "created): reused workers keep the old modules and cannot be recycled.",
        fix,
    )


def record_load(key: str, packages: Mapping[str, Package], uri: str, archive: str) -> None:
    """Remember what ``key`` now delivers (after a successful delivery)."""
    with STATE.changing(key) as record:
        for name, package in packages.items():
            previous = record.packages.get(name)
            if previous is not None and previous[0] != package.version:
                for module in package.top_level:
                    record.archives.pop(module, None)  # replaced: only the new archive is right
            if previous is None or previous[0] != package.version:
                record.packages[name] = (package.version, uri)  # the first to deliver it
            for module in package.top_level:
                record.archives.setdefault(module, set()).add(archive)


def expected_archives(key: str, modules: Sequence[str]) -> dict[str, frozenset[str]]:
    """For each module this session delivered, the archive names it may be imported from."""
    with STATE.reading(key) as record:
        if record is None:
            return {}
        return {m: frozenset(record.archives[m]) for m in modules if m in record.archives}


_ARCHIVE = re.compile(r"[/\\](sparkdeps_[0-9a-f]{16})[/\\]")


def mark_stale(
    imports: Sequence[ModuleImport], expected: Mapping[str, frozenset[str]]
) -> tuple[ModuleImport, ...]:
    """Imports served from another wheelhouse's archive than the latest load's: failures.

    An import from outside every sparkdeps archive (the runtime's own copy) is
    left as it is: which copy wins over the runtime is the manifest's business.
    """
    out: list[ModuleImport] = []
    for item in imports:
        allowed = expected.get(item.module)
        found = _ARCHIVE.search(item.file or "") if item.ok and allowed else None
        if found is None or allowed is None or found.group(1) in allowed:
            out.append(item)
            continue
        out.append(
            replace(
                item,
                ok=False,
                error=(
                    f"imported from {found.group(1)}, an earlier wheelhouse; this session's "
                    f"latest load delivered it in {', '.join(sorted(allowed))} (a reused "
                    "Python worker keeps what it imported first)"
                ),
            )
        )
    return tuple(out)
