"""Make wheels and sdists in tests, from dicts of files.

Nothing here downloads anything: wheels are zipped from the given files, a
C extension is compiled with the machine's gcc against the chosen
interpreter's headers, and installed distributions (setuptools, six, ...)
can be repackaged into wheels so isolated builds work against a local index.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

FIXED_DATE = (1980, 1, 1, 0, 0, 0)

C_SOURCE = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args) {
    return PyLong_FromLong(42);
}

static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "Return 42, computed in C."},
    {"add", add, METH_VARARGS, "Add two integers in C."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};

PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&module); }
"""


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def dist_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def make_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes],
    *,
    requires: Sequence[str] = (),
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    metadata_name: str | None = None,
    metadata_version: str | None = None,
    record: bool = True,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``dest_dir`` with ``files`` and metadata.

    ``metadata_name``/``metadata_version`` let a test make a wheel whose file name lies.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{dist_name(name)}-{version}"
    dist_info = f"{stem}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {metadata_name or name}",
        f"Version: {metadata_version or version}",
    ]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata.extend(f"Requires-Dist: {req}" for req in requires)
    pure = tag.endswith("-none-any")
    wheel_meta = [
        "Wheel-Version: 1.0",
        "Generator: sparkdeps-tests",
        f"Root-Is-Purelib: {'true' if pure else 'false'}",
        *(f"Tag: {t}" for t in _expand_tag(tag)),
    ]
    contents: dict[str, bytes] = {
        path: data.encode("utf-8") if isinstance(data, str) else data
        for path, data in files.items()
    }
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    contents[f"{dist_info}/WHEEL"] = ("\n".join(wheel_meta) + "\n").encode()
    return _write_wheel(dest_dir / f"{stem}-{tag}.whl", contents, dist_info, record=record)


def _write_wheel(
    path: Path, files: dict[str, bytes], dist_info: str, *, record: bool = True
) -> Path:
    """``files`` as a wheel at ``path`` (fixed dates), with a RECORD of them unless
    ``record`` is False."""
    if record:
        rows = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in sorted(files.items()))
        files = {**files, f"{dist_info}/RECORD": (rows + f"{dist_info}/RECORD,,\n").encode()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in sorted(files.items()):
            info = zipfile.ZipInfo(member, date_time=FIXED_DATE)
            # a script (uv's binary) must stay executable once pip installs it
            mode = 0o100755 if ".data/scripts/" in member else 0o644  # S_IFREG: pip checks it
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def _expand_tag(tag: str) -> list[str]:
    """A compressed tag set (``py2.py3-none-any``) as its tags, in a stable order."""
    return sorted(str(each) for each in parse_tag(tag))


def interpreter_info(python: str | os.PathLike[str]) -> dict[str, str]:
    """Include dir, extension suffix and cp tag of another interpreter."""
    code = (
        "import json, sys, sysconfig;"
        "print(json.dumps({'include': sysconfig.get_paths()['include'],"
        "'suffix': sysconfig.get_config_var('EXT_SUFFIX'),"
        "'tag': 'cp%d%d' % sys.version_info[:2],"
        "'version': '%d.%d' % sys.version_info[:2]}))"
    )
    out = subprocess.run(
        [os.fspath(python), "-c", code], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout))


def compile_extension(
    module: str, python: str | os.PathLike[str], workdir: Path
) -> tuple[str, bytes]:
    """Compile the test C module for ``python``; return (file name, bytes)."""
    info = interpreter_info(python)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{module}.c"
    source.write_text(C_SOURCE % {"name": module})
    target = workdir / f"{module}{info['suffix']}"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", f"-I{info['include']}", str(source), "-o", str(target)],
        check=True,
        capture_output=True,
    )
    return target.name, target.read_bytes()


def make_cext_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    module: str,
    python: str | os.PathLike[str] = sys.executable,
    platform_tag: str = "manylinux_2_17_x86_64",
    requires: Sequence[str] = (),
    package: bool = True,
) -> Path:
    """A wheel holding a compiled module for ``python``.

    With ``package`` the extension lives at ``<module>/_native<suffix>`` under a package
    whose ``__init__`` re-exports it; without, it is a top-level single-file extension.
    The platform tag is manylinux, as auditwheel would give: the module links only libc.
    """
    info = interpreter_info(python)
    workdir = dest_dir / f".build-{module}-{info['tag']}"
    if package:
        filename, data = compile_extension("_native", python, workdir)
        files: dict[str, str | bytes] = {
            f"{module}/__init__.py": "from ._native import add, answer\n",
            f"{module}/{filename}": data,
        }
    else:
        filename, data = compile_extension(module, python, workdir)
        files = {filename: data}
    shutil.rmtree(workdir, ignore_errors=True)
    tag = f"{info['tag']}-{info['tag']}-{platform_tag}"
    return make_wheel(dest_dir, name, version, files, requires=requires, tag=tag)


BACKEND = '''\
"""A tiny in-tree PEP 517 backend for test sdists: no build requirements."""
import base64, hashlib, os, zipfile

NAME = {name!r}
VERSION = {version!r}
TAG = {tag!r}
REQUIRES = {requires!r}
DIST = NAME.replace("-", "_")


def get_requires_for_build_wheel(config_settings=None):
    return []


def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {{}}
    for root, _dirs, names in os.walk("src"):
        for n in names:
            full = os.path.join(root, n)
            files[os.path.relpath(full, "src").replace(os.sep, "/")] = open(full, "rb").read()
    info = DIST + "-" + VERSION + ".dist-info"
    meta = "Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION + "\\n"
    meta += "".join("Requires-Dist: " + r + "\\n" for r in REQUIRES)
    files[info + "/METADATA"] = meta.encode()
    files[info + "/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: " + TAG + "\\n").encode()
    record = "".join(p + "," + _hash(d) + "," + str(len(d)) + "\\n" for p, d in sorted(files.items()))
    files[info + "/RECORD"] = (record + info + "/RECORD,,\\n").encode()
    name = DIST + "-" + VERSION + "-" + TAG + ".whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for p, d in sorted(files.items()):
            z.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), d)
    return name
'''


def make_sdist(
    dest_dir: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    *,
    requires: Sequence[str] = (),
    wheel_tag: str = "py3-none-any",
) -> Path:
    """An sdist (``.tar.gz``) built by an in-tree backend that needs nothing from an index.

    ``files`` are the package sources (paths relative to the wheel root). ``wheel_tag``
    other than ``py3-none-any`` makes a backend that produces a platform wheel, standing
    for a package that needs compiling.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    base = f"{dist_name(name)}-{version}"
    members: dict[str, bytes] = {
        "pyproject.toml": textwrap.dedent(
            f"""\
            [build-system]
            requires = []
            build-backend = "testbackend"
            backend-path = ["_backend"]

            [project]
            name = "{name}"
            version = "{version}"
            """
        ).encode(),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "_backend/testbackend.py": BACKEND.format(
            name=name, version=version, tag=wheel_tag, requires=list(requires)
        ).encode(),
    }
    for path, text in files.items():
        members[f"src/{path}"] = text.encode()
    path = dest_dir / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, data in sorted(members.items()):
            info = tarfile.TarInfo(f"{base}/{member}")
            info.size = len(data)
            info.mtime = 315532800
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def wheel_from_installed(distribution: str, dest_dir: Path) -> Path:
    """Repackage an installed distribution (e.g. setuptools) as a wheel, from its RECORD."""
    dist = importlib.metadata.distribution(distribution)
    name = dist.metadata["Name"]
    version = dist.version
    wheel_text = (
        dist.read_text("WHEEL") or "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    tag = tags[0] if len(tags) == 1 else "py3-none-any"
    files: dict[str, bytes] = {}
    skip = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
    scripts = f"{dist_name(name)}-{version}.data/scripts/"
    for entry in dist.files or []:
        posix = entry.as_posix()
        if posix.startswith("../../../bin/") and name == "uv":
            # uv's package is its binary: without it find_uv_bin fails
            files[scripts + posix.rsplit("/", 1)[1]] = Path(
                str(dist.locate_file(entry))
            ).read_bytes()
            continue
        if "__pycache__" in posix or posix.endswith(".pyc") or posix.startswith(".."):
            continue
        if ".dist-info/" in posix and posix.rsplit("/", 1)[1] in skip:
            continue
        located = Path(str(dist.locate_file(entry)))
        if located.is_file():
            files[posix] = located.read_bytes()
    dist_info = next(p.split("/")[0] for p in files if p.split("/")[0].endswith(".dist-info"))
    dest_dir.mkdir(parents=True, exist_ok=True)
    return _write_wheel(dest_dir / f"{dist_name(name)}-{version}-{tag}.whl", files, dist_info)


def find_python(version: str) -> Path | None:
    """An interpreter for ``version`` ("3.10"): pyenv's, else one on PATH; None if absent."""
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", version], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        prefix = ""
    if not prefix:
        # `pyenv prefix 3.10` wants a full version on some setups
        try:
            versions = subprocess.run(
                ["pyenv", "versions", "--bare"], check=True, capture_output=True, text=True
            ).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            versions = []
        matching = sorted(v for v in versions if v == version or v.startswith(version + "."))
        if matching:
            root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
            prefix = str(root / "versions" / matching[-1])
    if prefix:
        candidate = Path(prefix) / "bin" / f"python{version}"
        if candidate.exists():
            return candidate
    found = shutil.which(f"python{version}")
    if found:
        real = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if real == version:
            return Path(found)
    return None


CONSTRAINTS = Path(__file__).resolve().parents[2] / "ci" / "constraints.txt"


def pinned_versions() -> dict[str, str]:
    """``name==version`` lines of ci/constraints.txt for this Python (markers evaluated)."""
    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" not in text:
            continue
        pin = Requirement(text)
        if pin.marker is None or pin.marker.evaluate():
            pins[canonicalize_name(pin.name)] = next(iter(pin.specifier)).version
    return pins


def mirror_installed(distributions: Sequence[str], dest_dir: Path) -> list[Path]:
    """Repackage installed distributions and their installed dependencies (host markers).

    What the tests mirror is pinned in ci/constraints.txt: a host with another version
    fails here, naming the fix, instead of serving the tests something else.
    """
    from packaging.requirements import Requirement

    pins = pinned_versions()
    for requested in distributions:
        name = canonicalize_name(requested)
        installed = importlib.metadata.version(name)
        if name not in pins:
            raise AssertionError(
                f"{name} is mirrored for the tests but not pinned in {CONSTRAINTS}"
            )
        if installed != pins[name]:
            raise AssertionError(
                f"the tests mirror {name}=={pins[name]} ({CONSTRAINTS.name}) but this environment "
                f"has {installed}: pip install -c ci/constraints.txt '{name}=={pins[name]}'"
            )

    seen: set[str] = set()
    out: list[Path] = []
    queue = list(distributions)
    while queue:
        name = canonicalize_name(queue.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        out.append(wheel_from_installed(name, dest_dir))
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                queue.append(req.name)
    return out
