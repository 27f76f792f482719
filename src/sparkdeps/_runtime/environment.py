"""``delivery="environment"``: install through the channel the platform syncs to UDFs.

Where the Python workers of UDFs cannot see files added to the session (reported
of Databricks serverless and standard access mode, docs/facts.md, fact 17), the
wheelhouse goes through pip instead: a hashed requirements file, one line per
wheel (``<folder>/<file>.whl --hash=sha256:<hex>``), installed by the notebook's
``%pip install -r`` (:class:`~sparkdeps._core.databricks.NotebookPip`), which
Databricks syncs to the workers. The wheels are the run's pip-native form beside
``wheelhouse.zip`` when the build published one (``wheels/``), else they are
copied out of the checked zip into the payload folder. The hashes come from the
manifest ``load`` checked, so pip refuses a wheel changed since.

The channel is found before anything is installed: without one, ``load`` raises
saying what to configure (:func:`configure_hint`), and nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from .._core.databricks import NotebookPip, notebook_pip
from .._core.errors import DeliveryError, SparkdepsError
from .._core.hashing import CHUNK
from .._core.locking import file_lock
from .._core.manifest import MANIFEST_NAME, Manifest
from .._core.pipform import PIP_WHEELS, REQUIREMENTS_NAME, pip_path, requirements_text
from .._core.timing import Timer
from .extract import open_stored_wheel

__all__ = ["configure_hint", "install_environment", "require_channel", "requirements_file"]

logger = logging.getLogger(__name__)


def configure_hint(requirements: str = f"<run folder>/{REQUIREMENTS_NAME}") -> str:
    """What to configure so UDFs import the wheelhouse without session artifacts."""
    return (
        "the route that fits is delivery='environment' (docs/delivery.md): in a Databricks "
        "notebook, sparkdeps.load(..., delivery='environment') runs %pip install -r on the "
        "run's hashed requirements, which Databricks syncs to UDFs; in a job, add "
        f"'-r {requirements}' to the serverless environment's dependencies (or the task's "
        "libraries) and load with probe=True to prove it; from Databricks Connect 16.4+, "
        "pass sparkdeps.requirement_lines(<run>) to DatabricksEnv().withDependencies(...)"
    )


def require_channel() -> NotebookPip:
    """The notebook's ``%pip`` (or the stand-in set for tests), else a DeliveryError."""
    channel = notebook_pip()
    if channel is None:
        raise DeliveryError(
            "delivery='environment' needs a Databricks notebook (its %pip is what Databricks "
            "syncs to the Python workers of UDFs), and this is not one. Nothing was installed.",
            fix=configure_hint(),
        )
    return channel


def _published_wheels(zip_path: Path | None, manifest: Manifest) -> Path | None:
    """The run's pip-native ``wheels/`` beside the zip, when it holds every wheel."""
    if zip_path is None:
        return None
    folder = zip_path.parent / PIP_WHEELS
    if all((folder / wheel.filename).is_file() for wheel in manifest.wheels):
        return folder.absolute()
    return None


def _copied_wheels(zip_path: Path, manifest: Manifest, out: Path) -> Path:
    """The wheels copied out of the checked zip into ``out/wheels`` (once per digest)."""
    folder = out / PIP_WHEELS
    if folder.is_dir():
        return folder
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{PIP_WHEELS}.{uuid.uuid4().hex}.partial"
    partial.mkdir()
    try:
        for wheel in manifest.wheels:
            with (
                open_stored_wheel(zip_path, wheel.filename) as source,
                (partial / wheel.filename).open("wb") as target,
            ):
                shutil.copyfileobj(source, target, CHUNK)
        partial.rename(folder)  # the folder exists only when complete
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


def requirements_file(
    install_folder: Path,
    digest: str,
    payload_dir: Path,
    *,
    zip_path: Path,
    published: Path | None,
) -> Path:
    """``<payload_dir>/<digest>.pip/requirements.txt``: one hashed line per wheel.

    ``install_folder`` holds the manifest ``load`` checked (its copy); ``zip_path``
    is the checked wheelhouse, readable now; ``published`` its own path, whose run
    folder may hold the pip-native form.
    """
    manifest_path = install_folder / MANIFEST_NAME
    manifest = Manifest.from_json(manifest_path.read_bytes(), origin=str(manifest_path))
    out = payload_dir / f"{digest}.pip"
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(payload_dir / f".{digest}.pip.lock"):
        folder = _published_wheels(published, manifest)
        if folder is None:
            folder = _copied_wheels(zip_path, manifest, out)
        requirements = out / REQUIREMENTS_NAME
        text = requirements_text(
            manifest.wheels, pip_path(str(folder)), comment=f"sparkdeps wheelhouse {digest}"
        )
        partial = out / f".{REQUIREMENTS_NAME}.{uuid.uuid4().hex}"
        partial.write_text(text, "utf-8")
        os.replace(partial, requirements)
    return requirements


def install_environment(channel: NotebookPip, requirements: Path) -> float:
    """``%pip install -r requirements`` through ``channel``: seconds taken."""
    timer = Timer()
    try:
        channel.pip(f"install -r {requirements}")
    except SparkdepsError as exc:
        raise DeliveryError(
            f"installing {requirements} through {channel.where} failed: {exc}"
        ) from exc
    except Exception as exc:  # the notebook's magic raises what it likes
        raise DeliveryError(
            f"installing {requirements} through {channel.where} failed: {type(exc).__name__}: {exc}"
        ) from exc
    logger.info("installed %s through %s in %.2fs", requirements, channel.where, timer.seconds)
    return timer.seconds
