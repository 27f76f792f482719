"""Input discovery: which of the six formats the user handed in, and what is inside.

The input (a ``.zip``, a folder or a requirements file) is first copied or
extracted safely into the private work folder, inner ``.zip`` archives are
opened in place (bounded depth), a lone wrapper folder is stepped into, then
the tree is scanned for requirements files, projects (``pyproject.toml``,
``setup.py``, ``setup.cfg``), loose modules and packages, wheels, and lock files
(``pylock.toml``, ``pylock.<name>.toml``, ``uv.lock``, ``poetry.lock``). A project's own
folder is looked into for its lock files and for a ``requirements.txt`` or
``constraints.txt`` beside its ``pyproject.toml`` (``_build/locks.py`` decides what they
mean).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .._core.errors import InputError, UnsafeArchiveError
from .._core.manifest import Format, sha256_file
from .._core.progress import plural
from .archive import IGNORED_DIRS, ArchiveLimits, _Budget, copy_tree, extract_zip, is_zip
from .textread import read_text

__all__ = ["EXPECTED", "InputLayout", "input_digest", "prepare_input"]

logger = logging.getLogger(__name__)

EXPECTED = (
    "a requirements file (requirements*.txt), Python modules or package folders (.py), "
    "a project (pyproject.toml, setup.py or setup.cfg), wheels (.whl), or a lock file "
    "(pylock.toml, uv.lock, poetry.lock), in a folder or a .zip"
)
_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_REQUIREMENTS = re.compile(r"^(.*[-_.])?requirements([-_.].*)?\.(txt|in)$", re.IGNORECASE)
_LOCK_FILE = re.compile(r"^(pylock\.([^.]+\.)?toml|uv\.lock|poetry\.lock)$")
_BESIDE_PROJECT = ("requirements.txt", "constraints.txt")
_NOT_MODULES = {"setup.py", "conftest.py", "noxfile.py", "fabfile.py"}
_JUNK_FILES = {".DS_Store", "Thumbs.db", ".gitignore", ".gitattributes"}


@dataclass(frozen=True)
class InputLayout:
    """What the input holds, with paths relative to ``root`` (posix)."""

    root: Path
    format: Format
    name: str
    """The input's name (file or folder stem), canonicalised: the generated wheel's default."""
    digest: str
    requirement_files: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    """Loose ``.py`` files and package folders; each lands at the top of the generated wheel."""
    wheels: tuple[str, ...] = ()
    wrapper: str | None = None
    inner_archives: tuple[str, ...] = ()
    locks: tuple[str, ...] = ()
    """Lock files (``pylock*.toml``, ``uv.lock``, ``poetry.lock``), in projects or not."""
    beside_projects: tuple[str, ...] = ()
    """``requirements.txt``/``constraints.txt`` in a project's folder, beside its metadata."""

    @property
    def kinds(self) -> tuple[str, ...]:
        found = []
        if self.requirement_files or self.loose_locks:
            found.append("requirements")
        if self.modules:
            found.append("pure_python")
        if self.projects:
            found.append("packaged")
        if self.wheels:
            found.append("existing_wheels")
        return tuple(found)

    @property
    def loose_locks(self) -> tuple[str, ...]:
        """Lock files outside every project: they stand for requirements."""
        return tuple(lock for lock in self.locks if _project_of(lock, self.projects) is None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kinds": list(self.kinds),
            "requirements": list(self.requirement_files),
            "projects": list(self.projects),
            "modules": list(self.modules),
            "wheels": list(self.wheels),
        }
        if self.wrapper:
            out["wrapper"] = self.wrapper
        if self.inner_archives:
            out["inner_archives"] = list(self.inner_archives)
        if self.locks:
            out["locks"] = list(self.locks)
        if self.beside_projects:
            out["beside_projects"] = list(self.beside_projects)
        return out

    def describe(self) -> str:
        """``1 requirements file (requirements.txt), 2 projects (a, b)``: for a person."""
        parts = []
        for items, word in (
            (self.requirement_files, "requirements file"),
            (self.projects, "project"),
            (self.modules, "module"),
            (self.wheels, "wheel"),
            (self.inner_archives, "inner archive"),
        ):
            if items:
                shown = ", ".join(item or "." for item in items[:5])
                more = f", +{len(items) - 5} more" if len(items) > 5 else ""
                parts.append(f"{plural(len(items), word)} ({shown}{more})")
        if self.wrapper:
            parts.append(f"inside the wrapper folder {self.wrapper}/")
        return ", ".join(parts) or "nothing usable"


def _project_of(relative: str, projects: tuple[str, ...]) -> str | None:
    """The project whose own folder holds ``relative`` (a direct child), if any."""
    parent = relative.rpartition("/")[0] or "."  # the input's root is the project "."
    return parent if parent in projects else None


def input_digest(root: Path) -> str:
    """sha256 over sorted (relative path, file sha256): zip timestamps do not matter."""
    digest = hashlib.sha256()
    for path in sorted(_files(root), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file():
            yield path


def _input_name(source: Path) -> str:
    stem = source.name
    for suffix in (".zip", ".txt", ".in"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = canonicalize_name(re.sub(r"[^A-Za-z0-9._-]+", "-", stem)).strip("-.")
    return name or "sparkdeps-input"


def prepare_input(source: str | Path, work: Path, limits: ArchiveLimits) -> InputLayout:
    """Copy or extract ``source`` into ``work`` and find what is inside."""
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{source}: no such file or folder; expected {EXPECTED}")
    root = work
    root.mkdir(parents=True, exist_ok=True)
    budget = _Budget(limits)
    if path.is_dir():
        copy_tree(path, root, budget)
    elif path.suffix.lower() == ".whl":
        shutil.copyfile(path, root / path.name)
    elif is_zip(path):
        extract_zip(path, root, limits, origin=path.name, budget=budget)
    elif path.suffix.lower() == ".zip":
        extract_zip(path, root, limits, origin=path.name, budget=budget)  # raises: corrupt
    else:
        _check_text(path)
        shutil.copyfile(path, root / path.name)
        lock = bool(_LOCK_FILE.match(path.name))
        if not lock:
            _check_has_requirements(root / path.name)
        return _lone_file(path, root, lock=lock)
    inner = _open_inner_archives(root, limits, budget)
    if not any(_files(root)):
        raise InputError(f"{source}: the input is empty; expected {EXPECTED}")
    return _scan(root, _input_name(path), inner)


def _check_text(path: Path) -> None:
    with path.open("rb") as handle:
        data = handle.read(8192)  # the head tells; a large file is never read whole here
    if b"\0" in data:
        raise InputError(
            f"{path.name}: unknown input (a binary file that is not a zip or a wheel); "
            f"expected {EXPECTED}"
        )


def _check_has_requirements(path: Path) -> None:
    text = read_text(path, origin=path.name, fix="save it as UTF-8 text, one requirement per line")
    meaningful = any(
        line.strip() and not line.strip().startswith("#") for line in text.splitlines()
    )
    if not meaningful:
        raise InputError(
            f"{path.name}: the requirements file is empty (no requirement lines)",
            fix="add one requirement per line, e.g. 'requests>=2.31'",
        )


def _lone_file(path: Path, root: Path, *, lock: bool) -> InputLayout:
    """The input is one requirements or lock file."""
    names = (path.name,)
    return InputLayout(
        root=root,
        format="requirements",
        name=_input_name(path),
        digest=input_digest(root),
        requirement_files=() if lock else names,
        locks=names if lock else (),
    )


def _open_inner_archives(root: Path, limits: ArchiveLimits, budget: _Budget) -> list[str]:
    """Extract each ``x.zip`` below ``root`` into ``x/`` next to it, then remove it."""
    opened: list[str] = []
    pending = [(p, 1) for p in sorted(root.rglob("*.zip")) if p.is_file()]
    while pending:
        archive, depth = pending.pop(0)
        relative = archive.relative_to(root).as_posix()
        if depth > limits.max_depth:
            raise UnsafeArchiveError(
                f"{relative}: archives nested more than {limits.max_depth} deep; refusing "
                "(unpack them, or raise ArchiveLimits.max_depth)"
            )
        folder = archive.with_name(archive.name[: -len(".zip")])
        if folder.exists():
            folder = archive.with_name(archive.name + ".d")
        extract_zip(archive, folder, limits, origin=relative, budget=budget)
        archive.unlink()
        opened.append(relative)
        pending.extend((p, depth + 1) for p in sorted(folder.rglob("*.zip")) if p.is_file())
    return opened


def _input_entries(folder: Path) -> list[Path]:
    """The entries of an input folder that count: no junk files, ignored or hidden folders."""
    return sorted(
        child
        for child in folder.iterdir()
        if child.name not in _JUNK_FILES
        and child.name not in IGNORED_DIRS
        and not (child.is_dir() and child.name.startswith("."))
    )


def _is_project(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _PROJECT_FILES)


def _is_package(folder: Path) -> bool:
    return (folder / "__init__.py").is_file() and folder.name.isidentifier()


class _Found:
    def __init__(self) -> None:
        self.requirements: list[str] = []
        self.projects: list[str] = []
        self.modules: list[str] = []
        self.wheels: list[str] = []
        self.locks: list[str] = []
        self.beside: list[str] = []
        self.deep = False
        """Something was found below the content root: the layout is nested."""


def _walk(folder: Path, root: Path, found: _Found, depth: int) -> None:
    relative = folder.relative_to(root).as_posix()
    if _is_project(folder):
        found.projects.append(relative)
        # one project in a direct subfolder (next to a requirements file) is still "mixed"
        found.deep |= depth > 1
        for child in _input_entries(folder):
            name = child.relative_to(root).as_posix()
            if child.is_file() and _LOCK_FILE.match(child.name):
                found.locks.append(name)
            elif child.is_file() and child.name in _BESIDE_PROJECT:
                found.beside.append(name)
        return
    for child in _input_entries(folder):
        name = child.relative_to(root).as_posix()
        if child.is_dir():
            if _is_package(child):
                found.modules.append(name)
                found.deep |= depth > 0
            elif not child.name.endswith((".egg-info", ".dist-info")):
                _walk(child, root, found, depth + 1)
        elif child.suffix == ".whl":
            found.wheels.append(name)
            found.deep |= depth > 0
        elif _REQUIREMENTS.match(child.name):
            found.requirements.append(name)
            found.deep |= depth > 0
        elif _LOCK_FILE.match(child.name):
            found.locks.append(name)
            found.deep |= depth > 0
        elif child.suffix == ".py" and child.name not in _NOT_MODULES and child.stem.isidentifier():
            found.modules.append(name)
            found.deep |= depth > 0


def _scan(root: Path, name: str, inner: list[str]) -> InputLayout:
    content = root
    wrapper: str | None = None
    visible = _input_entries(content)
    # A lone folder at the top (GitHub "Download ZIP") is a wrapper, unless it is the code.
    while len(visible) == 1 and visible[0].is_dir() and not _is_package(visible[0]):
        content = visible[0]
        wrapper = content.relative_to(root).as_posix() + "/"
        visible = _input_entries(content)
    found = _Found()
    _walk(content, root, found, 0)
    _check_module_names(found.modules)
    loose_locks = [lock for lock in found.locks if _project_of(lock, tuple(found.projects)) is None]
    requirements = found.requirements or loose_locks
    kinds = sum(bool(x) for x in (requirements, found.projects, found.modules, found.wheels))
    if kinds == 0:
        seen = sorted(p.relative_to(root).as_posix() for p in _files(root))[:10]
        raise InputError(
            f"unknown input: nothing sparkdeps can use was found (saw: {', '.join(seen)}); "
            f"expected {EXPECTED}"
        )
    fmt: Format
    if wrapper or inner or found.deep or len(found.projects) > 1:
        fmt = "nested"
    elif kinds > 1:
        fmt = "mixed"
    elif requirements:
        fmt = "requirements"
    elif found.projects:
        fmt = "packaged"
    elif found.modules:
        fmt = "pure_python"
    else:
        fmt = "existing_wheels"
    layout = InputLayout(
        root=root,
        format=fmt,
        name=name,
        digest=input_digest(root),
        requirement_files=tuple(found.requirements),
        projects=tuple(found.projects),
        modules=tuple(found.modules),
        wheels=tuple(found.wheels),
        wrapper=wrapper,
        inner_archives=tuple(inner),
        locks=tuple(found.locks),
        beside_projects=tuple(found.beside),
    )
    return layout


def _check_module_names(modules: list[str]) -> None:
    by_name: dict[str, list[str]] = {}
    for module in modules:
        top = module.rsplit("/", 1)[-1].removesuffix(".py")
        by_name.setdefault(top, []).append(module)
    clashes = {top: paths for top, paths in by_name.items() if len(paths) > 1}
    if clashes:
        detail = "; ".join(f"{top}: {', '.join(paths)}" for top, paths in sorted(clashes.items()))
        raise InputError(
            f"the same top-level module name appears more than once ({detail}); rename one, "
            "or give the folders packaging metadata (pyproject.toml) so they build separately"
        )
