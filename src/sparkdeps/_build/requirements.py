"""Reading the input's requirements files: pip's syntax, with a stricter policy.

sparkdeps reads the files itself and ``packaging`` parses each requirement:

- ``#`` starts a comment; a line ending in ``\\`` continues on the next; ``${NAME}`` is
  expanded from the environment as pip does (a message shows the name, never the value);
- ``-r`` and ``-c`` include another file, which must be inside the input; each file is
  read once; the lines of a ``-c`` file constrain and do not require;
- ``--hash`` stays with its requirement and goes to pip, which checks it; after
  ``--require-hashes`` every requirement needs a hash and an ``==`` pin, and the build
  refuses any resolved dependency without a hash, as pip does;
- index options (``-i``/``--index-url``, ``--extra-index-url``, ``-f``/``--find-links``,
  ``--trusted-host``) and ``-e`` lines are refused unless ``allow_index_options``: an
  index named by a file from elsewhere invites dependency confusion;
- paths, direct URLs and VCS references are refused: publish the package to an index,
  or put its wheel or project folder in the input.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .._core.errors import InputError
from .textread import read_text

__all__ = ["ParsedRequirements", "RequirementLine", "parse_requirements"]

_INDEX_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
    "--trusted-host": "trusted_host",
}
_HARMLESS = {"--pre", "--prefer-binary", "--no-index"}
_COMMENT = re.compile(r"(^|\s+)#.*$")
_OPTION_START = re.compile(r"""\s+(?=--?[A-Za-z])(?=(?:[^"']|"[^"]*"|'[^']*')*$)""")
"""Whitespace before ``-x``/``--x`` with the quotes after it balanced: not inside a marker."""
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")
"""``${NAME}``, which pip expands from the environment (undefined ones stay as written)."""


@dataclass(frozen=True)
class RequirementLine:
    requirement: Requirement
    origin: str
    """``file:line`` where it was written."""
    hashes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return str(self.requirement)


@dataclass(frozen=True)
class ParsedRequirements:
    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    files: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    editables: tuple[str, ...] = field(default=())
    """Local project folders named by ``-e`` (only with ``allow_index_options``)."""
    require_hashes: bool = False
    """``--require-hashes`` was given: every requirement (and every pin) needs a hash."""


class _State:
    def __init__(self) -> None:
        self.requirements: list[RequirementLine] = []
        self.constraints: list[RequirementLine] = []
        self.files: list[str] = []
        self.index_url: str | None = None
        self.extra: list[str] = []
        self.find_links: list[str] = []
        self.no_index = False
        self.editables: list[str] = []
        self.require_hashes = False


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).rstrip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        out.append((start, buffer.strip()))
    return out


def parse_requirements(
    path: Path, root: Path, *, allow_index_options: bool = False
) -> ParsedRequirements:
    """Parse ``path`` (inside ``root``) and its includes."""
    state = _State()
    _parse_file(_File(path, root, state, allow_index_options, constraint=False, seen=set()))
    if state.require_hashes:
        _check_hashed(state.requirements)
    return ParsedRequirements(
        requirements=tuple(state.requirements),
        constraints=tuple(state.constraints),
        files=tuple(state.files),
        index_url=state.index_url,
        extra_index_urls=tuple(state.extra),
        find_links=tuple(state.find_links),
        no_index=state.no_index,
        editables=tuple(state.editables),
        require_hashes=state.require_hashes,
    )


def _check_hashed(lines: list[RequirementLine]) -> None:
    for line in lines:
        pinned = [spec for spec in line.requirement.specifier if spec.operator in ("==", "===")]
        if not line.hashes or not pinned:
            raise InputError(
                f"{line.origin}: {line.text!r} has no --hash (or is not pinned with ==) but the "
                "file says --require-hashes",
                fix="add --hash=sha256:<digest> and pin it with ==, or remove --require-hashes",
            )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


@dataclass(frozen=True)
class _File:
    """A requirements file being read, and what it shares with the files it includes."""

    path: Path
    root: Path
    state: _State
    allow: bool
    """``allow_index_options``: index options and ``-e`` lines are honoured."""
    constraint: bool
    """Read through ``-c``: its lines constrain, they do not require."""
    seen: set[Path]

    def include(self, path: Path, *, constraint: bool) -> _File:
        return _File(path, self.root, self.state, self.allow, constraint, self.seen)


def _parse_file(file: _File) -> None:
    resolved = file.path.resolve()
    if resolved in file.seen:
        return
    file.seen.add(resolved)
    origin = _relative(file.path, file.root)
    file.state.files.append(origin)
    text = read_text(
        file.path, origin=origin, fix="save it as UTF-8 text, one requirement per line"
    )
    for number, written in _logical_lines(text):
        line, values = _expand(written)
        try:
            if line.startswith("-"):
                _option(line, f"{origin}:{number}", file)
            else:
                _requirement(line, f"{origin}:{number}", file.state, constraint=file.constraint)
        except InputError as exc:
            if not values:
                raise
            # show ${NAME}, never what it expanded to: it may be a credential
            message = str(exc)
            for value, name in values.items():
                message = message.replace(value, name)
            raise InputError(message) from None


def _expand(line: str) -> tuple[str, dict[str, str]]:
    """``line`` with ``${NAME}`` expanded as pip does, and {value: "${NAME}"} for messages."""
    values: dict[str, str] = {}

    def value_of(match: re.Match[str]) -> str:
        value = os.environ.get(match.group("name"))
        if value is None:
            return match.group(0)
        if value:
            values[value] = match.group(0)
        return value

    return _VARIABLE.sub(value_of, line), values


def _option(line: str, origin_line: str, file: _File) -> None:
    head, _, rest = line.partition(" ")
    if head.startswith("--") and "=" in head:
        option, _, value = line.partition("=")
    else:
        option, value = head, rest
    value = value.strip()
    if option in ("-r", "--requirement", "-c", "--constraint"):
        _include(option, value, origin_line, file)
    elif option == "--require-hashes":
        file.state.require_hashes = True
    elif option in _HARMLESS:
        if option == "--no-index" and file.allow:
            file.state.no_index = True
    elif option in ("-e", "--editable"):
        _editable(value, origin_line, file)
    elif option in _INDEX_OPTIONS:
        _index_option(option, value, origin_line, file)
    else:
        raise InputError(
            f"{origin_line}: option {option!r} is not supported in requirements files by sparkdeps",
            fix="remove it (supported: -r, -c, --hash, --require-hashes, --pre, --prefer-binary)",
        )


def _include(option: str, value: str, origin_line: str, file: _File) -> None:
    included = (file.path.parent / value).resolve()
    if not value or not included.is_relative_to(file.root.resolve()):
        raise InputError(
            f"{origin_line}: {option} {value!r} points outside the input",
            fix="put the included file inside the input and use a relative path",
        )
    if not included.is_file():
        raise InputError(
            f"{origin_line}: {option} {value!r}: no such file in the input; include it in the "
            "input (hand in the folder or a .zip rather than a single file)"
        )
    constraint = file.constraint or option in ("-c", "--constraint")
    _parse_file(file.include(included, constraint=constraint))


def _editable(value: str, origin_line: str, file: _File) -> None:
    if not file.allow:
        raise InputError(
            f"{origin_line}: '-e' lines are refused by default",
            fix="put the project folder in the input (it is found and built automatically) "
            "or pass allow_index_options=True",
        )
    target = (file.path.parent / value).resolve()
    if not target.is_dir() or not target.is_relative_to(file.root.resolve()):
        raise InputError(
            f"{origin_line}: -e {value!r} must name a project folder inside the input; "
            "URLs and outside paths are not supported"
        )
    file.state.editables.append(_relative(target, file.root))


def _index_option(option: str, value: str, origin_line: str, file: _File) -> None:
    if not file.allow:
        raise InputError(
            f"{origin_line}: {option} in a requirements file is refused (an index chosen by a "
            "file invites dependency confusion)",
            fix="remove the line and pass the index to sparkdeps (index_url=, --index-url), "
            "or pass allow_index_options=True",
        )
    kind = _INDEX_OPTIONS[option]
    if kind == "index_url":
        file.state.index_url = value
    elif kind == "extra_index_urls":
        file.state.extra.append(value)
    elif kind == "find_links":
        file.state.find_links.append(value)


def _requirement(line: str, origin_line: str, state: _State, *, constraint: bool) -> None:
    # options follow the requirement after whitespace, outside quotes ('; extra == "a -b"')
    spec, *options = _OPTION_START.split(line)
    hashes: list[str] = []
    for option in options:
        name, _, value = option.replace("=", " ", 1).partition(" ")
        if name != "--hash" or not value.strip():
            raise InputError(
                f"{origin_line}: per-requirement option {option.split()[0]!r} is not supported",
                fix="remove it (only --hash=<algo>:<digest> is kept)",
            )
        hashes.append(value.strip())
    if re.match(r"^(\.{0,2}/|[a-zA-Z][a-zA-Z0-9+.-]*://|git\+|hg\+|svn\+|bzr\+)", spec):
        raise InputError(
            f"{origin_line}: {spec!r} is a path, URL or VCS reference; sparkdeps refuses those in "
            "requirements files: publish the package to an index, or put its wheel or "
            "project folder in the input"
        )
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise InputError(
            f"{origin_line}: {spec!r} is not a valid requirement ({exc}); write it as "
            "'name', 'name==1.2' or 'name>=1; python_version < \"3.11\"'"
        ) from exc
    if requirement.url:
        raise InputError(
            f"{origin_line}: {spec!r} is a direct URL reference; sparkdeps refuses those: publish "
            "the package to an index, or put its wheel or project folder in the input"
        )
    entry = RequirementLine(requirement, origin_line, tuple(hashes))
    (state.constraints if constraint else state.requirements).append(entry)
