"""Wheelhouses for load tests, made without the builder.

Wheels come from ``tests/support/wheels.py``; the manifest from
``_manifest.inspect_wheel``; the file from ``_wheelhouse.write_wheelhouse``.
Laid out as the builder publishes them: ``<base>/<run_id>/wheelhouse.zip`` next to
a ``run.json`` marker.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.support.wheels import interpreter_info, make_cext_wheel, make_wheel

from sparkdeps._build.bytecode import compile_wheels
from sparkdeps._core.manifest import Manifest, inspect_wheel
from sparkdeps._core.target import Target, host_target
from sparkdeps._core.wheelhouse import write_wheelhouse
from sparkdeps._runtime.load import load

PREFIX = "sdload"
"""Test package names start with this: nothing on the machine has them."""


@contextmanager
def restored_imports(*prefixes: str) -> Iterator[None]:
    """``load()`` puts folders first on ``sys.path`` and tests import what it installed:
    afterwards, ``sys.path`` as it was and no module whose name starts with ``prefixes``."""
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved
        for name in [name for name in sys.modules if name.startswith(prefixes)]:
            del sys.modules[name]


def make_wheelhouse(
    base: Path,
    wheels: Sequence[Path],
    *,
    target: Target | Mapping[str, Any] | None = None,
    run_id: str | None = None,
    created: float | None = None,
    bytecode: bool = False,
) -> Path:
    """Publish ``wheels`` as ``<base>/<run_id>/wheelhouse.zip`` (+ run.json); return its path.

    ``bytecode``: compiled as a build does, by this interpreter (a host target)."""
    run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    folder = base / run_id
    folder.mkdir(parents=True, exist_ok=True)
    chosen = target if target is not None else host_target()
    target_dict = dict(chosen.to_dict() if isinstance(chosen, Target) else chosen)
    infos = tuple(inspect_wheel(path, source="provided") for path in wheels)
    compiled = compile_wheels(wheels, Target.from_dict(target_dict), folder) if bytecode else None
    manifest = Manifest(
        format="existing_wheels",
        target=target_dict,
        wheels=infos,
        input_digest="test-" + run_id,
        inputs={"existing_wheels": [path.name for path in wheels]},
        bytecode=compiled[1] if compiled else None,
    )
    out = folder / "wheelhouse.zip"
    digest = write_wheelhouse(
        list(wheels), manifest, out, bytecode=compiled[0] if compiled else None
    )
    if compiled:
        compiled[0].unlink()
    (folder / "run.json").write_text(
        json.dumps(
            {
                "run_id": run_id,
                "created": datetime.fromtimestamp(
                    time.time() if created is None else created, timezone.utc
                ).isoformat(),
                "digest": digest,
                "sparkdeps_version": "test",
            }
        )
    )
    return out


def target_for(python: str | Path) -> Target:
    """The Target of another interpreter (its Python version, this machine's platform)."""
    version = interpreter_info(python)["version"]
    host = host_target()
    return Target(python_version=version, arch=host.arch, glibc=host.glibc, native=True)


def load_test_wheels(
    dest: Path, *, python: str | Path = sys.executable, tag: str = ""
) -> list[Path]:
    """The load tests' packages, with unique names (``sdload_*<tag>``):

    * ``sdload_pure``: a pure package with a submodule;
    * ``sdload_cext``: a package with a compiled ``_native`` extension (for ``python``);
    * ``sdload_cmod``: a top-level single-file compiled module;
    * ``sdload_single``: a top-level single-file pure module;
    * ``sdload_datapkg`` from ``sdload-data``: a wheel using ``.data/purelib`` and
      ``.data/scripts`` (and a ``.data/headers`` file that must be skipped).
    """
    dest.mkdir(parents=True, exist_ok=True)
    return [
        make_wheel(
            dest,
            f"{PREFIX}-pure{tag}",
            "1.0",
            {
                f"{PREFIX}_pure{tag}/__init__.py": "from .sub import VALUE\n",
                f"{PREFIX}_pure{tag}/sub.py": "VALUE = 'pure'\n",
            },
        ),
        make_cext_wheel(
            dest, f"{PREFIX}-cext{tag}", "1.0", module=f"{PREFIX}_cext{tag}", python=python
        ),
        make_cext_wheel(
            dest,
            f"{PREFIX}-cmod{tag}",
            "1.0",
            module=f"{PREFIX}_cmod{tag}",
            python=python,
            package=False,
        ),
        make_wheel(
            dest, f"{PREFIX}-single{tag}", "1.0", {f"{PREFIX}_single{tag}.py": "VALUE = 'single'\n"}
        ),
        make_wheel(
            dest,
            f"{PREFIX}-data{tag}",
            "1.0",
            {
                f"{PREFIX}_data{tag}-1.0.data/purelib/{PREFIX}_datapkg{tag}/__init__.py": "VALUE = 'data'\n",
                f"{PREFIX}_data{tag}-1.0.data/scripts/{PREFIX}-tool": "#!python\nprint('tool')\n",
                f"{PREFIX}_data{tag}-1.0.data/headers/{PREFIX}.h": "/* skipped */\n",
            },
        ),
    ]


def module_names(tag: str = "") -> list[str]:
    return [f"{PREFIX}_{kind}{tag}" for kind in ("pure", "cext", "cmod", "single", "datapkg")]


def installed_on_the_driver(wheelhouse: Path, cache: Path) -> tuple[Path, Path, str]:
    """(wheelhouse, install folder, digest) of a ``driver-only`` load of ``wheelhouse``,
    ``sys.path`` left as it was: what a test of the executors' half serves them."""
    saved = list(sys.path)
    try:
        result = load(wheelhouse, delivery="driver-only", cache_dir=cache)
    finally:
        sys.path[:] = saved
    return wheelhouse, result.folder, result.digest
