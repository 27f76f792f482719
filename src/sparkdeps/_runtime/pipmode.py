"""``load(mode="pip")``: the checked wheels pip-installed into the running environment."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from .._core.hashing import CHUNK
from .._core.runner import pip_command, run
from .extract import open_stored_wheel
from .fetch import Prepared

__all__ = ["pip_install"]


def pip_install(prepared: Prepared, *, leave_out: Collection[str] = ()) -> None:
    """``pip install --no-index --no-deps`` of the (checked) wheels into this environment
    (but ``leave_out``: a Connect client's misfits)."""
    assert prepared.manifest is not None
    with tempfile.TemporaryDirectory(prefix="sparkdeps-pip-") as work:
        folder = Path(work)
        paths = []
        for wheel in prepared.manifest.wheels:
            if wheel.filename in leave_out:
                continue
            destination = folder / wheel.filename
            with (
                open_stored_wheel(prepared.zip_path, wheel.filename) as source,
                destination.open("wb") as out,
            ):
                shutil.copyfileobj(source, out, CHUNK)
            paths.append(destination)
        run(
            [*pip_command(), "install", "--no-index", "--no-deps", "--no-input", *paths],
            what=f"pip install of {prepared.uri}",
            hint="mode='pip' installs into the running environment",
            fix="use the default mode='cache' if that environment is read-only",
        )
