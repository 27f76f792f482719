"""What a wheelhouse holds, in standard formats: ``pylock.toml`` (PEP 751) and requirements.

Every ``wheelhouse.zip`` carries a ``pylock.toml`` beside ``manifest.json``, written
from the manifest alone, so the same manifest always gives the same bytes. Its wheel
entries point at ``wheels/<file>`` relative to the lock, so after unzipping,
``pip install -r pylock.toml`` (pip 26.1+) or ``uv pip install -r pylock.toml`` installs
exactly the manifest's set, hashes checked (docs/facts.md, fact 15). The lock covers
one environment: the wheelhouse's target.

The file is validated with ``packaging.pylock`` (packaging 26.1+, a build-half
dependency); the runtime half only ever reads the file back as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from packaging.markers import Marker
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from .._core.errors import IntegrityError, SparkdepsError
from .._core.manifest import Manifest, WheelInfo
from .._core.target import Target
from .tomlread import load_toml

__all__ = [
    "checked_export",
    "conditions",
    "pylock_text",
    "requirements_text",
    "validate_pylock",
]

_LOCK_VERSION = "1.0"


def _toml_string(text: str) -> str:
    # a JSON string (ASCII, standard escapes) is a valid TOML basic string
    return json.dumps(text, ensure_ascii=True)


def _environment(target: Target) -> str:
    return (
        f'implementation_name == "cpython" and python_version == "{target.python_version}" '
        f'and sys_platform == "linux" and platform_machine == "{target.arch}"'
    )


def _edge_marker(marker: Marker | None) -> str | None:
    """The edge's condition, or None when it always holds for the chosen set.

    Markers about extras were settled when the set was chosen: the edge counts as taken.
    """
    if marker is None or "extra" in str(marker):
        return None
    return str(marker)


def conditions(wheels: Sequence[WheelInfo], target: Target) -> dict[NormalizedName, str | None]:
    """For each wheel, the marker under which it is needed (None: always).

    A wheel nothing else in the set requires is a root and always needed. Others are
    conditional only when every edge into them is: ``sdtest-oldpy`` pulled in by
    ``python_version < "3.11"`` keeps that marker.
    """
    env = target.markers()
    names = {wheel.name for wheel in wheels}
    parents: dict[NormalizedName, list[tuple[NormalizedName, str | None]]] = {n: [] for n in names}
    for wheel in wheels:
        for requirement in wheel.requirements():
            child = canonicalize_name(requirement.name)
            marker = requirement.marker
            if child not in names or child == wheel.name:
                continue
            taken = marker is None or marker.evaluate({**env, "extra": ""})
            if not taken and "extra" not in str(marker):
                continue  # an edge not taken on the target
            parents[child].append((wheel.name, _edge_marker(marker)))
    result: dict[NormalizedName, str | None] = {}
    pending = sorted(names)
    while pending:
        progressed = False
        for name in list(pending):
            edges = parents[name]
            if any(parent in pending and parent != name for parent, _ in edges):
                continue
            result[name] = _combine(edges, result)
            pending.remove(name)
            progressed = True
        if not progressed:  # a dependency cycle: whatever is left is needed always
            result.update(dict.fromkeys(pending))
            pending = []
    return result


def _combine(
    edges: Sequence[tuple[NormalizedName, str | None]], known: Mapping[NormalizedName, str | None]
) -> str | None:
    if not edges:
        return None
    parts: list[str] = []
    for parent, marker in edges:
        inherited = known.get(parent)
        if marker is None and inherited is None:
            return None
        both = [m for m in (inherited, marker) if m is not None]
        parts.append(" and ".join(f"({m})" for m in both) if len(both) > 1 else both[0])
    unique = sorted(set(parts))
    return str(Marker(" or ".join(f"({p})" for p in unique) if len(unique) > 1 else unique[0]))


def pylock_text(manifest: Manifest) -> str:
    """The wheelhouse's ``pylock.toml``: deterministic, one ``[[packages]]`` per wheel."""
    target = Target.from_dict(manifest.target)
    wheels = sorted(manifest.wheels, key=lambda w: (w.name, w.filename))
    markers = conditions(wheels, target)
    lines = [
        f"lock-version = {_toml_string(_LOCK_VERSION)}",
        f"environments = [{_toml_string(_environment(target))}]",
        f"requires-python = {_toml_string(f'=={target.python_version}.*')}",
        "extras = []",
        "dependency-groups = []",
        "default-groups = []",
        f"created-by = {_toml_string('sparkdeps')}",
    ]
    if not wheels:  # PEP 751 requires the key: an empty wheelhouse locks nothing
        lines.append("packages = []")
    for wheel in wheels:
        lines += ["", "[[packages]]", f"name = {_toml_string(wheel.name)}"]
        lines.append(f"version = {_toml_string(wheel.version)}")
        if markers.get(wheel.name):
            lines.append(f"marker = {_toml_string(str(markers[wheel.name]))}")
        lines.append(
            "wheels = [{ "
            f"name = {_toml_string(wheel.filename)}, "
            f"path = {_toml_string('wheels/' + wheel.filename)}, "
            f"size = {wheel.size}, "
            f"hashes = {{ sha256 = {_toml_string(wheel.sha256)} }} }}]"
        )
    text = "\n".join(lines) + "\n"
    validate_pylock(text, origin="the generated pylock.toml")
    return text


def validate_pylock(text: str, *, origin: str) -> None:
    """Parse ``text`` as PEP 751 with ``packaging.pylock``; IntegrityError when it is not."""
    from packaging.pylock import Pylock, PylockValidationError  # noqa: PLC0415

    try:
        Pylock.from_dict(load_toml(text)).validate()
    except (PylockValidationError, ValueError) as exc:
        raise IntegrityError(f"{origin} is not a valid PEP 751 lock: {exc}") from exc


def requirements_text(manifest: Manifest) -> str:
    """``name==version ; marker --hash=sha256:...`` per wheel: pip's hash-checking mode."""
    target = Target.from_dict(manifest.target)
    wheels = sorted(manifest.wheels, key=lambda w: (w.name, w.filename))
    markers = conditions(wheels, target)
    lines = [f"# sparkdeps wheelhouse for {target.description}"]
    for wheel in wheels:
        marker = markers.get(wheel.name)
        suffix = f" ; {marker}" if marker else ""
        lines.append(f"{wheel.name}=={wheel.version}{suffix} \\\n    --hash=sha256:{wheel.sha256}")
    return "\n".join(lines) + "\n"


# What `export` prints from a wheelhouse: never a manifest field unchecked (a version
# holding a newline would be a pip option in a requirements file; docs/locks-and-export.md).

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a canonical distribution name
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REBUILD = "it was changed after it was built: rebuild the wheelhouse with `sparkdeps build`"


def _check_wheel(wheel: WheelInfo, inside: tuple[str, int] | None, origin: str) -> None:
    """Name, version and hash as packaging and the bytes inside the zip say; else refuse."""
    where = f"{origin}!manifest.json"
    try:
        name, version, _build, _tags = parse_wheel_filename(wheel.filename)
    except InvalidWheelFilename as exc:
        raise IntegrityError(
            f"{where}: {wheel.filename!r} is not a wheel file name ({exc}); {_REBUILD}"
        ) from exc
    if not _NAME.fullmatch(wheel.name) or wheel.name != name:
        raise IntegrityError(
            f"{where}: the name {wheel.name!r} is not the name of {wheel.filename} ({name}); "
            f"{_REBUILD}"
        )
    try:
        same = str(Version(wheel.version)) == wheel.version and Version(wheel.version) == version
    except ValueError:  # InvalidVersion, or more digits than int() takes
        same = False
    if not same:
        raise IntegrityError(
            f"{where}: the version {wheel.version!r} of {wheel.name} is not the version of "
            f"{wheel.filename} ({version}); {_REBUILD}"
        )
    if (
        inside is None
        or not _SHA256.fullmatch(wheel.sha256)
        or inside
        != (
            wheel.sha256,
            wheel.size,
        )
    ):
        found = f"sha256 {inside[0][:16]}..., {inside[1]} bytes" if inside else "nothing"
        raise IntegrityError(
            f"{where}: {wheel.filename} does not match the bytes inside (the manifest says "
            f"sha256 {wheel.sha256[:16]!r}..., {wheel.size} bytes; the zip holds {found}); "
            f"{_REBUILD}"
        )


def _checked_target(manifest: Manifest, origin: str) -> Target:
    try:
        target = Target.from_dict(manifest.target)
    except (KeyError, TypeError, ValueError, SparkdepsError) as exc:
        raise IntegrityError(
            f"{origin}!manifest.json: the target is malformed ({exc}); {_REBUILD}"
        ) from exc
    if target.profile is not None and not _PROFILE.fullmatch(str(target.profile)):
        raise IntegrityError(
            f"{origin}!manifest.json: the profile {target.profile!r} is not a profile name; "
            f"{_REBUILD}"
        )
    return target


def _check_markers(manifest: Manifest, target: Target, origin: str) -> None:
    try:
        markers = conditions(manifest.wheels, target)
    except ValueError as exc:  # packaging's InvalidRequirement and InvalidMarker are ValueErrors
        raise IntegrityError(
            f"{origin}!manifest.json: a requirement is malformed ({exc}); {_REBUILD}"
        ) from exc
    for name, marker in markers.items():
        if marker is not None and not marker.isprintable():
            raise IntegrityError(
                f"{origin}!manifest.json: the marker of {name} holds control characters "
                f"({marker!r}); {_REBUILD}"
            )


def checked_export(
    manifest: Manifest,
    inside: Mapping[str, tuple[str, int]],
    stored_pylock: str | None,
    *,
    origin: str,
    output: Literal["requirements", "pylock"],
) -> str:
    """The wheelhouse's pins as ``output``, once every manifest field was checked.

    ``inside`` is each wheel's (sha256, size) as read from the zip; ``stored_pylock`` is
    the zip's own ``pylock.toml``, printed only when it is exactly what the (checked)
    manifest gives (None: an older wheelhouse without one, written from the manifest).
    """
    for wheel in manifest.wheels:
        _check_wheel(wheel, inside.get(wheel.filename), origin)
    target = _checked_target(manifest, origin)
    _check_markers(manifest, target, origin)
    if output == "requirements":
        return requirements_text(manifest)
    expected = pylock_text(manifest)
    if stored_pylock is not None and stored_pylock != expected:
        line = next(
            (
                f"line {number}: {theirs!r}"
                for number, (theirs, ours) in enumerate(
                    zip(stored_pylock.splitlines(), expected.splitlines(), strict=False), 1
                )
                if theirs != ours
            ),
            "its length differs",
        )
        raise IntegrityError(
            f"{origin}!pylock.toml does not match the wheelhouse's manifest ({line[:200]}); "
            f"{_REBUILD}"
        )
    return expected
