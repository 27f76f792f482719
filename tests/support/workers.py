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


IMPORTS = """
import importlib, json, sys
sys.path[1:1] = {paths!r}
out = {{}}
for name in {names!r}:
    try:
        module = importlib.import_module(name)
        out[name] = {{"ok": True, "file": module.__file__}}
    except Exception as exc:
        out[name] = {{"ok": False, "error": f"{{type(exc).__name__}}: {{exc}}"}}
"""
"""Worker code (a ``str.format`` template: ``paths`` put on ``sys.path``, ``names`` to
import) that leaves in ``out`` each name's file, or its error; the caller prints it."""


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
