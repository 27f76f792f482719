"""A fresh, isolated Python worker, as an executor would start one, for tests without Spark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

RECORD_COMPILES = """
import builtins
compiled = []
_compile = builtins.compile
def compile(source, filename, *args, **kwargs):  # what the import system compiles
    compiled.append(str(filename))
    return _compile(source, filename, *args, **kwargs)
builtins.compile = compile
"""
"""Worker code that lists in ``compiled`` every file the worker compiles from then on:
a test sees whether an import used shipped bytecode or compiled the source."""


def run_worker(root: Path, code: str) -> Any:
    """``code`` in a fresh ``python -I`` whose folder is ``root``: what it printed, as JSON."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
