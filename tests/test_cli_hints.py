"""Every ``sparkdeps ...`` command that a message in the library suggests parses with
the real command-line parser: a fix hint never names a flag or command that is gone."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from sparkdeps._cli import _parser

SRC = Path(__file__).resolve().parent.parent / "src" / "sparkdeps"
_SUGGESTION = re.compile(r"`(sparkdeps [^`]+)`")


def _text(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with each ``{...}`` as ``7``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "7" for part in node.values
        )
    return None


def _message_strings(node: ast.AST) -> list[ast.expr]:
    """The string literals in the arguments of every call: messages, hints, help texts
    (docstrings are not calls' arguments, so a description is not a suggestion)."""
    found: list[ast.expr] = []

    def visit(child: ast.AST) -> None:
        if isinstance(child, ast.JoinedStr | ast.Constant):
            found.append(child)  # an f-string's parts are read through _text
            return
        for inner in ast.iter_child_nodes(child):
            visit(inner)

    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
                visit(argument)
    return found


def _suggestions() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _message_strings(tree):
            for command in _SUGGESTION.findall(_text(node) or ""):
                found.append((f"{path.relative_to(SRC)}:{node.lineno}", command))
    return sorted(set(found))


SUGGESTIONS = _suggestions()


def test_messages_suggest_commands() -> None:
    # the scan itself works: the wrong-Python load error names a build command
    assert any("--python-version" in command for _, command in SUGGESTIONS), SUGGESTIONS


def _parse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str | None:
    """None when the parser takes ``argv``, else its complaint."""
    try:
        _parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            return None
        return capsys.readouterr().err.strip().splitlines()[-1]
    return None


@pytest.mark.parametrize(("where", "command"), SUGGESTIONS, ids=[w for w, _ in SUGGESTIONS])
def test_suggested_command_parses(
    where: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = shlex.split(command)[1:]
    complaint = _parse(argv, capsys)
    if complaint is not None and "arguments are required" in complaint:
        # "rebuild it with `sparkdeps build`" leaves the input to the reader: supply it
        argv = [argv[0], "INPUT", *argv[1:]]
        complaint = _parse(argv, capsys)
    assert complaint is None, f"{where} suggests `{command}`, which the parser rejects: {complaint}"


@pytest.mark.parametrize("flag", ["--python-version", "--python"], ids=["current", "old"])
def test_build_and_process_deps_spell_the_python_flag_alike(flag: str) -> None:
    build = _parser().parse_args(["build", "req.txt", flag, "3.10"])
    assert build.python_version == "3.10"
    process = _parser().parse_args(
        ["process-deps", "--source", "req.txt", "--python-version", "3.10"]
    )
    assert process.python_version == "3.10"
