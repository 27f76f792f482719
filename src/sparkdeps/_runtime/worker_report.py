"""What the executors' Python workers run for ``probe`` and ``verify``: one report each.

A plain UDF (``useArrow=False``: no pyarrow needed) over a few partitions calls
:func:`report_json` on the workers. The workers have no sparkdeps, so this module
is shipped by value (:func:`ship_by_value`, cloudpickle's
``register_pickle_by_value``): it imports the standard library only, and nothing
it calls may live in another sparkdeps module.

A report holds the worker's Python, ``sys.path`` (and its entries that do not
exist there), where each named module came from (failing one imported from outside
``within``, unless the worker had it before the UDF ran), Spark's files folder,
and the installed version of each named distribution.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import Any

__all__ = ["ENVIRONMENT", "report_json", "ship_by_value", "worker_report"]

ENVIRONMENT = "<environment>"
"""A ``within`` entry: the worker interpreter's own environment (its ``sys.prefix``)."""


def ship_by_value(cloudpickle: Any) -> None:
    """Have ``cloudpickle`` (pyspark's copy) ship this module's functions by value."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def report_json(
    names: Sequence[str], within: Sequence[str] = (), packages: Sequence[str] = ()
) -> str:
    """:func:`worker_report` as JSON: what a UDF returns."""
    return json.dumps(worker_report(names, within, packages))


def worker_report(
    names: Sequence[str], within: Sequence[str] = (), packages: Sequence[str] = ()
) -> dict[str, Any]:
    """This worker's report: see the module's docstring. ``within`` empty: anywhere."""
    # os.path, not pathlib: this runs on executors and stays minimal
    here = os.path.abspath(os.getcwd())  # noqa: PTH100, PTH109
    before = set(sys.modules)  # what the worker imported before this UDF
    return {
        "executor": f"{socket.gethostname()}:{here}",
        "python": sys.executable,
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "prefix": sys.prefix,
        "cwd": here,
        "sys_path": list(sys.path),
        "missing": [e for e in sys.path if e and not os.path.exists(e)],  # noqa: PTH110
        "spark_files": _spark_files(),
        "imports": {name: _imported(name, within, preloaded=name in before) for name in names},
        **({"versions": _installed_versions(packages)} if packages else {}),
    }


def _imported(name: str, within: Sequence[str], *, preloaded: bool) -> dict[str, Any]:
    try:
        module = importlib.import_module(name)
    except BaseException as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"ok": False, "error": last}
    where = getattr(module, "__file__", None)
    if where is None:  # a namespace package
        where = next(iter(getattr(module, "__path__", [])), None)
    where = where and os.path.abspath(where)  # noqa: PTH100
    if not where or _inside(where, within):
        return {"ok": True, "file": where}
    if preloaded:
        # pyspark's worker imported it first (numpy: docs/facts.md, fact 13): it keeps
        # its own copy on every cluster, as load() already says on the driver
        return {"ok": True, "file": where, "preloaded": True}
    error = f"imported from {where}, not from what was shipped ({', '.join(within)})"
    return {"ok": False, "file": where, "error": error}


def _inside(path: str, within: Sequence[str]) -> bool:
    """``path`` lies in one of ``within``: an absolute folder, a folder name that must
    appear in the path, or :data:`ENVIRONMENT`."""
    for place in within:
        folder = os.path.realpath(sys.prefix) if place == ENVIRONMENT else place
        base = folder.rstrip(os.sep) + os.sep
        absolute = os.path.isabs(folder)  # noqa: PTH117
        if (absolute and os.path.realpath(path).startswith(base)) or (
            (path if absolute else "").startswith(base) or f"{os.sep}{base}" in path
        ):
            return True
    return not within


def _spark_files() -> str | None:
    try:
        from pyspark import SparkFiles  # noqa: PLC0415

        return os.path.abspath(SparkFiles.getRootDirectory())  # noqa: PTH100
    except Exception:
        return None


def _installed_versions(packages: Sequence[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except Exception:
            versions[package] = None
    return versions
