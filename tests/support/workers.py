"""A fresh, isolated Python worker, as an executor would start one, for tests without Spark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


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
