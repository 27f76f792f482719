"""The arguments every command shares: ``-v``/``-q``, the build options, the requests.

The build options are declared once, as the fields of ``BuildOptions``
(``_core/options.py``); the flags of ``build``, ``check`` and ``process-deps`` are
made from those fields here, and the parsed flags turned back into the value.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeAlias, TypeVar

from .._core.options import BuildOptions, option_fields, option_of

__all__ = [
    "Subparsers",
    "build_options",
    "option_arguments",
    "request",
    "subcommand",
    "verbosity",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_Request = TypeVar("_Request")


def verbosity(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``-v``/``-q``; a subcommand's (``suppress``) leave the top level's value unless given."""
    default = argparse.SUPPRESS if suppress else 0
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more progress output on stderr (-vv for debug)",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=default, help="only errors on stderr"
    )


def subcommand(sub: Subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand with its own -v/-q, so they may also follow the command."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    verbosity(parser, suppress=True)
    return parser


def option_arguments(
    parser: argparse.ArgumentParser, overrides: dict[str, tuple[Any, str]] | None = None
) -> None:
    """One flag per field of ``BuildOptions`` (``_core/options.py``), in groups as ``--help``
    shows them; ``overrides`` gives a command its own default and help for a field."""
    groups: dict[str, Any] = {
        "target": parser.add_argument_group("target"),
        "index": parser.add_argument_group("index"),
        "build": parser,
    }
    for item in option_fields():
        option = option_of(item)
        if option.flag is None:
            continue
        default, text = (overrides or {}).get(item.name, (item.default, option.help))
        # argparse appends to a list default (copied per parse); a tuple has no append
        default = list(default) if option.kind == "list" else default
        settings: dict[str, Any] = {"dest": item.name, "default": default}
        if option.kind in ("text", "float", "int", "list"):
            settings["metavar"] = option.metavar
        settings.update(_OPTION_ACTIONS[option.kind])
        group = groups[option.group]
        group.add_argument(option.flag, help=text, **settings)
        for alias in option.aliases:
            group.add_argument(alias, help=argparse.SUPPRESS, **settings)


_OPTION_ACTIONS: dict[str, dict[str, Any]] = {
    "text": {},
    "float": {"type": float},
    "int": {"type": int},
    "list": {"action": "append"},
    "switch": {"action": "store_true"},
    "negated": {"action": "store_false"},
}


def build_options(args: argparse.Namespace) -> BuildOptions:
    """The parsed flags of ``option_arguments`` as the value ``build()`` and ``check()`` take."""
    return BuildOptions(
        **{
            item.name: getattr(args, item.name)
            for item in option_fields()
            if option_of(item).flag is not None
        }
    )


def request(kind: type[_Request], args: argparse.Namespace) -> _Request:
    """The parsed options a job entry point takes, as its frozen request (lists as tuples;
    a field ``options`` gets the build options)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        if field.name == "options":
            values["options"] = build_options(args)
            continue
        value = getattr(args, field.name)
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return kind(**values)
