"""The options of a build, declared once: :class:`BuildOptions`.

``build()`` and ``check()`` take these as keywords (``**options``, typed by
:class:`BuildKeywords`, shown by ``help()`` through the signature ``_build/recipe.py``
generates); ``sparkdeps build``, ``check`` and ``process-deps`` derive their flags from
each field's :class:`Option`; the job template renders a value back to ``process-deps``
flags (:meth:`BuildOptions.to_args`).
A new option is a field here and in :class:`BuildKeywords`, and a value in the table of
``tests/test_options.py`` (which fails until all three agree); nowhere else.
Stdlib only: the command line's parsers import it before any command runs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .errors import InputError

if TYPE_CHECKING:
    from .target import Target
    from .zipsafety import ArchiveLimits

__all__ = [
    "DEFAULT_MAX_SIZE_MB",
    "BuildKeywords",
    "BuildOptions",
    "Option",
    "OptionKind",
    "option_fields",
    "option_of",
]

DEFAULT_MAX_SIZE_MB = 500.0
"""``build`` refuses to download more than this (pyspark's wheel alone is over 300 MB)."""

OptionKind = Literal["text", "float", "int", "list", "switch", "negated", "api"]
"""How an option is spelled on a command line: ``text``/``float``/``int`` take a value,
``list`` is repeatable, ``switch`` is ``--flag`` for True, ``negated`` is ``--no-...``
for False, ``api`` has no flag (Python only)."""

Group = Literal["target", "index", "build"]


@dataclass(frozen=True)
class Option:
    """How one field of :class:`BuildOptions` appears outside Python."""

    kind: OptionKind
    help: str
    flag: str | None = None
    group: Group = "build"
    metavar: str | None = None
    aliases: tuple[str, ...] = ()
    """Old spellings, still accepted and hidden from ``--help``."""


def _option(
    kind: OptionKind,
    help: str,
    flag: str | None = None,
    *,
    group: Group = "build",
    metavar: str | None = None,
    aliases: tuple[str, ...] = (),
) -> dict[str, Option]:
    """A field's metadata: how the option appears outside Python."""
    return {"option": Option(kind, help, flag, group, metavar, aliases)}


@dataclass(frozen=True)
class BuildOptions:
    """What changes how a wheelhouse is made: the target, the index, the build.

    The same options as the keywords of ``build()`` and ``check()``; a value for
    ``three_task_job(options=...)``, which passes them to ``process-deps``.
    """

    target: str | Target | None = field(
        default=None,
        metadata=_option("text", "runtime profile, e.g. dbr-14.3", "--target", group="target"),
    )
    python_version: str | None = field(
        default=None,
        metadata=_option(
            "text",
            "target Python, e.g. 3.10",
            "--python-version",
            group="target",
            aliases=("--python",),
        ),
    )
    platform: str | None = field(
        default=None,
        metadata=_option(
            "text", "x86_64, aarch64 or a manylinux tag", "--platform", group="target"
        ),
    )
    runtime_packages: str | os.PathLike[str] | None = field(
        default=None,
        metadata=_option(
            "text",
            "`pip list --format=freeze` of the cluster: ship only what it lacks "
            "(a --target profile carries its own)",
            "--runtime-packages",
            group="target",
            metavar="FILE",
        ),
    )
    override_runtime: tuple[str, ...] = field(
        default=(),
        metadata=_option(
            "list",
            "ship this protected runtime package (numpy, pandas, torch, ...) anyway; "
            "a pattern (`nvidia-*`) names several; repeatable; warns at build and at load",
            "--override-runtime",
            group="target",
            metavar="NAME",
        ),
    )
    prefer_newest: bool = field(
        default=False,
        metadata=_option(
            "switch",
            "treat the runtime's versions as preferences, not constraints: unpinned "
            "requirements take their newest release even when that moves runtime packages",
            "--prefer-newest",
            group="target",
        ),
    )
    max_size_mb: float | None = field(
        default=DEFAULT_MAX_SIZE_MB,
        metadata=_option(
            "float",
            "refuse to build a wheelhouse heavier than this, before any download "
            "(sizes from the index's metadata; 0: no cap; default 500)",
            "--max-size",
            group="target",
            metavar="MB",
        ),
    )
    index_url: str | None = field(
        default=None,
        metadata=_option(
            "text", "the package index (pip's --index-url)", "--index-url", group="index"
        ),
    )
    extra_index_urls: tuple[str, ...] = field(
        default=(),
        metadata=_option(
            "list",
            "another package index; repeatable",
            "--extra-index-url",  # pip's spelling: one URL each time
            group="index",
            metavar="URL",
        ),
    )
    find_links: tuple[str, ...] = field(
        default=(),
        metadata=_option(
            "list",
            "a folder or page of wheels; repeatable",
            "--find-links",
            group="index",
            metavar="DIR_OR_URL",
        ),
    )
    no_index: bool = field(
        default=False,
        metadata=_option(
            "switch", "no package index: only --find-links", "--no-index", group="index"
        ),
    )
    index_timeout: float = field(
        default=30.0,
        metadata=_option(
            "float",
            "seconds each index request may wait (default 30)",
            "--index-timeout",
            group="index",
            metavar="SECONDS",
        ),
    )
    index_retries: int = field(
        default=2,
        metadata=_option(
            "int",
            "retries of a failed index request (default 2)",
            "--index-retries",
            group="index",
            metavar="N",
        ),
    )
    build_isolation: bool = field(
        default=True,
        metadata=_option(
            "negated",
            "build projects against the installed build backend",
            "--no-build-isolation",
        ),
    )
    bytecode: bool = field(
        default=True,
        metadata=_option(
            "negated",
            "ship no bytecode: nodes compile every module at its first import "
            "(by default the build compiles for the target's Python when it has one)",
            "--no-bytecode",
        ),
    )
    name: str | None = field(
        default=None, metadata=_option("text", "distribution name for loose modules", "--name")
    )
    cache_dir: str | os.PathLike[str] | None = field(
        default=None,
        metadata=_option(
            "text", "cache root (or SPARKDEPS_CACHE_DIR)", "--cache-dir", metavar="DIR"
        ),
    )
    allow_index_options: bool = field(
        default=False,
        metadata=_option(
            "switch",
            "honour --index-url/-e lines inside requirements files",
            "--allow-index-options",
            group="index",
        ),
    )
    limits: ArchiveLimits | None = field(
        default=None,
        metadata=_option("api", "bounds on what an input archive may expand to (Python only)"),
    )

    def __post_init__(self) -> None:
        for item in option_fields():
            value = getattr(self, item.name)
            if option_of(item).kind == "list" and not isinstance(value, tuple):
                if isinstance(value, str):  # a bare string would become its characters
                    raise InputError(f"{item.name} takes a list of strings, got {value!r}")
                object.__setattr__(self, item.name, tuple(value))

    @classmethod
    def of(cls, keywords: Mapping[str, object], caller: str) -> BuildOptions:
        """The options given to ``caller(**keywords)``; an unknown name is the ``TypeError``
        Python raises for a function without that keyword."""
        unknown = sorted(set(keywords) - {item.name for item in option_fields()})
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
        return cls(**keywords)  # type: ignore[arg-type]

    def keywords(self) -> dict[str, Any]:
        """The options as keywords of ``build()`` and ``check()`` (a shallow copy)."""
        return {item.name: getattr(self, item.name) for item in option_fields()}

    def to_args(self) -> list[str]:
        """The ``process-deps`` (and ``build``/``check``) flags for every value that is not
        the default, as ``--flag=value`` so a value may start with ``-``."""
        return [arg for item in option_fields() for arg in _args(self, item)]


class BuildKeywords(TypedDict, total=False):
    """The options as keywords of ``build()`` and ``check()``, for type checkers
    (``**options: Unpack[BuildKeywords]``); ``tests/test_options.py`` holds it to
    :class:`BuildOptions`, field by field. Defaults and help are there, not here."""

    target: str | Target | None
    python_version: str | None
    platform: str | None
    runtime_packages: str | os.PathLike[str] | None
    override_runtime: Iterable[str]
    prefer_newest: bool
    max_size_mb: float | None
    index_url: str | None
    extra_index_urls: Iterable[str]
    find_links: Iterable[str]
    no_index: bool
    index_timeout: float
    index_retries: int
    build_isolation: bool
    bytecode: bool
    name: str | None
    cache_dir: str | os.PathLike[str] | None
    allow_index_options: bool
    limits: ArchiveLimits | None


def option_fields() -> Iterator[dataclasses.Field[Any]]:
    """The fields of :class:`BuildOptions`, in declaration order."""
    return iter(dataclasses.fields(BuildOptions))


def option_of(item: dataclasses.Field[Any]) -> Option:
    option: Option = item.metadata["option"]
    return option


def _args(options: BuildOptions, item: dataclasses.Field[Any]) -> list[str]:
    value, option = getattr(options, item.name), option_of(item)
    if value == item.default:
        return []
    if option.flag is None:
        raise InputError(f"{item.name} has no command-line flag: pass it to build() in Python")
    if option.kind in ("switch", "negated"):
        return [option.flag]
    if option.kind == "list":
        return [f"{option.flag}={_text(item.name, option.flag, one)}" for one in value]
    return [f"{option.flag}={_text(item.name, option.flag, value)}"]


def _text(name: str, flag: str, value: object) -> str:
    if isinstance(value, (str, int, float, os.PathLike)):
        return os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    raise InputError(
        f"{name}={value!r} cannot go on a command line: give it a value {flag} takes "
        "(a name, a path or a number; see `sparkdeps process-deps --help`)"
    )
