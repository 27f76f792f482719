"""The runtime half never pulls in the build half (docs/architecture.md), and a warm
load for the driver imports only what it uses (docs/architecture.md, "Imports inside
functions")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build

PROBE = """
import json, sys
before = set(sys.modules)
import sparkdeps
sparkdeps.load(sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps(sorted(set(sys.modules) - before)))
"""

# A cold install needs these (the probe sees them there); a warm load whose install
# and interpreter match does not: each costs 2 to 15 ms of the warm load.
COLD_ONLY = (
    "packaging",
    "zipfile",
    "concurrent.futures",
    "subprocess",
    "tempfile",
    "uuid",
    "sparkdeps._core.manifest",
    "sparkdeps._runtime.integrity",
    "sparkdeps._runtime.client",
    "sparkdeps._runtime.extract",
    "sparkdeps._runtime.unpack",
)
# Needed only to ship to executors, for pip mode or to explain a mismatch.
NEVER_FOR_THE_DRIVER_ALONE = (
    "importlib.metadata",
    "email",
    "sparkdeps._core.runner",
    "sparkdeps._runtime.delivery",
    "sparkdeps._runtime.session_env",
    "sparkdeps._runtime.pipmode",
    "sparkdeps._runtime.routes",
    "sparkdeps._runtime.provided",
    "sparkdeps._runtime.environment",
    "sparkdeps._runtime.wheelpayload",
    # remote storage (issue 26): only when such a URI is used
    "fsspec",
    "s3fs",
    "botocore",
    "databricks",
    "sparkdeps._core.storage.objectstore",
    "sparkdeps._core.storage.filesapi",
)


def _has(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.fixture(scope="module")
def warm_imports(tmp_path_factory):
    """The modules a fresh interpreter imports for a warm, driver-only load."""
    tmp_path = tmp_path_factory.mktemp("boundary")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "sdb_boundary", "1.0", {"sdb_boundary/__init__.py": "X = 1\n"})
    result = build(wheels, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", no_index=True)
    cache = tmp_path / "cache"
    runs = []
    for _ in range(2):  # cold, then warm
        out = subprocess.run(
            [sys.executable, "-c", PROBE, result.uri, str(cache)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.splitlines()[-1]))
    cold, warm = runs
    return cold, warm


def test_warm_load_imports_nothing_from_the_build_half(warm_imports):
    _cold, modules = warm_imports
    assert "sparkdeps._runtime.load" in modules
    leaked = [
        m
        for m in modules
        if m.startswith(("sparkdeps._build", "sparkdeps._jobs", "sparkdeps._cli"))
    ]
    assert leaked == []


@pytest.mark.parametrize("name", COLD_ONLY, ids=str)
def test_only_a_cold_install_imports(warm_imports, name):
    cold, warm = warm_imports
    assert _has(cold, name)
    assert not _has(warm, name)


@pytest.mark.parametrize("name", NEVER_FOR_THE_DRIVER_ALONE, ids=str)
def test_a_driver_only_load_never_imports(warm_imports, name):
    cold, warm = warm_imports
    assert not _has(cold, name)
    assert not _has(warm, name)
