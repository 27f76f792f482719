"""What an import failure on the executors means, and its fix, from the error text.

``verify`` collects each failed import's last error line; the hint names the
cause that text points to, rather than one generic guess for every failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["Hint", "failure_hint"]

# What numpy and the modules compiled against it print when the numpy major differs
# (docs/facts.md, fact 13).
_NUMPY_ABI = re.compile(
    r"compiled using NumPy 1\.x cannot be run in\s+NumPy 2|numpy\.core\.multiarray failed to "
    r"import|_ARRAY_API not found|numpy\.dtype size changed|module compiled against "
    r"(?:ABI|API) version|numpy\.core\._multiarray_umath",
    re.IGNORECASE,
)
_PLATFORM = re.compile(
    r"GLIBC_\d|wrong ELF class|invalid ELF header|undefined symbol|cannot open shared object|"
    r"Exec format error",
    re.IGNORECASE,
)
_MISSING = re.compile(r"No module named")
_STALE = re.compile(re.escape("an earlier wheelhouse"))


class Hint(NamedTuple):
    """What a failure's text points to (``cause``, empty when nothing specific) and what
    to do about it (``fix``: the error's ``fix``)."""

    cause: str
    fix: str


# (what the error says, the cause for the modules it names, its fix), most specific first
_CAUSES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        _NUMPY_ABI,
        "{modules}: compiled against a different NumPy major than the numpy the "
        "executors run. pyspark's Python worker imports the runtime's own numpy before "
        "any UDF, so a wheelhouse's numpy never replaces it (docs/facts.md, fact 13).",
        "build for the cluster's runtime (--target dbr-X.Y, which resolves against "
        "the runtime's numpy), or pin these packages to releases built for the runtime's "
        "numpy major",
    ),
    (
        _STALE,
        "{modules}: executors still import an earlier wheelhouse's copy.",
        "load one wheelhouse per Spark application; to change versions, start a new "
        "application (another job task or cluster), or create the session with "
        "spark.python.worker.reuse=false and load with replace=True",
    ),
    (
        _PLATFORM,
        "{modules}: compiled code that does not fit the executors' platform "
        "(glibc, CPU architecture or Python ABI).",
        "build the wheelhouse for the executors' target (--target dbr-X.Y, or "
        "--python-version and --platform matching them)",
    ),
)


def failure_hint(failures: Iterable[tuple[str, str]]) -> Hint:
    """The cause and fix for ``(module, error text)`` failures, most specific first."""
    failures = list(failures)
    for pattern, cause, fix in _CAUSES:
        modules = sorted({module for module, error in failures if pattern.search(error)})
        if modules:
            return Hint(cause.format(modules=", ".join(modules)), fix)
    if any(_MISSING.search(error) for _, error in failures):
        return Hint(
            "",
            "call sparkdeps.load(..., spark=spark) in this session before the UDFs run, "
            "and check that the wheelhouse was built for the executors' Python version",
        )
    return Hint(
        "",
        "read the error above for each module; check that load() ran with this session "
        "before the UDFs, and that the wheelhouse was built for the executors' Python",
    )
