"""Modules the driver imported before ``load()``: say what the driver keeps, what executors get.

A module already in ``sys.modules`` stays as it is in this process, whatever is
put on ``sys.path`` later. Who imported it decides what a person can do:

* pyspark imports pandas, numpy and dateutil when a session starts, and sparkdeps
  itself imports ``packaging`` (docs/facts.md, fact 13): nobody can load before
  those, so this is information (INFO), not a warning;
* anything else was imported by the user's code: a warning that names the copy the
  driver keeps, the version executors get, and how to give the driver the
  wheelhouse's copy too (load before the first import).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["explain_preloaded"]

logger = logging.getLogger(__name__)

# Top-level modules pyspark brings in before user code runs (docs/facts.md, fact 13)
# and those the sparkdeps runtime half imports itself.
_PYSPARK_IMPORTS = frozenset(
    {"numpy", "pandas", "pyarrow", "py4j", "dateutil", "pytz", "tzdata", "six", "grpc",
     "google", "grpc_status", "cloudpickle"}
)  # fmt: skip
_SPARKDEPS_IMPORTS = frozenset({"packaging"})
# pyspark's Python worker imports numpy itself, so executors keep the runtime's copy too
_WORKER_IMPORTS = frozenset({"numpy"})


def _version_in(folder: Path, name: str) -> str | None:
    """The version of the wheel in ``folder`` that provides top-level ``name``."""
    from importlib.metadata import distributions  # noqa: PLC0415

    for dist in distributions(path=[os.fspath(folder)]):
        top = (dist.read_text("top_level.txt") or "").split()
        files = dist.files or []
        provides = name in top or any(
            str(entry).split("/", 1)[0] in (name, f"{name}.py") for entry in files
        )
        if provides:
            return dist.version
    return None


def _who(name: str) -> str | None:
    if name in _SPARKDEPS_IMPORTS:
        return "sparkdeps"
    if name in _PYSPARK_IMPORTS and "pyspark" in sys.modules:
        return "pyspark"
    return None


def explain_preloaded(
    names: Sequence[str], folder: Path, versions: Mapping[str, str] | None = None
) -> list[str]:
    """Log, for each of ``names`` imported from outside ``folder``, what each side gets.

    ``versions``: top-level name -> the wheelhouse's version, when ``folder`` is not
    installed yet (read from its metadata otherwise). Returns the names that the user's
    own code imported too early (the warned ones).
    """
    prefix = os.fspath(folder) + os.sep
    warned: list[str] = []
    for name in names:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) if module is not None else None
        if not where or os.fspath(where).startswith(prefix):
            continue
        kept = getattr(module, "__version__", None)
        driver = f"{name} {kept}" if isinstance(kept, str) else name
        shipped = versions.get(name) if versions is not None else _version_in(folder, name)
        executors = f"{name} {shipped}" if shipped else name
        who = _who(name)
        if who is not None:
            also = (
                "; their Python workers import the runtime's numpy before any UDF, so they "
                "keep it too"
                if name in _WORKER_IMPORTS
                else ""
            )
            logger.info(
                "the driver keeps %s (from %s: %s imports it before load() can run); "
                "executors get %s from the wheelhouse%s",
                driver, where, who, executors, also,
            )  # fmt: skip
            continue
        warned.append(name)
        logger.warning(
            "%s was imported before load(): this driver process keeps %s (from %s), while "
            "executors import %s from the wheelhouse. To use the wheelhouse's copy on the "
            "driver too, call sparkdeps.load() before anything imports %s (at the top of "
            "the script or notebook)",
            name, driver, where, executors, name,
        )  # fmt: skip
    return warned
