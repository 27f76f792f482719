"""The real wheels of sparkdeps' runtime dependencies, at the versions each runtime ships.

``pip install sparkdeps`` on a cluster must change nothing the runtime has (issue 17):
every dependency of the plain install must be met by the versions every profile
already ships. The tests prove it with real pip and uv against real wheels of those
exact versions (``packaging`` 21.3 on DBR 13.3 ... 24.2 on DBR 17.3, and what they
need themselves, ``pyparsing`` for packaging 21.3), served on 127.0.0.1.

Those wheels are not built by the tests: a stand-in carrying copied metadata would
only test the copy. ``scripts/fetch_floor_wheels.py`` downloads them once into
``FLOOR_WHEELS`` (the set-up step of README's test command, like ``pip install``);
the tests themselves never leave 127.0.0.1.
"""

from __future__ import annotations

import importlib.metadata
import zipfile
from collections.abc import Iterable
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from sparkdeps._core.runtimes import runtime_packages, runtime_profile_names
from sparkdeps._core.target import PROFILES

REPO = Path(__file__).resolve().parents[2]
FLOOR_WHEELS = REPO / ".cache" / "floor-wheels"
FETCH_COMMAND = ".venv/bin/python scripts/fetch_floor_wheels.py"


def runtime_requirements(
    requires: Iterable[str] | None = None,
) -> list[Requirement]:
    """What ``pip install sparkdeps`` (no extras) asks for: the installed metadata by default."""
    texts = requires if requires is not None else importlib.metadata.requires("sparkdeps") or []
    found = [Requirement(text) for text in texts]
    return [req for req in found if req.marker is None or "extra" not in str(req.marker)]


def profile_environment(profile: str) -> dict[str, str]:
    """The PEP 508 environment of a profile's cluster Python (markers of dependencies)."""
    return {**PROFILES[profile].markers(), "extra": ""}


def wheel_for(folder: Path, name: str, version: str) -> Path | None:
    """The wheel of ``name==version`` in ``folder``, if any."""
    if not folder.is_dir():
        return None
    wanted = canonicalize_name(name)
    for path in sorted(folder.glob("*.whl")):
        dist, found, _build, _tags = parse_wheel_filename(path.name)
        if dist == wanted and str(found) == version:
            return path
    return None


def wheel_requires(wheel: Path) -> list[Requirement]:
    """``Requires-Dist`` of a wheel, read from its METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]


def closure(
    profile: str, folder: Path, requirements: list[Requirement]
) -> tuple[dict[str, str], list[str]]:
    """The pins (name -> the profile's version) sparkdeps' plain install reaches on ``profile``.

    Walks ``Requires-Dist`` of the wheels found in ``folder``. Returns the pins and the
    problems: a dependency the profile does not ship, a version outside the specifier,
    or a wheel not downloaded yet (``name==version``, for the fetch script).
    """
    shipped = runtime_packages(profile)
    environment = profile_environment(profile)
    pins: dict[str, str] = {}
    problems: list[str] = []
    queue = list(requirements)
    while queue:
        req = queue.pop(0)
        if req.marker is not None and not req.marker.evaluate(environment):
            continue
        name = canonicalize_name(req.name)
        version = shipped.version_of(name)
        if version is None:
            problems.append(f"{profile} does not ship {name} (needed: {req})")
            continue
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{profile} ships {name}=={version}, outside {req}")
            continue
        if name in pins:
            continue
        pins[name] = version
        wheel = wheel_for(folder, name, version)
        if wheel is None:
            problems.append(f"missing wheel {name}=={version}")
            continue
        queue.extend(wheel_requires(wheel))
    return pins, problems


def every_profile() -> tuple[str, ...]:
    """Every profile that ships a package set (14: DBR LTS, their ML variants, serverless)."""
    return runtime_profile_names()
