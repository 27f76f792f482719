"""Top-level names that would shadow the standard library, refused unless asked for.

``load`` puts the install folder first on ``sys.path``: a wheel carrying
``argparse`` or ``typing`` would replace the standard module for the whole
process. Build and load refuse such names unless they are listed in
``SPARKDEPS_ALLOW_STDLIB_NAMES`` (comma-separated), the one way to ask for them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

__all__ = ["ALLOW_ENV", "shadowing"]

ALLOW_ENV = "SPARKDEPS_ALLOW_STDLIB_NAMES"
_HARMLESS = frozenset({"test"})
"""Top-level ``test`` packages are common in old wheels and nothing imports stdlib's."""


def shadowing(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are standard-library modules and were not allowed."""
    allowed = {name.strip() for name in os.environ.get(ALLOW_ENV, "").split(",") if name.strip()}
    stdlib = sys.stdlib_module_names - _HARMLESS
    return sorted({name for name in names if name in stdlib and name not in allowed})
