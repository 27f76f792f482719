"""pyspark's own runtime dependencies in a test executor's venv, without an index.

Every real cluster has pyarrow, pandas and numpy, and pyspark 4.3 needs pyarrow in
the worker for a plain ``@udf`` (docs/facts.md, fact 12). A test executor should
be bare of the packages *under test*, not of these. They are linked (symlinks)
from this interpreter's installed distributions, with the distributions they
require, so creating the venv needs no network and takes milliseconds. Only a
venv of this interpreter's minor version can use those files; another keeps an
empty site-packages, and the log says so.
"""

from __future__ import annotations

import logging
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["RUNTIME_DEPS", "link_runtime_deps", "runtime_distributions"]

logger = logging.getLogger(__name__)

RUNTIME_DEPS: tuple[str, ...] = ("pyarrow", "pandas", "numpy")
"""What pyspark imports on its own (Arrow UDFs, pandas UDFs, the worker itself)."""


def runtime_distributions(
    names: tuple[str, ...] = RUNTIME_DEPS,
) -> tuple[list[metadata.Distribution], list[str]]:
    """This interpreter's distributions of ``names`` and everything they require.

    Returns (found, missing): a name not installed here is reported, not guessed.
    """
    found: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in missing:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found[name] = dist
        todo.extend(_requirements(dist))
    return list(found.values()), sorted(missing)


def _requirements(dist: metadata.Distribution) -> list[str]:
    wanted: list[str] = []
    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        # No extras: only what a plain install of the package pulls in.
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            wanted.append(requirement.name)
    return wanted


def _top_level_entries(dist: metadata.Distribution) -> set[str]:
    entries: set[str] = set()
    for file in dist.files or []:
        first = file.parts[0] if file.parts else ""
        if first and first not in ("..", "__pycache__"):
            entries.add(first)
    return entries


def link_runtime_deps(venv: Path) -> list[str]:
    """Symlink pyspark's runtime dependencies into ``venv``'s site-packages; their names."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / version / "site-packages"
    if not site.is_dir():
        found = sorted(p.name for p in (venv / "lib").glob("python3.*"))
        logger.warning(
            "executor venv %s is %s, this interpreter is %s: it gets no pyarrow/pandas/numpy "
            "(UDFs that need them fail there; run the tests on the executors' Python)",
            venv,
            ", ".join(found) or "unknown",
            version,
        )
        return []
    dists, missing = runtime_distributions()
    if missing:
        logger.warning(
            "not installed here, so not in the executor venv %s: %s "
            "(install pyspark[connect] to get them)",
            venv,
            ", ".join(missing),
        )
    linked: list[str] = []
    for dist in dists:
        for entry in sorted(_top_level_entries(dist)):
            source = Path(str(dist.locate_file(entry)))
            target = site / entry
            if source.exists() and not target.exists():
                target.symlink_to(source)
        linked.append(f"{dist.metadata['Name']}=={dist.version}")
    logger.info("executor venv %s: linked %s", venv, ", ".join(sorted(linked)))
    return sorted(linked)
