"""The run's pip-native form, staged for publishing beside ``wheelhouse.zip``.

The wheels come out of the wheelhouse just made (or the build cache's copy), each
checked against the manifest's sha256 as it is written, so the published wheels are
the bytes ``load`` would install. ``requirements.txt`` names them by the path pip on
the cluster opens (``_core/pipform.py``); ``pylock.toml`` is the zip's own, whose
``wheels/<file>`` paths resolve beside it. Publishing order (``publish._publish``):
wheels, then the lock and the requirements file, then ``wheelhouse.zip``, so a run
whose zip exists has its pip-native form complete.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .._core.errors import InputError, IntegrityError
from .._core.hashing import CHUNK
from .._core.manifest import Manifest
from .._core.pipform import PIP_WHEELS, PYLOCK_NAME, REQUIREMENTS_NAME, pip_path
from .._core.pipform import requirements_text as render_requirements
from .._core.storage import join_uri
from .._core.target import Target

__all__ = ["PipForm", "stage_pip_form"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipForm:
    """Local files and the URIs they are published to, in publishing order."""

    files: tuple[tuple[Path, str], ...]

    @property
    def uris(self) -> tuple[str, ...]:
        return tuple(uri for _, uri in self.files)


def _extract_checked(archive: zipfile.ZipFile, member: str, expected: str, out: Path) -> None:
    digest = hashlib.sha256()
    with archive.open(member) as source, out.open("wb") as target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != expected:
        raise IntegrityError(
            f"{member} in the wheelhouse does not match its manifest sha256; the build cache "
            "entry is damaged: rebuild with --no-cache (use_cache=False)"
        )


def _comment(manifest: Manifest, run_uri: str) -> str:
    target = Target.from_dict(manifest.target)
    return (
        f"sparkdeps run {run_uri.rstrip('/').rpartition('/')[2]} for {target.description}\n"
        f"install: pip install -r {pip_path(join_uri(run_uri, REQUIREMENTS_NAME))}"
    )


def stage_pip_form(
    wheelhouse: Path, manifest: Manifest, run_uri: str, work: Path
) -> PipForm | None:
    """The pip-native form of ``wheelhouse`` for ``run_uri``, written under ``work``.

    None (with a warning saying why) when pip could not read the run's path, such as a
    folder with a space in its name: the zip is still published and ``load`` works.
    """
    folder = join_uri(run_uri, PIP_WHEELS)
    try:
        text = render_requirements(
            manifest.wheels, pip_path(folder), comment=_comment(manifest, run_uri)
        )
    except InputError as exc:
        logger.warning("not publishing the pip-native form (requirements.txt): %s", exc)
        return None
    staged = work / "pip-form"
    (staged / PIP_WHEELS).mkdir(parents=True)
    files: list[tuple[Path, str]] = []
    with zipfile.ZipFile(wheelhouse) as archive:
        for wheel in sorted(manifest.wheels, key=lambda w: w.filename):
            local = staged / PIP_WHEELS / wheel.filename
            _extract_checked(archive, f"wheels/{wheel.filename}", wheel.sha256, local)
            files.append((local, join_uri(folder, wheel.filename)))
        lock = archive.read(PYLOCK_NAME) if PYLOCK_NAME in archive.namelist() else None
    if lock is not None:
        (staged / PYLOCK_NAME).write_bytes(lock)
        files.append((staged / PYLOCK_NAME, join_uri(run_uri, PYLOCK_NAME)))
    (staged / REQUIREMENTS_NAME).write_text(text, encoding="utf-8")
    files.append((staged / REQUIREMENTS_NAME, join_uri(run_uri, REQUIREMENTS_NAME)))
    return PipForm(tuple(files))
