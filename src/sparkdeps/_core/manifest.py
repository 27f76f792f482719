"""Wheel facts and the wheelhouse manifest.

A :class:`WheelInfo` is what sparkdeps knows about one wheel (name, version,
tags, hash, top-level import names, requirements); a :class:`Manifest` is the
list of them plus the format, the target and the input digest. The manifest is
serialised deterministically so the same wheelhouse gives the same bytes.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .._version import __version__
from .errors import IntegrityError
from .hashing import sha256_file
from .plain import fields_dict

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "Bytecode",
    "Format",
    "Manifest",
    "WheelInfo",
    "inspect_wheel",
    "same_version",
    "sha256_file",
]

Format = Literal["requirements", "pure_python", "packaged", "existing_wheels", "mixed", "nested"]
FORMATS: tuple[Format, ...] = (
    "requirements",
    "pure_python",
    "packaged",
    "existing_wheels",
    "mixed",
    "nested",
)
MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class WheelInfo:
    """One wheel in a wheelhouse."""

    filename: str
    """Its file name, also its name under ``wheels/`` in the wheelhouse."""
    name: NormalizedName
    """The distribution name, canonical (``python-dateutil``)."""
    version: str
    sha256: str
    """Of the wheel file: checked on every node before anything is installed."""
    size: int
    tags: tuple[str, ...]
    top_level: tuple[str, ...]
    requires: tuple[str, ...] = ()
    source: str = ""
    """Where it came from: ``index``, ``built``, ``generated``, ``provided``, ``sdist``."""
    runtime: Literal["new", "shadows"] | None = None
    """For a target with a package set: ``new`` to the runtime, or ``shadows`` its copy."""
    shadows: str | None = None
    """The runtime's version this wheel takes the place of (``runtime == "shadows"``)."""

    @property
    def tag_set(self) -> frozenset[Tag]:
        return frozenset(Tag(*tag.split("-")) for tag in self.tags)

    @property
    def is_pure(self) -> bool:
        return all(tag.split("-")[2] == "any" for tag in self.tags)

    def requirements(self) -> list[Requirement]:
        return [Requirement(text) for text in self.requires]

    def to_dict(self) -> dict[str, Any]:
        # runtime and shadows only for runtime-aware builds: other manifests keep their bytes
        return fields_dict(self, optional=("runtime", "shadows"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WheelInfo:
        runtime = data.get("runtime")
        return cls(
            filename=str(data["filename"]),
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            tags=tuple(str(tag) for tag in data["tags"]),
            top_level=tuple(str(name) for name in data.get("top_level", ())),
            requires=tuple(str(req) for req in data.get("requires", ())),
            source=str(data.get("source", "")),
            runtime=runtime if runtime in ("new", "shadows") else None,
            shadows=str(data["shadows"]) if data.get("shadows") is not None else None,
        )


@dataclass(frozen=True)
class Bytecode:
    """The wheelhouse's bytecode for one interpreter: ``bytecode/<cache_tag>.zip``.

    Compiled at build time by an interpreter of the target's Python (docs/delivery.md,
    "Bytecode"): one unchecked-hash ``.pyc`` (PEP 552) per module, named
    ``<wheel filename>/<wheel member>``. A node whose interpreter has another magic
    number ignores it and compiles at import, as without it.
    """

    cache_tag: str
    """``sys.implementation.cache_tag`` of the interpreter that compiled it (``cpython-311``)."""
    magic: str
    """Its ``importlib.util.MAGIC_NUMBER``, in hex: the ``.pyc`` format it wrote."""
    sha256: str
    size: int
    modules: int

    @property
    def member(self) -> str:
        """Its name inside the wheelhouse zip (and in the folder Spark unpacks it into)."""
        return f"bytecode/{self.cache_tag}.zip"

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bytecode:
        tag, magic = str(data["cache_tag"]), str(data["magic"])
        # the tag names a file on every node: nothing but a plain name
        if not re.fullmatch(r"[a-z]+-[0-9]+", tag) or not re.fullmatch(r"[0-9a-f]{8}", magic):
            raise ValueError(f"bytecode {tag!r}/{magic!r} is not a cache tag and magic number")
        return cls(tag, magic, str(data["sha256"]), int(data["size"]), int(data["modules"]))


@dataclass(frozen=True)
class Manifest:
    """What a wheelhouse holds and what it was built for."""

    format: Format
    target: Mapping[str, Any]
    wheels: tuple[WheelInfo, ...]
    input_digest: str
    sparkdeps_version: str = __version__
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """What was found in the input (kinds and relative paths), for reports."""
    schema: int = SCHEMA_VERSION
    runtime: Mapping[str, Any] | None = None
    """For a target with a package set: its name and digest, the runtime packages the
    wheelhouse relies on, the ones it shadows, and the user's overrides (docs/runtime-aware.md).
    None for targets without a set, and in manifests written before sparkdeps knew runtimes."""
    bytecode: Bytecode | None = None
    """Modules compiled for the target's interpreter; None when the build had none."""

    @property
    def top_level(self) -> tuple[str, ...]:
        names = {name for wheel in self.wheels for name in wheel.top_level}
        return tuple(sorted(names))

    def shadowed(self) -> dict[str, tuple[str, str]]:
        """Shipped package -> (the runtime's version it takes the place of, its own)."""
        return {str(w.name): (w.shadows, w.version) for w in self.wheels if w.shadows}

    def to_dict(self) -> dict[str, Any]:
        wheels = sorted(self.wheels, key=lambda wheel: wheel.filename)
        return {
            **fields_dict(self, optional=("runtime", "bytecode")),
            "wheels": [wheel.to_dict() for wheel in wheels],
            **({"bytecode": self.bytecode.to_dict()} if self.bytecode is not None else {}),
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, *, origin: str = "manifest.json") -> Manifest:
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict):
                raise TypeError("the manifest is not a JSON object")
            schema = raw.get("schema")
            # exactly the integer: true, 1.9 and "01" are not schema 1
            if type(schema) is not int or schema != SCHEMA_VERSION:
                raise ValueError(
                    f"schema {schema!r} is not supported by sparkdeps {__version__} "
                    f"(expects {SCHEMA_VERSION})"
                )
            fmt = raw["format"]
            if fmt not in FORMATS:
                raise ValueError(f"unknown format {fmt!r}")
            wheels = tuple(WheelInfo.from_dict(item) for item in raw["wheels"])
            names = [wheel.filename for wheel in wheels]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"wheels listed twice: {', '.join(twice)}")
            return cls(
                format=fmt,
                target=dict(raw["target"]),
                wheels=wheels,
                input_digest=str(raw["input_digest"]),
                sparkdeps_version=str(raw.get("sparkdeps_version", "")),
                inputs=dict(raw.get("inputs", {})),
                schema=schema,
                runtime=dict(raw["runtime"]) if isinstance(raw.get("runtime"), dict) else None,
                bytecode=Bytecode.from_dict(raw["bytecode"]) if raw.get("bytecode") else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # any shape but ours
            raise IntegrityError(
                f"{origin} is malformed ({exc})",
                fix="rebuild the wheelhouse with `sparkdeps build`",
            ) from exc


def _read_metadata(archive: zipfile.ZipFile, dist_info: str) -> str:
    """METADATA's text; WHEEL must exist too (a wheel without it is not a wheel)."""
    names = set(archive.namelist())
    for required in ("METADATA", "WHEEL"):
        if f"{dist_info}/{required}" not in names:
            raise IntegrityError(f"missing {dist_info}/{required}")
    return archive.read(f"{dist_info}/METADATA").decode("utf-8")


def top_level_names(members: Iterable[str]) -> tuple[str, ...]:
    """Importable top-level names from a wheel's (or a folder's) file list."""
    names: set[str] = set()
    for member in members:
        parts = member.split("/")
        if parts[0].endswith(".dist-info"):
            continue
        if parts[0].endswith(".data"):
            if len(parts) < 3 or parts[1] not in {"purelib", "platlib"}:
                continue
            parts = parts[2:]
        head = parts[0]
        if len(parts) > 1:
            code = any(part.endswith((".py", ".so", ".pyd", ".pyc")) for part in parts[1:])
            if code and head.isidentifier() and head != "__pycache__":
                names.add(head)
        elif head.endswith(".py"):
            stem = head[: -len(".py")]
            if stem.isidentifier():
                names.add(stem)
        elif head.endswith((".so", ".pyd")):
            stem = head.split(".", 1)[0]
            if stem.isidentifier():
                names.add(stem)
    return tuple(sorted(names))


def inspect_wheel(path: Path, *, source: str = "") -> WheelInfo:
    """Read a wheel's name, version, tags, requirements and top-level names."""
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise IntegrityError(f"{path.name} is not a valid wheel file name: {exc}") from exc
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            dist_infos = {
                m.split("/")[0] for m in members if m.split("/")[0].endswith(".dist-info")
            }
            if len(dist_infos) != 1:
                raise IntegrityError(
                    f"{path.name} has {len(dist_infos)} .dist-info folders, expected exactly one"
                )
            (dist_info,) = dist_infos
            metadata_text = _read_metadata(archive, dist_info)
    except zipfile.BadZipFile as exc:
        raise IntegrityError(
            f"{path.name} is not a valid zip archive ({exc})",
            fix="rebuild or re-download the wheel",
        ) from exc
    raw_name, meta_version, requires_dist = _parse_metadata(metadata_text)
    meta_name = canonicalize_name(raw_name)
    if meta_name != name or not same_version(meta_version, str(version)):
        raise IntegrityError(
            f"{path.name}: the file name says {name} {version} but its METADATA says "
            f"{meta_name} {meta_version}; the wheel was renamed or is corrupt: use it under its "
            "original name, or rebuild it"
        )
    requires: list[str] = []
    for text in requires_dist:
        try:
            requires.append(str(Requirement(text)))
        except InvalidRequirement as exc:
            raise IntegrityError(f"{path.name}: invalid Requires-Dist {text!r}: {exc}") from exc
    return WheelInfo(
        filename=path.name,
        name=name,
        version=str(version),
        sha256=sha256_file(path),
        size=path.stat().st_size,
        tags=tuple(sorted(str(tag) for tag in tags)),
        top_level=top_level_names(members),
        requires=tuple(requires),
        source=source,
    )


def _parse_metadata(text: str) -> tuple[str, str, list[str]]:
    """Name, Version and Requires-Dist of a METADATA file.

    Only the build half inspects wheels. It parses with ``packaging.metadata``
    (packaging >= 23.1), as pip does; the email parser is the fallback for an
    older packaging (the runtime half allows 21.3) and stays out of a warm load.
    """
    try:
        from packaging.metadata import parse_email  # noqa: PLC0415
    except ImportError:  # packaging < 23.1
        from email.parser import HeaderParser  # noqa: PLC0415

        message = HeaderParser().parsestr(text)
        requires = message.get_all("Requires-Dist") or []
        return message.get("Name", ""), message.get("Version", ""), [str(r) for r in requires]
    raw, _unparsed = parse_email(text)
    return raw.get("name", ""), raw.get("version", ""), list(raw.get("requires_dist", []))


def same_version(left: str, right: str) -> bool:
    """PEP 440 equality (``1.0`` == ``1.0.0``), falling back to text for odd versions."""
    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right
