"""The 0.1 ``tree`` payload, kept only as a baseline for the executor measures.

Up to 0.1 sparkdeps shipped the installed folder itself to classic executors: the
install zipped (stored, no compression) and added with ``sc.addArchive``, its name
joined to the SparkContext's python includes (docs/facts.md, facts 2-3). The
library now ships the wheelhouse and a stub zip (``wheels``); this module lets
``child.py executor --payload tree`` measure the old way beside it.
"""

from __future__ import annotations

import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

SKIPPED = frozenset({"bin", "__pycache__"})


def zip_tree(source: Path, out: Path) -> None:
    """Zip ``source``'s contents into ``out`` atomically, without ``bin/`` and bytecode."""
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for root, dirs, files in os.walk(source):
                here = Path(root)
                relative = here.relative_to(source)
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
                for name in sorted(files):
                    archive.write(here / name, (relative / name).as_posix())
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def tree_payload(folder: Path, digest: str, payload_dir: Path) -> Path:
    """``<payload_dir>/<digest>.tree.zip``: the install folder zipped, made once."""
    out = payload_dir / f"{digest}.tree.zip"
    if not out.is_file():
        payload_dir.mkdir(parents=True, exist_ok=True)
        zip_tree(folder, out)
    return out


def ship_tree(spark: Any, folder: Path, digest: str, payload_dir: Path) -> Path:
    """Make ``folder`` importable on a classic session's executors the 0.1 way."""
    payload = tree_payload(folder, digest, payload_dir)
    name = f"sparkdeps_tree_{digest[:16]}"  # "sparkdeps_" marks the payload in child.py
    context = spark.sparkContext
    context.addArchive(f"{payload}#{name}")
    includes = context._python_includes  # the list addPyFile itself feeds
    if name not in includes:
        includes.append(name)
    return payload
