"""Making wheels: projects through ``python -m build``, loose modules into one
generated pure wheel, and sdist-only dependencies through ``pip wheel``.

Project builds run with ``SOURCE_DATE_EPOCH`` so their wheels are
reproducible; the generated wheel is written deterministically (sorted
entries, fixed timestamps, RECORD with sha256) and versioned by its content.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import logging
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.metadata import Metadata, RFC822Message
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from wheel.wheelfile import WheelFile

from .._core.errors import BuildCommandError, BuildError, InputError, IntegrityError
from .._core.manifest import inspect_wheel
from .._core.progress import plural
from .._core.runner import clean_env, pip_command, run
from .._core.target import Target
from .._core.wheelhouse import zip_entry
from .._core.wheellisting import check_listing
from .index import IndexSettings
from .resolve import Pin
from .scm import check_vcs_version

__all__ = [
    "SOURCE_DATE_EPOCH",
    "build_project",
    "build_sdist_pin",
    "check_record",
    "make_pure_wheel",
]

logger = logging.getLogger(__name__)

SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip can hold
_SKIP_SUFFIXES = (".pyc", ".pyo")


def build_project(
    project: Path,
    out_dir: Path,
    *,
    index: IndexSettings,
    isolation: bool = True,
    origin: str | None = None,
) -> Path:
    """Build ``project`` into a wheel in ``out_dir`` (any PEP 517 backend)."""
    origin = origin or project.name
    check_vcs_version(project, origin)  # before a build that would fail far from the cause
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())
    if not (project / "pyproject.toml").is_file() and not (project / "setup.py").is_file():
        # setup.cfg alone: setuptools reads it, but build front-ends want a setup.py to call
        (project / "setup.py").write_text("from setuptools import setup\n\nsetup()\n", "utf-8")
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir)]
    if not isolation:
        command.append("--no-isolation")
    command.append(str(project))
    env = clean_env({"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **index.pip_env()})
    fix = (
        f"make the project {origin} build with `python -m build --wheel`; its build "
        "requirements must be on the index"
        + ("" if isolation else " (without isolation they must be installed here)")
        + ", or pass build_isolation=False / --no-build-isolation to use installed ones"
    )
    run(
        command,
        what=f"building project {origin}",
        cwd=project,
        env=env,
        error=BuildCommandError,
        fix=fix,
    )
    made = [p for p in out_dir.iterdir() if p not in before and p.suffix == ".whl"]
    if len(made) != 1:
        raise BuildError(f"building project {origin} produced {len(made)} wheels, expected one")
    logger.info("built %s from project %s", made[0].name, origin)
    return made[0]


_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_MAX_RECORD = 64 << 20
_CHUNK = 1 << 20
_DISTRIBUTION = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
"""A distribution name (PEP 508): it also becomes a file name, so nothing else may pass."""


def check_record(path: Path, origin: str | None = None) -> None:
    """Every file of the wheel is listed in its RECORD with the right hash, and vice versa.

    A wheel handed in by the user is checked before it enters a wheelhouse: a file
    changed or slipped in after the wheel was built (a ``sitecustomize.py``, say)
    would otherwise be installed on every node.

    Not installer's ``WheelFile.validate_record``: it accepts any hash algorithm,
    does not report RECORD lines for files the wheel lacks, and would be a new
    dependency; this check names the file and the fix for each case.
    """
    origin = origin or path.name
    fix = _RECORD_FIX
    try:
        with zipfile.ZipFile(path) as archive:
            # the zip-bomb limits apply to wheels too, before a byte is inflated
            check_listing(archive.infolist(), path.stat().st_size, origin, fix)
            files = [info for info in archive.infolist() if not info.is_dir()]
            record, listed = _read_record(archive, files, origin)
            for info in files:
                if info.filename != record and not info.filename.endswith(_SIGNATURES):
                    _check_member(archive, info, listed, origin)
            present = {info.filename for info in files}
            missing = sorted(name for name in listed if name not in present)
            if missing:
                raise IntegrityError(
                    f"{origin}: RECORD lists files the wheel does not hold ({', '.join(missing)})",
                    fix=fix,
                )
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise IntegrityError(
            f"{origin}: cannot read the wheel or its RECORD ({exc})",
            fix=fix,
        ) from exc


_RECORD_FIX = "rebuild the wheel (or download it again) rather than editing it"


def _read_record(
    archive: zipfile.ZipFile, files: Sequence[zipfile.ZipInfo], origin: str
) -> tuple[str, dict[str, str]]:
    """The wheel's one RECORD (its name) and what it lists: file name -> ``algo=digest``."""
    records = [i for i in files if i.filename.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise IntegrityError(
            f"{origin}: has {len(records)} RECORD files, expected one",
            fix=_RECORD_FIX,
        )
    if records[0].file_size > _MAX_RECORD:
        raise IntegrityError(
            f"{origin}: its RECORD is {records[0].file_size} bytes, more than {_MAX_RECORD}",
            fix=_RECORD_FIX,
        )
    listed: dict[str, str] = {}
    text = archive.read(records[0]).decode("utf-8")
    for row in csv.reader(io.StringIO(text)):
        if row:
            listed[row[0]] = row[1] if len(row) > 1 else ""
    return records[0].filename, listed


def _check_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, listed: Mapping[str, str], origin: str
) -> None:
    """One file of the wheel is in RECORD, with a sha2 hash that matches its bytes."""
    name, fix = info.filename, _RECORD_FIX
    if name not in listed:
        raise IntegrityError(
            f"{origin}: {name} is in the wheel but not in its RECORD (added after the "
            f"wheel was built?)",
            fix=fix,
        )
    algorithm, _, expected = listed[name].partition("=")
    if algorithm not in ("sha256", "sha384", "sha512") or not expected:
        raise IntegrityError(
            f"{origin}: RECORD gives {name} no sha256 hash ({listed[name]!r})",
            fix=fix,
        )
    digest = _stream_hash(archive, info, algorithm)
    actual = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if actual != expected:
        raise IntegrityError(
            f"{origin}: {name} does not match the hash in its RECORD (changed after "
            f"the wheel was built?)",
            fix=fix,
        )


def _stream_hash(archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithm: str) -> bytes:
    """The member's hash, read in chunks: a big member never sits in memory whole."""
    digest = hashlib.new(algorithm)
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _module_files(root: Path, modules: Sequence[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for module in modules:
        path = root / module
        if path.is_file():
            files[path.name] = path.read_bytes()
            continue
        for item in sorted(path.rglob("*")):
            if not item.is_file() or item.suffix in _SKIP_SUFFIXES or "__pycache__" in item.parts:
                continue
            arcname = Path(path.name, item.relative_to(path)).as_posix()
            files[arcname] = item.read_bytes()
    return files


class _FixedDateWheelFile(WheelFile):  # type: ignore[misc]  # wheel ships no type hints
    """wheel's WheelFile (it writes RECORD on close), with the fixed date on every entry:
    RECORD included, which WheelFile would otherwise date now."""

    def writestr(self, entry: str | zipfile.ZipInfo, data: bytes | str, *args: object) -> None:
        if isinstance(entry, str):
            entry = zip_entry(entry, zipfile.ZIP_DEFLATED)
        super().writestr(entry, data, *args)


_PURE_TAG = Tag("py3", "none", "any")


def make_pure_wheel(root: Path, modules: Sequence[str], name: str, out_dir: Path) -> Path:
    """One ``py3-none-any`` wheel holding ``modules`` (paths relative to ``root``).

    Version ``0.0.0+<12 hex of the content digest>``: a changed file gives a new version.
    The same files give the same bytes: sorted entries, fixed dates, RECORD last.
    """
    if not _DISTRIBUTION.fullmatch(name):
        raise InputError(
            f"{name!r} is not a usable distribution name; pass name= (--name) with letters, "
            "digits, '.', '_' and '-' only, starting and ending with a letter or digit"
        )
    distribution = canonicalize_name(name)
    files = _module_files(root, modules)
    content = hashlib.sha256()
    for arcname, data in sorted(files.items()):
        content.update(arcname.encode() + b"\0" + hashlib.sha256(data).digest())
    version = f"0.0.0+{content.hexdigest()[:12]}"
    stem = f"{distribution.replace('-', '_')}-{version}"
    metadata = Metadata.from_raw(
        {
            "metadata_version": "2.1",
            "name": distribution,
            "version": version,
            "summary": "Modules packaged by sparkdeps",
        }
    )
    files[f"{stem}.dist-info/METADATA"] = metadata.as_rfc822().as_bytes()
    files[f"{stem}.dist-info/WHEEL"] = _wheel_file(_PURE_TAG)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}-{_PURE_TAG}.whl"
    with _FixedDateWheelFile(path, "w") as wheel:
        for arcname in sorted(files):  # RECORD is written last, on close
            wheel.writestr(arcname, files[arcname])
    logger.info("generated %s from %s", path.name, plural(len(modules), "module"))
    return path


def _wheel_file(tag: Tag) -> bytes:
    """The ``.dist-info/WHEEL`` of a pure wheel (the wheel spec's key: value format)."""
    message = RFC822Message()
    message["Wheel-Version"] = "1.0"
    message["Generator"] = "sparkdeps"
    message["Root-Is-Purelib"] = "true"
    message["Tag"] = str(tag)
    return message.as_bytes()


def build_sdist_pin(pin: Pin, target: Target, index: IndexSettings, out_dir: Path) -> Path:
    """Build an sdist-only dependency; keep it only when the wheel is pure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / f".sdist-{pin.name}"
    scratch.mkdir()
    ways_out = (
        f"pin a version of {pin.name} that has a wheel for {target.description}, "
        "provide a prebuilt wheel with find_links= / --find-links, or build on a machine "
        "matching the target"
    )
    command = [*pip_command(), "wheel", "--no-deps", "--no-cache-dir", "--no-binary", str(pin.name)]
    command += ["--wheel-dir", str(scratch), "--progress-bar", "off", *index.args(), pin.spec]
    env = clean_env({"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **index.pip_env()})
    try:
        run(
            command,
            what=f"building {pin.spec} from its sdist",
            env=env,
            error=BuildCommandError,
            fix=ways_out,
        )
        made = sorted(scratch.glob("*.whl"))
        if len(made) != 1:
            raise BuildError(f"building {pin.spec} from its sdist gave no wheel", fix=ways_out)
        info = inspect_wheel(made[0], source="sdist")
        # a compiled wheel is only right when built on the target itself (a native target)
        if not info.is_pure and not (target.native and target.accepts(info.tag_set)):
            raise BuildError(
                f"{pin.name} {pin.version} is published only as an sdist and needs compiling "
                f"(it built {made[0].name}), which cannot be done here for "
                f"{target.description}",
                fix=ways_out,
            )
        final = out_dir / made[0].name
        os.replace(made[0], final)
        logger.info("built pure wheel %s from the sdist of %s", final.name, pin.spec)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
