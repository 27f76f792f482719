"""A compiled package: the functions come from the C extension ``_speedups``."""

from __future__ import annotations

from acme_fastmath import _speedups
from acme_fastmath._speedups import dot, fib

__all__ = ["dot", "fib", "is_compiled"]


def is_compiled() -> bool:
    """True when ``_speedups`` was loaded from a shared library (not a Python file)."""
    return not str(_speedups.__file__).endswith(".py")
