"""A failed command, for a person (stderr) and for a script (``--json`` on stdout).

Every error sparkdeps raises is a ``SparkdepsError`` (``_core/errors.py``); the
command line prints its message on stderr and, with ``--json``, the object
``{"error": {"type": ..., "message": ..., "fix": ...}}`` on stdout
(docs/reference/cli.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._core.errors import CommandError, SparkdepsError
from .._core.redaction import redact
from .printing import echo

__all__ = ["error_object", "fix_of", "report"]

_FIX = re.compile(r"(?:^|[\s;(])fix(?: it)?:\s*(?P<fix>.+)", re.IGNORECASE | re.DOTALL)


def fix_of(exc: SparkdepsError) -> str | None:
    """The fix a message names: after its last ``fix:``, else its last ``; `` clause."""
    text = exc.hint if isinstance(exc, CommandError) and exc.hint else str(exc)
    matches = list(_FIX.finditer(text))
    if matches:
        return redact(matches[-1].group("fix").strip())
    head = text.splitlines()[0] if text else ""
    if "; " in head:
        return redact(head.rsplit("; ", 1)[1].strip())
    return None


def error_object(exc: SparkdepsError) -> dict[str, Any]:
    """What ``--json`` prints on stdout when a command fails."""
    return {
        "error": {
            "type": type(exc).__name__,
            "message": redact(str(exc)),
            "fix": fix_of(exc),
        }
    }


def report(exc: SparkdepsError, *, as_json: bool) -> None:
    """The error on stderr, and with ``as_json`` its object on stdout."""
    if as_json:
        echo(json.dumps(error_object(exc), indent=2))
    echo(f"sparkdeps: error: {redact(str(exc))}", err=True)
