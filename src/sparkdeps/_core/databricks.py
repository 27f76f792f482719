"""The thin Databricks glue: dbutils, task values, runtime detection, the notebook's ``%pip``.

Everything Databricks-specific goes through the small :class:`Dbutils`
protocol below, the subset of ``dbutils`` we use. On a cluster it is the real
object (found in the notebook namespace or built from ``pyspark.dbutils``);
in tests a stand-in that follows the documented behaviour is installed with
:func:`set_dbutils` or the ``SPARKDEPS_DBUTILS=module:attribute`` variable.

:class:`NotebookPip` is the notebook's ``%pip`` magic, the channel Databricks
syncs to the Python workers of UDFs on serverless and standard access compute
(docs/facts.md, fact 17; ``delivery="environment"``). In a Databricks notebook it
is IPython's ``run_line_magic("pip", ...)``; tests install a stand-in with
:func:`set_notebook_pip`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from typing import Any, Protocol

from .errors import SparkdepsError

__all__ = [
    "TASK_VALUE_LIMIT",
    "Dbutils",
    "NotebookPip",
    "get_dbutils",
    "get_task_value",
    "is_databricks",
    "is_unresolved_reference",
    "notebook_pip",
    "runtime_version",
    "set_dbutils",
    "set_notebook_pip",
    "set_task_value",
]

logger = logging.getLogger(__name__)

TASK_VALUE_LIMIT = 48 * 1024  # bytes of JSON, docs/facts.md, fact 10
_UNSET: Any = object()
_override: Any = _UNSET
_pip_override: Any = _UNSET


class _FsLike(Protocol):
    def cp(self, source: str, destination: str, recurse: bool = ...) -> bool: ...
    def mv(self, source: str, destination: str, recurse: bool = ...) -> bool: ...
    def rm(self, path: str, recurse: bool = ...) -> bool: ...
    def ls(self, path: str) -> list[Any]: ...
    def mkdirs(self, path: str) -> bool: ...


class _TaskValuesLike(Protocol):
    def set(self, key: str, value: Any) -> None: ...
    def get(self, taskKey: str, key: str, default: Any = ..., debugValue: Any = ...) -> Any: ...


class _JobsLike(Protocol):
    @property
    def taskValues(self) -> _TaskValuesLike: ...


class Dbutils(Protocol):
    """The part of ``dbutils`` sparkdeps uses."""

    @property
    def fs(self) -> _FsLike: ...

    @property
    def jobs(self) -> _JobsLike: ...


def set_dbutils(dbutils: Dbutils | None) -> None:
    """Use ``dbutils`` (or, with None, go back to finding it). For tests and custom glue."""
    global _override
    _override = _UNSET if dbutils is None else dbutils


def runtime_version() -> str | None:
    """``DATABRICKS_RUNTIME_VERSION`` (e.g. ``"14.3"``) on a Databricks cluster, else None."""
    return os.environ.get("DATABRICKS_RUNTIME_VERSION") or None


def is_databricks() -> bool:
    return runtime_version() is not None or get_dbutils() is not None


def get_dbutils(spark: Any = None) -> Dbutils | None:
    """The dbutils object if there is one, else None. Never raises."""
    if _override is not _UNSET:
        return _override  # type: ignore[no-any-return]
    spec = os.environ.get("SPARKDEPS_DBUTILS")
    if spec:
        module_name, _, attribute = spec.partition(":")
        try:
            found: Any = getattr(importlib.import_module(module_name), attribute or "dbutils")
        except (ImportError, AttributeError) as exc:
            raise SparkdepsError(f"SPARKDEPS_DBUTILS={spec!r} could not be loaded: {exc}") from exc
        return found() if callable(found) and not hasattr(found, "fs") else found  # type: ignore[no-any-return]
    main = sys.modules.get("__main__")
    candidate = getattr(main, "dbutils", None)
    if candidate is not None:
        return candidate  # type: ignore[no-any-return]
    try:  # a notebook's IPython namespace
        from IPython import get_ipython  # noqa: PLC0415

        shell = get_ipython()
        if shell is not None and "dbutils" in shell.user_ns:
            return shell.user_ns["dbutils"]  # type: ignore[no-any-return]
    except ImportError:
        pass
    if runtime_version() is None:
        return None
    try:  # a script task on a Databricks cluster
        from pyspark.dbutils import DBUtils  # noqa: PLC0415
        from pyspark.sql import SparkSession  # noqa: PLC0415

        session = spark or SparkSession.getActiveSession()
        if session is not None:
            return DBUtils(session)  # type: ignore[no-any-return]
    except Exception:
        logger.debug("pyspark.dbutils is not usable here", exc_info=True)
    return None


def set_task_value(key: str, value: Any, *, dbutils: Dbutils | None = None) -> bool:
    """Set a task value when running on Databricks; return whether it was set."""
    utils = dbutils or get_dbutils()
    if utils is None:
        return False
    size = len(json.dumps(value).encode("utf-8"))
    if size > TASK_VALUE_LIMIT:
        raise SparkdepsError(
            f"task value {key!r} is {size} bytes of JSON; Databricks allows {TASK_VALUE_LIMIT}"
        )
    try:
        utils.jobs.taskValues.set(key=key, value=value)
    except Exception as exc:
        logger.warning("could not set task value %r: %s", key, exc)
        return False
    logger.info("set task value %r", key)
    return True


def get_task_value(task_key: str, key: str, *, dbutils: Dbutils | None = None) -> str | None:
    """Read a task value set by ``task_key``; None when absent or not on Databricks.

    ``debugValue`` is None: outside a job run ``get`` returns it instead of
    raising (documented behaviour), which we read as "not found".
    """
    utils = dbutils or get_dbutils()
    if utils is None:
        return None
    try:
        value = utils.jobs.taskValues.get(taskKey=task_key, key=key, default=None, debugValue=None)
    except Exception as exc:
        logger.debug("task value %s.%s not readable: %s", task_key, key, exc)
        return None
    if value in (None, ""):
        return None
    return str(value)


def is_unresolved_reference(value: str) -> bool:
    """A ``{{...}}`` dynamic value reference that Databricks did not fill in.

    The Jobs service passes an unknown reference through verbatim (and one run
    outside a job is never filled in), so it reaches us as text, not a path.
    """
    return "{{" in value and "}}" in value


class NotebookPip(Protocol):
    """The notebook's ``%pip`` magic: what Databricks syncs to UDFs' Python workers."""

    @property
    def where(self) -> str:
        """Where the packages land, for messages (``"the notebook's %pip"``)."""
        ...

    def pip(self, line: str) -> None:
        """Run ``%pip <line>`` (``install -r <requirements>``); raise when it fails."""
        ...


class _IPythonPip:
    """``%pip`` through IPython's ``run_line_magic``, as a notebook cell would run it."""

    where = "the notebook's %pip"

    def __init__(self, shell: Any) -> None:
        self._shell = shell

    def pip(self, line: str) -> None:
        namespace = getattr(self._shell, "user_ns", {})
        namespace.pop("_exit_code", None)
        self._shell.run_line_magic("pip", line)
        # IPython's own %pip runs pip through the shell and keeps its exit code in
        # _exit_code rather than raising; the probe after it proves the workers anyway
        code = namespace.get("_exit_code")
        if isinstance(code, int) and code != 0:
            raise SparkdepsError(f"%pip {line} exited with code {code}")


def set_notebook_pip(channel: NotebookPip | None) -> None:
    """Use ``channel`` as the notebook's ``%pip`` (None: go back to finding it). For tests."""
    global _pip_override
    _pip_override = _UNSET if channel is None else channel


def notebook_pip() -> NotebookPip | None:
    """The notebook's ``%pip`` in a Databricks notebook (or the stand-in set); else None.

    A Databricks notebook is an IPython shell with ``dbutils`` in its namespace; a
    job's Python script or wheel task has no ``%pip`` (its environment's
    ``dependencies`` play that part, set before the run).
    """
    if _pip_override is not _UNSET:
        return _pip_override  # type: ignore[no-any-return]
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or "dbutils" not in getattr(shell, "user_ns", {}):
        return None
    return _IPythonPip(shell)
