"""Run in a venv holding the oldest packaging any runtime ships (21.3, DBR 13.3) + sparkdeps.

    python oldest_packaging_app.py PACKAGING_VERSION WHEELHOUSE_URI CACHE_DIR

Checks what a cluster does with the runtime half: every module of the runtime half
and the CLI imports; every name the runtime half takes from ``packaging`` (found by
reading its source, imports inside functions included) exists in this packaging;
``load`` (driver only), ``inspect``, and ``sparkdeps cleanup`` from the command line
work. Prints one JSON line.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import packaging

import sparkdeps

RUNTIME_PACKAGES = ("sparkdeps._core", "sparkdeps._runtime")
# The CLI's cleanup on a cluster goes through _jobs.tasks (its build import is lazy).
RUNTIME_MODULES = ("sparkdeps", "sparkdeps._version", "sparkdeps._cli", "sparkdeps._jobs.tasks")


def runtime_modules() -> list[str]:
    names = list(RUNTIME_MODULES)
    for package in RUNTIME_PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)]
    return names


def packaging_names(module_name: str) -> set[tuple[str, str]]:
    """(module, name) pairs the module's source imports from packaging, anywhere in it."""
    source = importlib.util.find_spec(module_name).origin  # type: ignore[union-attr]
    tree = ast.parse(Path(source).read_text(encoding="utf-8"))
    found: set[tuple[str, str]] = set()
    guarded = {id(n) for n in _guarded_imports(tree)}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue  # inside ``try: ... except ImportError:``, a fallback covers it
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("packaging"):
            found.update((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((a.name, "") for a in node.names if a.name.startswith("packaging"))
    return found


def _guarded_imports(tree: ast.AST) -> list[ast.AST]:
    """Import statements in the body of a ``try`` that handles ImportError."""
    guarded: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        names = {getattr(handler.type, "id", None) for handler in node.handlers if handler.type}
        if names & {"ImportError", "ModuleNotFoundError"}:
            guarded += [n for stmt in node.body for n in ast.walk(stmt)]
    return guarded


def missing_packaging_names(modules: list[str]) -> list[str]:
    missing = []
    for module, name in sorted(set().union(*(packaging_names(m) for m in modules))):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module}: {exc}")
            continue
        if name and not hasattr(imported, name) and not _is_submodule(module, name):
            missing.append(f"{module}.{name}")
    return missing


def _is_submodule(module: str, name: str) -> bool:
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return False
    return True


def main() -> int:
    expected, uri, cache_dir = sys.argv[1:4]
    assert packaging.__version__ == expected, (packaging.__version__, expected)
    modules = runtime_modules()
    for name in modules:
        importlib.import_module(name)
    missing = missing_packaging_names(modules)

    loaded = sparkdeps.load(uri, cache_dir=cache_dir)
    imported = {name: importlib.import_module(name).__file__ for name in loaded.top_level}
    manifest = sparkdeps.inspect(uri)
    run_uri = uri.rsplit("/", 1)[0]
    cli = subprocess.run(
        [sys.executable, "-m", "sparkdeps", "cleanup", run_uri],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SPARKDEPS_CACHE_DIR": cache_dir},
    )
    print(
        json.dumps(
            {
                "packaging": packaging.__version__,
                "packaging_file": packaging.__file__,
                "modules": len(modules),
                "missing": missing,
                "build_half_imported": sorted(
                    m for m in sys.modules if m.startswith("sparkdeps._build")
                ),
                "imported": imported,
                "manifest_wheels": [wheel.filename for wheel in manifest.wheels],
                "requires": [str(req) for wheel in manifest.wheels for req in wheel.requirements()],
                "cleanup_exit": cli.returncode,
                "cleanup_output": (cli.stdout + cli.stderr)[-2000:],
                "run_folder_left": Path(run_uri).exists(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
