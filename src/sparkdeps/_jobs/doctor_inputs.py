"""The doctor's tiny inputs, made here with no index: one per route it tries.

Each route gets modules no other route ships (``sddoctor_<route>_<token>``), so a route
cannot pass on what an earlier one delivered to the same session. An input folder holds

* a loose module, which ``build`` turns into a generated pure wheel (its own path for
  loose modules), and
* where a C compiler and Python's headers are at hand (or an earlier doctor left a
  compiled library in the cache), a compiled wheel: package ``sddoctorc_<route>_<token>``
  around ``_native<EXT_SUFFIX>``. The library is compiled once and cached
  (``<cache>/doctor/<tag>/``): the package name makes each route's copy unique, so
  the same binary serves every route.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import logging
import os
import shutil
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import sys_tags

from .._core.errors import CommandError
from .._core.paths import cache_root
from .._core.runner import run
from .._core.wheelhouse import zip_entry

__all__ = ["Native", "native_library", "route_input"]

logger = logging.getLogger(__name__)

_C_SOURCE = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, "42, from C."}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};
PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
"""
_VERSION = "1.0"


@dataclass(frozen=True)
class Native:
    """The compiled library routes' compiled wheels carry, or why there is none."""

    library: Path | None
    tag: str
    """The wheel tag for it: this interpreter's most specific one."""
    how: str
    """``compiled``, ``cached``, or why it was left out (``no C compiler``...)."""


def _wheel_tag() -> str:
    interpreter = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    for tag in sys_tags():
        if tag.interpreter == interpreter and tag.abi == interpreter:
            return str(tag)
    return str(next(iter(sys_tags())))


def native_library(cache_dir: str | os.PathLike[str] | None = None) -> Native:
    """A ``_native`` extension for this interpreter: cached, compiled now, or none."""
    tag = _wheel_tag()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    cached = cache_root(cache_dir) / "doctor" / tag / f"_native{suffix}"
    if cached.is_file():
        return Native(cached, tag, "cached")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    include = Path(sysconfig.get_paths()["include"])
    if shutil.which(compiler) is None:
        return Native(None, tag, f"no C compiler ({compiler}) here")
    if not (include / "Python.h").is_file():
        return Native(None, tag, f"no Python headers ({include}/Python.h) here")
    work = cached.parent / f".build-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = work / "_native.c"
        source.write_text(_C_SOURCE, encoding="utf-8")
        built = work / cached.name
        command = [compiler, "-shared", "-fPIC", "-O1", f"-I{include}", source, "-o", built]
        run(command, what="compile the doctor's C extension", timeout=120)
        os.replace(built, cached)  # atomic: another doctor may be compiling too
    except (CommandError, OSError) as exc:
        return Native(None, tag, f"the C compiler failed: {str(exc).splitlines()[0]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Native(cached, tag, "compiled")


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _compiled_wheel(package: str, native: Native, out: Path) -> Path:
    assert native.library is not None
    dist_info = f"{package}-{_VERSION}.dist-info"
    files = {
        f"{package}/__init__.py": b"from ._native import answer\n",
        f"{package}/{native.library.name}": native.library.read_bytes(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {_VERSION}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: sparkdeps-doctor\nRoot-Is-Purelib: false\n"
            f"Tag: {native.tag}\n"
        ).encode(),
    }
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for name, data in sorted(files.items()):
        writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    files[f"{dist_info}/RECORD"] = rows.getvalue().encode()
    path = out / f"{package}-{_VERSION}-{native.tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(files, key=lambda item: (item.endswith("/RECORD"), item)):
            archive.writestr(zip_entry(name, zipfile.ZIP_DEFLATED), files[name])
    return path


def route_input(route: str, token: str, native: Native, out: Path) -> tuple[Path, tuple[str, ...]]:
    """The input folder for ``route`` and the top-level modules it ships."""
    slug = route.replace("-", "_")
    pure = f"sddoctor_{slug}_{token}"
    out.mkdir(parents=True)
    (out / f"{pure}.py").write_text(f"ROUTE = {route!r}\n", encoding="utf-8")
    modules = [pure]
    if native.library is not None:
        compiled = f"sddoctorc_{slug}_{token}"
        _compiled_wheel(compiled, native, out)
        modules.append(compiled)
    return out, tuple(modules)
