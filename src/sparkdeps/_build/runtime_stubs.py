"""Stand-in wheels for what the runtime already has, so the resolver can rely on it.

uv resolves against an index; it has no notion of "installed on the cluster". A
stand-in is a tiny ``py3-none-any`` wheel with the runtime's name and exact version
and no dependencies, offered to uv with ``--find-links``. uv takes a flat folder's
wheel over the index's for the same version (measured: a stand-in ``requests
2.28.1`` resolves alone, the index's would bring ``idna``), so:

- a version with a local label (``torch 2.3.1+cpu``), which no index has, can be
  pinned; ``torch==2.3.1`` matches it as PEP 440 says, and nothing that PyPI's
  ``torch 2.3.1`` requires (CUDA packages, triton) enters the resolution;
- Spark's own packages (pyspark, py4j, delta-spark) resolve without the index: a
  runtime's Spark is not PyPI's wheel, and its dependencies are the runtime's.

Every other runtime package resolves from the index with its real metadata, so uv
checks its requirements against what ships; only a runtime version with no wheel for
the target gets a stand-in as well (learned in :mod:`.runtime_first`).

Stand-ins are never downloaded, built or shipped: a pin at the runtime's version is
placed ``runtime`` (:mod:`.runtime_plan`). They are written once per set (its
digest) under the build cache, so uv's cache keeps their metadata between builds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["stub_folder"]

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_stub(folder: Path, name: str, version: str, runtime: str) -> None:
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: provided by the runtime {runtime} (a sparkdeps stand-in, never shipped)\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: sparkdeps\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(folder / f"{dist}-{version}-py3-none-any.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, _EPOCH), data)


def stub_folder(packages: Mapping[str, str], *, runtime: str, root: Path) -> Path:
    """The folder of stand-ins for ``packages`` (name -> version), made once per set."""
    text = "\n".join(f"{n}=={v}" for n, v in sorted(packages.items()))
    folder = root / hashlib.sha256(text.encode()).hexdigest()[:32]
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        for name, version in sorted(packages.items()):
            _write_stub(partial, name, version, runtime)
        os.replace(partial, folder)  # another build may have made it meanwhile: same bytes
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
