"""A fetched wheelhouse's integrity, before anything is written: every wheel's tags against
the running interpreter, then its sha256 and contents against the manifest."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from typing import IO, Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .._core.errors import IncompatibleWheelError, IntegrityError
from .._core.hashing import sha256_stream
from .._core.stdlib import ALLOW_ENV, shadowing
from .client import client_tags, describe_client
from .extract import (
    check_bytecode_contents,
    check_wheel_contents,
    open_stored,
    open_stored_wheel,
)
from .fetch import Prepared

__all__ = ["check_interpreter_tags", "check_wheels"]


def _interpreter_tags() -> frozenset[Tag]:
    return frozenset(client_tags())  # computed once per process (client.py)


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
                f"{filename} in {uri} does not fit this interpreter: the wheelhouse was built "
                f"for Python {python} on {platforms[0]}, this is "
                f"{describe_client() if tags is None else f'Python {running}'}; "
                + _fix(python, running)
                + " Nothing was installed."
            )


def _fix(python: str, running: str) -> str:
    if python != running:
        return (
            f"rebuild it for this Python (`sparkdeps build <input> --python-version {running}`, "
            f"or `--target <profile>` with the runtime's profile), or run the job on a Python "
            f"{python} runtime."
        )
    return (
        "the wheelhouse is for the cluster, not this machine: load it in the job on the "
        "cluster, or from here into a Spark Connect session (load(..., spark=spark): the "
        "cluster gets every wheel, this machine only those that fit it); to use it on this "
        "machine alone, build it here without --target."
    )


def check_wheels(
    prepared: Prepared, tags: frozenset[Tag] | None = None, *, leave_out: Collection[str] = ()
) -> None:
    """Tags, then each wheel's sha256 and contents against the manifest. Writes nothing.

    ``leave_out``: wheels this interpreter will not install (a Connect client's misfits):
    their tags are not checked here, their bytes are."""
    manifest = prepared.manifest
    if manifest is None:
        raise IntegrityError("internal: check_wheels needs the manifest")
    check_interpreter_tags(
        prepared.uri,
        [wheel.filename for wheel in manifest.wheels if wheel.filename not in leave_out],
        manifest.target,
        tags,
    )
    shadowed = shadowing(manifest.top_level)
    if shadowed:
        raise IntegrityError(
            f"{prepared.uri} carries top-level {', '.join(shadowed)}, which would shadow the "
            "standard library once first on sys.path. Nothing was installed.",
            fix=f"rebuild without them, or set {ALLOW_ENV}={','.join(shadowed)} if you really "
            "mean it",
        )
    for wheel in manifest.wheels:
        with open_stored_wheel(prepared.zip_path, wheel.filename) as handle:
            _same_sha256(handle, wheel.filename, wheel.sha256, prepared.uri)
            check_wheel_contents(handle, wheel, prepared.uri)
    if manifest.bytecode is not None:
        # code too: a shared install writes it for every executor to run (executors
        # check it again themselves)
        with open_stored(prepared.zip_path, manifest.bytecode.member) as handle:
            _same_sha256(handle, manifest.bytecode.member, manifest.bytecode.sha256, prepared.uri)
            check_bytecode_contents(handle, manifest.bytecode, prepared.uri)


def _same_sha256(handle: IO[bytes], name: str, expected: str, uri: str) -> None:
    """``handle`` (rewound afterwards) holds what the manifest lists for ``name``."""
    digest = sha256_stream(handle)
    if digest != expected:
        raise IntegrityError(
            f"{name} in {uri} does not match its manifest (sha256 {digest[:16]}..., expected "
            f"{expected[:16]}...): the wheelhouse was changed after it was built; nothing was "
            "installed",
            fix="rebuild it",
        )
    handle.seek(0)
