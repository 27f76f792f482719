"""A failed command, for a person (stderr) and for a script (``--json`` on stdout).

Every error sparkdeps raises is a ``SparkdepsError`` (``_core/errors.py``); the
command line prints its message on stderr and, with ``--json``, the object
``{"error": {"type": ..., "message": ..., "fix": ...}}`` on stdout
(docs/reference/cli.md). ``fix`` is the error's own ``fix`` attribute, set where
it was raised; nothing here reads it out of the message.
"""

from __future__ import annotations

import json
from typing import Any

from .._core.errors import SparkdepsError
from .._core.redaction import redact
from .printing import echo

__all__ = ["error_object", "report"]


def error_object(exc: SparkdepsError) -> dict[str, Any]:
    """What ``--json`` prints on stdout when a command fails: the error's class name,
    its whole message (the fix included, as a person reads it) and its fix alone."""
    return {
        "error": {
            "type": type(exc).__name__,
            "message": redact(str(exc)),
            "fix": exc.fix,
        }
    }


def report(exc: SparkdepsError, *, as_json: bool) -> None:
    """The error on stderr, and with ``as_json`` its object on stdout."""
    if as_json:
        echo(json.dumps(error_object(exc), indent=2))
    echo(f"sparkdeps: error: {redact(str(exc))}", err=True)
