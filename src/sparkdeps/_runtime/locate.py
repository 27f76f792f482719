"""Where a wheelhouse is: the argument, ``SPARKDEPS_WHEELHOUSE``, the task value; its pin.

A wheelhouse URI is *located* here (docs/architecture.md, "Names") and *fetched*
by :mod:`.fetch`. ``.../wheelhouse.zip#sha256=<hex>`` pins the build's digest.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from .._core.databricks import get_task_value, is_databricks, is_unresolved_reference
from .._core.errors import InputError, WheelhouseNotFoundError
from .._core.hashing import DIGEST
from .._core.paths import PIN_FRAGMENT, PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY, split_pin
from .._core.redaction import redact

__all__ = ["ENV_WHEELHOUSE", "locate_wheelhouse", "located_pin", "wheelhouse_arg"]

logger = logging.getLogger(__name__)

ENV_WHEELHOUSE = "SPARKDEPS_WHEELHOUSE"


def wheelhouse_arg(argv: Sequence[str] | None = None, *, flag: str = "--wheelhouse") -> str | None:
    """The value of ``--wheelhouse X`` / ``--wheelhouse=X`` in ``argv`` (default ``sys.argv``).

    The one line a job script needs when the path comes as a task parameter
    (``["--wheelhouse", "{{tasks.process_deps.values.wheelhouse_path}}"]``)::

        sparkdeps.load(sparkdeps.wheelhouse_arg(), spark=spark)

    None when absent, so ``load`` goes on to the environment and the task value.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(args):
        value: str | None = None
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
        if value is not None:
            if is_unresolved_reference(value) or not value.strip():
                logger.warning(
                    "%s %r is not a path (an unresolved reference?); ignoring it", flag, value
                )
                return None
            return value.strip()
    return None


def locate_wheelhouse(
    wheelhouse: str | os.PathLike[str] | None,
    *,
    task_key: str = PROCESS_DEPS_TASK_KEY,
    key: str = TASK_VALUE_KEY,
) -> tuple[str, str]:
    """(uri, where it came from): the argument, ``SPARKDEPS_WHEELHOUSE``, then the task value."""
    tried: list[str] = []
    if wheelhouse is not None and os.fspath(wheelhouse).strip():
        return os.fspath(wheelhouse).strip(), "argument"
    tried.append("the wheelhouse argument (None)")
    env_value = os.environ.get(ENV_WHEELHOUSE, "").strip()
    if env_value and not is_unresolved_reference(env_value):
        return env_value, f"${ENV_WHEELHOUSE}"
    tried.append(f"${ENV_WHEELHOUSE} ({'unset' if not env_value else repr(env_value)})")
    value = get_task_value(task_key, key)
    if value:
        return value, f"task value {task_key}.{key}"
    tried.append(
        f"the Databricks task value {task_key}.{key} "
        f"({'not set' if is_databricks() else 'no dbutils here'})"
    )
    raise WheelhouseNotFoundError(
        "no wheelhouse to load; tried " + "; ".join(tried),
        fix="pass the path (load('/Volumes/.../wheelhouse.zip')), set SPARKDEPS_WHEELHOUSE, "
        "pass it as a task parameter read with wheelhouse_arg(), or run after a build task "
        f"whose key is {task_key!r}",
    )


def located_pin(given: str, source: str) -> tuple[str, str | None]:
    """(the URI, the build's digest or None) of ``.../wheelhouse.zip#sha256=<hex>``."""
    uri, expected = split_pin(given)
    if expected is not None and not DIGEST.fullmatch(expected):
        raise InputError(
            f"{redact(given)}: the digest after {PIN_FRAGMENT!r} is not a sha256 (64 hex digits)",
            fix="pass the URI exactly as the build printed it, or drop the '#...' part",
        )
    logger.info("loading wheelhouse %s (from %s)", redact(uri), source)
    return uri, expected
