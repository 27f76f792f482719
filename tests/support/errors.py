"""One error of each ``SparkdepsError`` class, made the way its raisers make it."""

from __future__ import annotations

from sparkdeps._core import errors
from sparkdeps._core.errors import SparkdepsError


def made_error(name: str, fix: str | None) -> SparkdepsError:
    """An instance of ``errors.<name>`` with ``fix`` (a CommandError with its command)."""
    kind = getattr(errors, name)
    if issubclass(kind, errors.CommandError):
        return kind("resolving", ["uv", "pip", "compile"], 2, "the reason\n", fix=fix)
    if issubclass(kind, errors.RuntimeConflictError):
        return kind("numpy 2 needed, the runtime has 1.26", ("a conflict",), fix=fix)
    if issubclass(kind, errors.DeliveryError):
        return kind("the executors cannot import it", probe={"seen": 1}, invisible=True, fix=fix)
    made: SparkdepsError = kind("the input is empty", fix=fix)
    return made
