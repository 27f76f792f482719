"""Packages and fixture helpers for the locked-input tests.

The index serves an OLD and a NEWER version of each ``sdlock-*`` package; every lock
fixture pins the old ones, so a build that re-resolved would pick the newer ones and
the tests would see it. The fixtures' hashes and sizes are written as placeholders
(``@sha256:<wheel file>@``, ``@size:<wheel file>@``) and filled in from the wheels built
here: the wheels are built by the tests, so their bytes are known only at test time.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from tests.support.wheels import make_wheel, mirror_installed

OLD = {"sdlock-a": "1.0", "sdlock-b": "1.0", "sdlock-c": "1.0"}
NEWER = {"sdlock-a": "2.0", "sdlock-b": "1.1", "sdlock-c": "2.0"}
_PLACEHOLDER = re.compile(r"@(sha256|size):([A-Za-z0-9_.+-]+\.whl)@")


def _pkg(root: Path, name: str, version: str, requires: tuple[str, ...] = (), **kw: str) -> None:
    module = name.replace("-", "_")
    make_wheel(
        root,
        name,
        version,
        {f"{module}/__init__.py": f'VERSION = "{version}"\n'},
        requires=requires,
        **kw,
    )


def build_lock_packages(root: Path, *, newer: bool = True) -> Path:
    """sdlock-a -> sdlock-b, and sdlock-c below Python 3.11; old and (optionally) newer."""
    for versions in (OLD, NEWER) if newer else (OLD,):
        _pkg(
            root,
            "sdlock-a",
            versions["sdlock-a"],
            ("sdlock-b>=1.0", 'sdlock-c>=1.0; python_version < "3.11"'),
        )
        _pkg(root, "sdlock-b", versions["sdlock-b"])
        _pkg(root, "sdlock-c", versions["sdlock-c"])
    # a package with one CPython 3.11 wheel only: a lock pinning it fits no 3.10 target
    _pkg(root, "sdlock-native", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    mirror_installed(["setuptools", "wheel"], root)
    return root


def materialise(folder: Path, packages: Path) -> Path:
    """Fill the placeholders of every text file in ``folder`` from the wheels in ``packages``."""

    def fill(match: re.Match[str]) -> str:
        wheel = packages / match.group(2)
        data = wheel.read_bytes()
        return hashlib.sha256(data).hexdigest() if match.group(1) == "sha256" else str(len(data))

    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".toml", ".lock", ".txt"):
            text = path.read_text(encoding="utf-8")
            if "@sha256:" in text or "@size:" in text:
                path.write_text(_PLACEHOLDER.sub(fill, text), encoding="utf-8")
    return folder


def templatise(text: str, packages: Path) -> str:
    """The reverse of :func:`materialise`, for writing fixtures from real tool output."""
    wheels = {wheel.name: wheel.read_bytes() for wheel in sorted(packages.glob("*.whl"))}
    lines = []
    for raw in text.splitlines():
        line = raw
        for name, data in wheels.items():
            if name in line:
                line = re.sub(r"size = \d+", f"size = @size:{name}@", line)
            line = line.replace(hashlib.sha256(data).hexdigest(), f"@sha256:{name}@")
        lines.append(line)
    return "\n".join(lines) + "\n"


def copy_fixture(source: Path, destination: Path, packages: Path) -> Path:
    shutil.copytree(source, destination)
    return materialise(destination, packages)
