"""Checks before anything is written: every wheel's tags against the running interpreter,
then its sha256 and contents against the manifest."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .._core.errors import IncompatibleWheelError, IntegrityError
from .._core.hashing import sha256_stream
from .._core.stdlib import ALLOW_ENV, shadowing
from .._core.target import running_interpreter_tags
from .extract import check_wheel_contents, open_stored_wheel
from .fetch import Prepared

__all__ = ["check_interpreter_tags", "check_wheels"]


@functools.lru_cache(maxsize=1)
def _interpreter_tags() -> frozenset[Tag]:
    return running_interpreter_tags()  # ~5 ms: once per process keeps warm loads fast


def check_interpreter_tags(
    uri: str,
    filenames: tuple[str, ...] | list[str],
    built_for: Mapping[str, Any],
    tags: frozenset[Tag] | None = None,
) -> None:
    """Every wheel's tags against the running interpreter (file names only: no I/O)."""
    accepted = tags if tags is not None else _interpreter_tags()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = str(built_for.get("python_version", "?"))
    platforms = built_for.get("platforms") or ["?"]
    for filename in filenames:
        try:
            _name, _version, _build, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise IntegrityError(f"{uri}: {filename} is not a wheel name") from exc
        if not wheel_tags & accepted:
            raise IncompatibleWheelError(
                f"{filename} in {uri} does not fit the running interpreter: the wheelhouse "
                f"was built for Python {python} ({platforms[0]}) but this is Python {running} "
                f"({sys.platform}); rebuild it for this cluster (`sparkdeps build <input> "
                f"--python-version {running}`, or `sparkdeps build <input> --target <profile>` "
                f"with this runtime's profile), or run the job on a Python {python} runtime. "
                "Nothing was installed."
            )


def check_wheels(prepared: Prepared, tags: frozenset[Tag] | None = None) -> None:
    """Tags, then each wheel's sha256 and contents against the manifest. Writes nothing."""
    manifest = prepared.manifest
    if manifest is None:
        raise IntegrityError("internal: check_wheels needs the manifest")
    check_interpreter_tags(
        prepared.uri, [wheel.filename for wheel in manifest.wheels], manifest.target, tags
    )
    shadowed = shadowing(manifest.top_level)
    if shadowed:
        raise IntegrityError(
            f"{prepared.uri} carries top-level {', '.join(shadowed)}, which would shadow the "
            f"standard library once first on sys.path; rebuild without them, or set "
            f"{ALLOW_ENV}={','.join(shadowed)} if you really mean it. Nothing was installed."
        )
    for wheel in manifest.wheels:
        with open_stored_wheel(prepared.zip_path, wheel.filename) as handle:
            digest = sha256_stream(handle)
            if digest != wheel.sha256:
                raise IntegrityError(
                    f"{wheel.filename} in {prepared.uri} does not match its manifest "
                    f"(sha256 {digest[:16]}..., expected {wheel.sha256[:16]}...): the "
                    "wheelhouse was changed after it was built; rebuild it, nothing was installed"
                )
            handle.seek(0)
            check_wheel_contents(handle, wheel, prepared.uri)
