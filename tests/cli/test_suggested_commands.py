"""Every ``sparkdeps ...`` command that a message in the library suggests parses with
the real command-line parser: a fix hint never names a flag or command that is gone."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from sparkdeps._cli import build_parser

SRC = Path(__file__).resolve().parents[2] / "src" / "sparkdeps"
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


def _message_strings(tree: ast.AST) -> list[ast.expr]:
    """Every string literal but docstrings: messages, hints, help texts, the parts they
    are assembled from (a docstring describes a command; it does not suggest one)."""
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found: list[ast.expr] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.JoinedStr):
            found.append(node)  # its parts are read through _text, not one by one
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.append(node)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
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
        build_parser().parse_args(argv)
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
    build = build_parser().parse_args(["build", "req.txt", flag, "3.10"])
    assert build.python_version == "3.10"
    process = build_parser().parse_args(
        ["process-deps", "--source", "req.txt", "--python-version", "3.10"]
    )
    assert process.python_version == "3.10"
