"""Bytecode made at build time for the target's Python, shipped in the wheelhouse.

The packed-venv peer ships ``.pyc`` files because pip compiles at install; without
them every executor compiles each module it imports at the first UDF (importing
all of W1: 1.36 s compiling against 0.40 s from ``.pyc``; docs/delivery.md,
"Bytecode"). ``.pyc`` files are specific to an interpreter's magic number, so only
an interpreter of the target's Python version can write them: this one when it
is that version, else ``python3.X`` on PATH, else none, and the wheelhouse
ships without (nodes compile at import, as before).
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .._core.errors import BuildCommandError, CommandError
from .._core.hashing import sha256_file
from .._core.manifest import Bytecode
from .._core.runner import clean_env, run
from .._core.target import Target

__all__ = ["bytecode_python", "cache_key", "compile_wheels"]

logger = logging.getLogger(__name__)

_WORKER = Path(__file__).with_name("pyc_worker.py")


def bytecode_python(target: Target) -> str | None:
    """An interpreter of the target's Python (major.minor), or None when there is none."""
    major, minor = target.version_tuple
    if sys.implementation.name == "cpython" and sys.version_info[:2] == (major, minor):
        return sys.executable
    found = shutil.which(f"python{major}.{minor}")
    return found if found is not None and _answers(found, f"cpython-{major}{minor}") else None


@functools.cache
def _answers(python: str, cache_tag: str) -> bool:
    """Does ``python`` start and write bytecode for ``cache_tag``? A pyenv shim for a
    version that is not active is on PATH, yet fails."""
    try:
        completed = run(
            [python, "-s", "-c", "import sys; print(sys.implementation.cache_tag)"],
            what=f"asking {python} for its cache tag",
            timeout=30,
        )
    except CommandError as exc:
        logger.debug("%s cannot compile for the target: %s", python, exc)
        return False
    return completed.stdout.strip() == cache_tag


def cache_key(target: Target, wanted: bool) -> str:
    """The build cache key's part: whether (and for which Python) bytecode is made."""
    if not wanted or bytecode_python(target) is None:
        return ";bytecode=none"
    return f";bytecode={target.python_version}"


def compile_wheels(
    wheels: Sequence[Path], target: Target, work: Path
) -> tuple[Path, Bytecode] | None:
    """Every importable module of ``wheels`` compiled into ``work/bytecode.zip``
    (None when no interpreter of the target's Python is here)."""
    python = bytecode_python(target)
    if python is None:
        logger.info(
            "no Python %s here to compile the wheelhouse's modules: it ships without "
            "bytecode and executors compile each module at its first import",
            target.python_version,
        )
        return None
    out = work / "bytecode.zip"
    out.unlink(missing_ok=True)
    # -s: no user site; -B: write no bytecode of the worker itself; the seed makes the
    # bytes reproducible (a frozenset constant's order follows string hashes)
    completed = run(
        [python, "-s", "-B", _WORKER, out, *wheels],
        what=f"compiling the wheelhouse's modules with Python {target.python_version}",
        env=clean_env({"PYTHONHASHSEED": "0"}),
        error=BuildCommandError,
        fix="pass bytecode=False (--no-bytecode) to build without bytecode",
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = f"cpython-{''.join(target.python_version.split('.'))}"
    if report["cache_tag"] != expected:
        logger.warning(
            "%s wrote bytecode for %s, not %s: the wheelhouse ships without it",
            python,
            report["cache_tag"],
            expected,
        )
        out.unlink(missing_ok=True)
        return None
    bytecode = Bytecode(
        cache_tag=str(report["cache_tag"]),
        magic=str(report["magic"]),
        sha256=sha256_file(out),
        size=out.stat().st_size,
        modules=int(report["modules"]),
    )
    logger.info(
        "compiled %d modules for %s (%.1f MB)", bytecode.modules, expected, bytecode.size / 1e6
    )
    return out, bytecode
