"""Reading lock files: what each one pins for the target.

Four formats, one result (:class:`LockSelection`): the packages the lock gives for the
target's markers, each with its exact version, its hashes and, where the lock names
them, its wheel files.

- ``pylock.toml`` / ``pylock.<name>.toml`` (PEP 751): ``packaging.pylock`` validates
  and selects for the target's environment and tags.
- ``uv.lock``: ``uv export`` writes the pins for the project (no dev group, no project
  itself); the markers it writes are evaluated for the target. The lock's
  ``requires-python`` and wheel file names are read from the file itself.
- ``poetry.lock``: read directly (the format is plain TOML). Poetry 2 writes each
  package's groups and markers; older locks are walked from the project's dependencies.
- A requirements file whose every line is ``==``-pinned with ``--hash``.

Nothing here is re-resolved: a lock that does not fit the target fails with
:class:`LockError`, naming the package and the fix.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from .._core.errors import CommandError, InputError, LockError, SparkdepsError
from .._core.runner import clean_env, run, uv_command
from .._core.target import Target
from .poetry import poetry_allows
from .requirements import ParsedRequirements, parse_requirements
from .tomlread import load_toml, read_toml

__all__ = [
    "LockKind",
    "LockSelection",
    "LockedPackage",
    "is_locked_requirements",
    "lock_fix",
    "read_lock",
    "requirements_lock",
]

logger = logging.getLogger(__name__)

LockKind = Literal["pylock", "uv", "poetry", "requirements"]
_PIP_HASHES = ("sha256", "sha384", "sha512")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # canonical (LockedPackage.name is)


@dataclass(frozen=True)
class LockedPackage:
    name: NormalizedName
    version: str
    hashes: tuple[str, ...]
    """``algo:digest``, as pip's ``--hash`` takes them."""
    wheels: tuple[str, ...] = ()
    """Wheel file names the lock lists (empty when the lock does not say)."""
    origin: str = ""
    """``file:line`` for a requirements lock; else empty (the lock file says it)."""


@dataclass(frozen=True)
class LockSelection:
    path: str
    """The lock file, relative to the input."""
    kind: LockKind
    packages: tuple[LockedPackage, ...]


def _env(target: Target) -> dict[str, str]:
    return {**target.markers(), "extra": ""}


def lock_fix(kind: LockKind) -> str:
    return {
        "pylock": "regenerate the lock for this target (e.g. `uv export --format pylock.toml` "
        "with the target's Python in requires-python)",
        "uv": "run `uv lock` with the target's Python covered by requires-python",
        "poetry": "run `poetry lock` with the target's Python covered by python",
        "requirements": "regenerate the file for the target (e.g. `uv pip compile "
        "--generate-hashes --python-version X.Y`)",
    }[kind]


def _check_fits(package: LockedPackage, target: Target, origin: str, kind: LockKind) -> None:
    if not package.wheels:
        return
    for filename in package.wheels:
        try:
            tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename as exc:
            raise LockError(
                f"{origin} lists {filename!r} for {package.name}, which is not a wheel file "
                f"name ({exc})",
                fix=_REGENERATE[kind],
            ) from exc
        if target.accepts(frozenset(tags)):
            return
    raise LockError(
        f"{origin} pins {package.name} {package.version}, but none of its wheels fits "
        f"{target.description} (the lock has: {', '.join(sorted(package.wheels))})",
        fix=f"{lock_fix(kind)}, or pin a version of {package.name} with a wheel for the target",
    )


def _check_python(
    requires: SpecifierSet | None, target: Target, origin: str, kind: LockKind
) -> None:
    if requires is not None and not requires.contains(target.python_full_version, prereleases=True):
        raise LockError(
            f"{origin} covers Python {requires}, not the target's {target.python_full_version} "
            f"({target.description})",
            fix=f"{lock_fix(kind)}, or choose a target the lock covers",
        )


def read_lock(
    path: Path, origin: str, target: Target, *, work: Path, cache_dir: Path
) -> LockSelection:
    """What the lock file at ``path`` (``origin`` in messages) gives for ``target``."""
    name = path.name
    kind: LockKind = "uv" if name == "uv.lock" else "poetry" if name == "poetry.lock" else "pylock"
    try:
        if kind == "uv":
            selection = _uv_lock(path, origin, target, work=work, cache_dir=cache_dir)
        elif kind == "poetry":
            selection = _poetry_lock(path, origin, target)
        else:
            selection = _pylock(path, origin, target)
        for package in selection.packages:
            _check_package(package, target, origin, kind)
    except SparkdepsError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # a field missing, of the wrong type, or unreadable to packaging (a marker, a
        # version, a wheel file name): the lock was edited by hand or truncated
        raise LockError(
            f"{origin} is malformed ({type(exc).__name__}: {str(exc)[:300]})",
            fix=_REGENERATE[kind],
        ) from exc
    return selection


_REGENERATE: dict[LockKind, str] = {
    "pylock": "regenerate it (e.g. `uv export --format pylock.toml`)",
    "uv": "regenerate it with `uv lock`",
    "poetry": "regenerate it with `poetry lock`",
    "requirements": "regenerate it (e.g. `uv pip compile --generate-hashes`)",
}
_MAX_VERSION_CHARS = 128
"""No real version comes near this; a longer one is refused before packaging parses it."""


def _check_package(package: LockedPackage, target: Target, origin: str, kind: LockKind) -> None:
    if not _NAME.fullmatch(package.name):
        raise LockError(
            f"{origin}: {package.name[:80]!r} is not a package name", fix=_REGENERATE[kind]
        )
    version = package.version
    if len(version) > _MAX_VERSION_CHARS or not _valid_version(version):
        raise LockError(
            f"{origin} pins {package.name} at {version[:80]!r}"
            f"{'...' if len(version) > 80 else ''}, which is not a PEP 440 version",
            fix=_REGENERATE[kind],
        )
    if not package.hashes:
        raise LockError(
            f"{origin} pins {package.name} {package.version} without a sha256 hash; "
            "sparkdeps checks every locked file",
            fix=lock_fix(kind),
        )
    _check_fits(package, target, origin, kind)


def _valid_version(text: str) -> bool:
    try:
        Version(text)
    except ValueError:  # InvalidVersion
        return False
    return True


def _hashes(mapping: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{algo}:{mapping[algo]}" for algo in _PIP_HASHES if algo in mapping)


def _pylock(path: Path, origin: str, target: Target) -> LockSelection:
    from packaging.pylock import (  # noqa: PLC0415
        PackageDirectory,
        PackageSdist,
        PackageWheel,
        Pylock,
        PylockSelectError,
        PylockValidationError,
    )

    try:
        lock = Pylock.from_dict(read_toml(path, origin=origin))
    except PylockValidationError as exc:
        raise InputError(
            f"{origin} is not a valid PEP 751 lock ({exc})", fix="regenerate it"
        ) from exc
    _check_python(lock.requires_python, target, origin, "pylock")
    packages: list[LockedPackage] = []
    try:
        chosen = list(lock.select(environment=cast(Any, target.markers()), tags=target.tags))
    except PylockSelectError as exc:
        raise LockError(
            f"{origin} does not fit {target.description}: {exc}", fix=lock_fix("pylock")
        ) from exc
    for package, source in chosen:
        if isinstance(source, PackageDirectory):
            logger.info(
                "%s: %s is a local folder: built from the input, not locked", origin, package.name
            )
            continue
        if isinstance(source, PackageSdist):
            wheels = tuple(w.filename for w in package.wheels or ())
            raise LockError(
                f"{origin} pins {package.name} {package.version} with no wheel for "
                f"{target.description} (wheels in the lock: {', '.join(wheels) or 'none'})",
                fix=f"{lock_fix('pylock')}, or pin a version of {package.name} with a wheel for "
                "the target",
            )
        if not isinstance(source, PackageWheel):
            raise LockError(
                f"{origin}: {package.name} comes from a URL archive or VCS; sparkdeps takes "
                "locked packages from the index only: publish it, or put its wheel or project "
                "in the input"
            )
        version = str(package.version or parse_wheel_filename(source.filename)[1])
        hashes: list[str] = []
        for wheel in package.wheels or ():
            hashes += [h for h in _hashes(wheel.hashes) if h not in hashes]
        files = tuple(w.filename for w in package.wheels or ())
        packages.append(LockedPackage(package.name, version, tuple(hashes), files))
    return LockSelection(origin, "pylock", tuple(packages))


def is_locked_requirements(parsed: ParsedRequirements) -> bool:
    """Every requirement line is pinned with ``==`` and carries a hash: a lock, not a wish."""
    lines = parsed.requirements
    return bool(lines) and all(
        line.hashes and any(spec.operator in ("==", "===") for spec in line.requirement.specifier)
        for line in lines
    )


def requirements_lock(parsed: ParsedRequirements, origin: str, target: Target) -> LockSelection:
    env = _env(target)
    packages: list[LockedPackage] = []
    for line in parsed.requirements:
        marker = line.requirement.marker
        if marker is not None and not marker.evaluate(env):
            continue
        (pin,) = [s for s in line.requirement.specifier if s.operator in ("==", "===")][:1]
        name = canonicalize_name(line.requirement.name)
        packages.append(LockedPackage(name, pin.version, line.hashes, origin=line.origin))
    return LockSelection(origin, "requirements", tuple(packages))


def _uv_lock(
    path: Path, origin: str, target: Target, *, work: Path, cache_dir: Path
) -> LockSelection:
    project = path.parent
    if not (project / "pyproject.toml").is_file():
        raise InputError(
            f"{origin} has no pyproject.toml beside it; uv needs the project to read its lock: "
            "hand in the project folder with its uv.lock"
        )
    data = read_toml(path, origin=origin)
    _check_python(_specifier(data.get("requires-python"), origin), target, origin, "uv")
    out = work / f"uv-export-{abs(hash(origin)):x}.txt"
    isolated = _isolated_project(project, path, work, origin)
    command = [*uv_command(), "--no-config", "--offline", "--no-python-downloads"]
    command += ["export", "--project", str(isolated), "--frozen", "--format", "requirements.txt"]
    command += ["--no-header", "--no-annotate", "--no-dev", "--no-emit-project"]
    command += ["--cache-dir", str(cache_dir), "-o", str(out)]
    try:
        run(command, what=f"reading {origin} with uv export", env=clean_env({}))
    except CommandError as exc:
        raise LockError(
            f"uv could not read {origin} (exit {exc.returncode}): {exc.output.strip()[-600:]}",
            fix="run `uv lock` in the project and hand in the updated uv.lock",
        ) from exc
    kept = [line for line in out.read_text("utf-8").splitlines() if not _is_local(line)]
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    selection = requirements_lock(parse_requirements(out, out.parent), origin, target)
    files = _uv_wheel_files(data)
    hashes = _uv_hashes(data)
    for package in selection.packages:
        known = hashes.get((package.name, package.version))
        if known is None or not set(package.hashes) <= known:  # never another lock's pins
            raise LockError(
                f"uv export of {origin} gave {package.name}=={package.version} with hashes "
                f"{origin} does not hold for it",
                fix="run `uv lock` in the project and hand in the updated uv.lock",
            )
    packages = tuple(
        LockedPackage(p.name, p.version, p.hashes, files.get((p.name, p.version), ()))
        for p in selection.packages
    )
    return LockSelection(origin, "uv", packages)


def _isolated_project(project: Path, lock: Path, work: Path, origin: str) -> Path:
    """A private copy of the project's ``pyproject.toml`` and ``uv.lock`` for uv.

    uv looks for a workspace in every folder above the project it is given: a
    ``pyproject.toml`` planted above the temporary folder, naming the project a member,
    would make uv read that workspace's lock instead of the input's. The copy declares
    itself a workspace root (``[tool.uv.workspace]``), where uv's search stops.
    ``uv export --frozen`` reads the lock alone: no member's ``pyproject.toml`` and no
    source is needed (checked with uv 0.13.9; docs/locks-and-export.md).
    """
    copy = Path(tempfile.mkdtemp(prefix="uv-project-", dir=work))
    pyproject = project / "pyproject.toml"
    where = origin.rsplit("/", 1)[0] + "/pyproject.toml" if "/" in origin else "pyproject.toml"
    data = read_toml(pyproject, origin=where)
    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    text = pyproject.read_text(encoding="utf-8")
    if not (isinstance(uv, dict) and "workspace" in uv):  # a workspace root already stops it
        text += (
            "\n\n[tool.uv.workspace]  # added by sparkdeps: uv stops looking here\nmembers = []\n"
        )
        try:
            load_toml(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError: `tool.uv` as an inline table
            raise LockError(
                f"{where}: sparkdeps cannot mark the project as its own uv workspace root ({exc})",
                fix="write `[tool.uv]` as a table, not an inline table",
            ) from exc
    (copy / "pyproject.toml").write_text(text, encoding="utf-8")
    shutil.copyfile(lock, copy / "uv.lock")
    return copy


def _is_local(line: str) -> bool:
    text = line.strip()
    local = text.startswith(("-e ", "./", "../", "/", "file:")) or text == "."
    if local:
        logger.info("uv export: %s is local: built from the input if it is there", text)
    return local


def _uv_wheel_files(data: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for package in data.get("package", []):
        names = []
        for wheel in package.get("wheels", []):
            where = str(wheel.get("filename") or wheel.get("url") or wheel.get("path") or "")
            names.append(where.rsplit("/", 1)[-1].split("#", 1)[0])
        key = (canonicalize_name(str(package.get("name", ""))), str(package.get("version", "")))
        found[key] = tuple(n for n in names if n.endswith(".whl"))
    return found


def _uv_hashes(data: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(name, version) -> every ``algo:digest`` the lock holds for its files."""
    found: dict[tuple[str, str], set[str]] = {}
    for package in data.get("package", []):
        key = (canonicalize_name(str(package.get("name", ""))), str(package.get("version", "")))
        sdist = package.get("sdist")
        entries = [*package.get("wheels", []), *([sdist] if isinstance(sdist, dict) else [])]
        found.setdefault(key, set()).update(str(e["hash"]) for e in entries if "hash" in e)
    return found


def _specifier(text: object, origin: str) -> SpecifierSet | None:
    if text is None:
        return None
    try:
        return SpecifierSet(str(text))
    except InvalidSpecifier as exc:
        raise InputError(f"{origin}: requires-python {text!r} is not valid ({exc})") from exc


def _poetry_lock(path: Path, origin: str, target: Target) -> LockSelection:
    data = read_toml(path, origin=origin)
    metadata = data.get("metadata", {})
    python = str(metadata.get("python-versions", "*"))
    if not poetry_allows(python, target.python_full_version):
        raise LockError(
            f"{origin} covers Python {python}, not the target's {target.python_full_version} "
            f"({target.description})",
            fix=f"{lock_fix('poetry')}, or choose a target the lock covers",
        )
    by_name = {canonicalize_name(p["name"]): p for p in _poetry_packages(data, origin)}
    if any("groups" in p for p in by_name.values()):
        chosen = _poetry_by_groups(by_name, target)
    else:
        chosen = _poetry_walk(by_name, _poetry_roots(path.parent, origin), target)
    packages: list[LockedPackage] = []
    for name in sorted(chosen):
        package = by_name[name]
        source = package.get("source", {})
        if source.get("type") in ("directory", "file", "git", "url"):
            logger.info("%s: %s comes from %s: not locked", origin, name, source.get("type"))
            continue
        files = package.get("files", [])
        hashes = tuple(
            str(f["hash"]) for f in files if str(f.get("hash", "")).split(":")[0] in _PIP_HASHES
        )
        wheels = tuple(str(f["file"]) for f in files if str(f.get("file", "")).endswith(".whl"))
        if not wheels and files:
            raise LockError(
                f"{origin} pins {name} {package['version']} with no wheel at all (only "
                f"{', '.join(str(f.get('file')) for f in files)})",
                fix=f"{lock_fix('poetry')}, or pin a version of {name} with a wheel for the target",
            )
        packages.append(LockedPackage(name, str(package["version"]), hashes, wheels))
    return LockSelection(origin, "poetry", tuple(packages))


def _poetry_packages(data: Mapping[str, Any], origin: str) -> list[dict[str, Any]]:
    """The ``[[package]]`` tables, each with a string name and version (else LockError)."""
    packages = data.get("package", [])
    if not isinstance(packages, list):
        packages = [packages]
    for number, package in enumerate(packages, 1):
        fields = package if isinstance(package, dict) else {}
        missing = [key for key in ("name", "version") if not isinstance(fields.get(key), str)]
        if missing:
            shown = repr(fields.get("name", "") if fields else package)[:80]
            raise LockError(
                f"{origin}: [[package]] number {number} ({shown}) has no {' or '.join(missing)} "
                "string",
                fix=_REGENERATE["poetry"],
            )
    return packages


def _marker_holds(text: object, env: Mapping[str, str]) -> bool:
    if not text:
        return True
    return Marker(str(text)).evaluate(dict(env))


def _poetry_by_groups(by_name: Mapping[NormalizedName, Any], target: Target) -> set[NormalizedName]:
    env = _env(target)
    chosen: set[NormalizedName] = set()
    for name, package in by_name.items():
        if "main" not in package.get("groups", ["main"]):
            continue
        markers = package.get("markers")
        if isinstance(markers, dict):
            markers = markers.get("main")
        if _marker_holds(markers, env):
            chosen.add(canonicalize_name(name))
    return chosen


def _poetry_roots(project: Path, origin: str) -> list[tuple[str, Any]]:
    """The project's main dependencies, as (name, poetry-style constraint) pairs."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        return []
    data = read_toml(pyproject, origin=origin.rsplit("/", 1)[0] + "/pyproject.toml")
    roots: list[tuple[str, Any]] = []
    for text in data.get("project", {}).get("dependencies", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        roots.append((requirement.name, {"markers": str(requirement.marker or "")}))
    for name, spec in data.get("tool", {}).get("poetry", {}).get("dependencies", {}).items():
        if name.lower() != "python":
            roots.append((name, spec))
    return roots


def _edges(spec: Any) -> Iterable[Mapping[str, Any]]:
    items = spec if isinstance(spec, list) else [spec]
    for item in items:
        yield item if isinstance(item, dict) else {"version": str(item)}


def _poetry_walk(
    by_name: Mapping[NormalizedName, Any], roots: list[tuple[str, Any]], target: Target
) -> set[NormalizedName]:
    env = _env(target)
    if not roots:  # a lone poetry.lock: every main, non-optional package
        return {
            canonicalize_name(n)
            for n, p in by_name.items()
            if not p.get("optional") and p.get("category", "main") == "main"
        }
    chosen: set[NormalizedName] = set()
    pending = list(roots)
    while pending:
        name, spec = pending.pop()
        key = canonicalize_name(name)
        taken = any(
            not edge.get("optional")
            and _marker_holds(edge.get("markers"), env)
            and poetry_allows(str(edge.get("python", "*")), target.python_full_version)
            for edge in _edges(spec)
        )
        if not taken or key in chosen or key not in by_name:
            continue
        chosen.add(key)
        pending.extend(by_name[key].get("dependencies", {}).items())
    return chosen
