"""``runtime_freeze()``: this Python's installed packages, as ``--runtime-packages`` reads them.

Run on a cluster's driver (``sparkdeps runtime-freeze > runtime.txt``, or in a
notebook ``print(sparkdeps.runtime_freeze())``): the header names the Python
and Spark versions, then one ``name==version`` per distribution, as
``pip list --format=freeze`` would print them (without needing pip).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

__all__ = ["runtime_freeze"]

_INSTALL_MARKER = ".sparkdeps-install.json"  # install.COMPLETE_MARKER, without importing it


def _spark_version() -> str | None:
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        pass
    # Databricks ships pyspark outside site-packages metadata; its version module remains
    try:
        from pyspark.version import __version__ as version  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    return str(version)


def runtime_freeze(*, path: list[str] | None = None) -> str:
    """The freeze text of the distributions visible on ``path`` (default ``sys.path``).

    A wheelhouse folder that ``load()`` put on ``sys.path`` is left out, so the
    list is the runtime's own.

    Example::

        # on the cluster's driver, e.g. in a notebook
        print(sparkdeps.runtime_freeze())  # save it as runtime.txt, then build with
        # sparkdeps build requirements.txt --runtime-packages runtime.txt
    """
    entries = [
        entry
        for entry in (sys.path if path is None else path)
        if not os.path.isfile(os.path.join(entry or ".", _INSTALL_MARKER))  # noqa: PTH113, PTH118
    ]
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=entries):
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    spark = _spark_version()
    header = f"# python {python}" + (f"; spark {spark}" if spark else "")
    runtime = os.environ.get("DATABRICKS_RUNTIME_VERSION")
    lines = [
        f"# runtime-freeze: {'Databricks Runtime ' + runtime if runtime else sys.executable}",
        header,
    ]
    lines += [seen[key] for key in sorted(seen)]
    return "\n".join(lines) + "\n"
