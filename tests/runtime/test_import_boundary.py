"""The runtime half never pulls in the build half (docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.wheels import make_wheel

from sparkdeps._build.pipeline import build

PROBE = """
import json, sys
import sparkdeps
sparkdeps.load(sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("sparkdeps"))))
"""


def test_warm_load_imports_nothing_from_the_build_half(tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "sdb_boundary", "1.0", {"sdb_boundary/__init__.py": "X = 1\n"})
    result = build(wheels, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", no_index=True)
    cache = tmp_path / "cache"
    for _ in range(2):  # cold, then warm
        out = subprocess.run(
            [sys.executable, "-c", PROBE, result.uri, str(cache)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    modules = json.loads(out.splitlines()[-1])
    assert "sparkdeps._runtime.load" in modules
    leaked = [
        m
        for m in modules
        if m.startswith(("sparkdeps._build", "sparkdeps._jobs", "sparkdeps._cli"))
    ]
    assert leaked == []
