"""``_cli/errors``: a failed command on stderr and, with ``--json``, as an object whose
``fix`` is the error's own ``fix`` (set where it was raised), never text read out of
the message.

The command cases run the real command line in-process (``main``) on inputs that fail
before any package index is asked: each error type that carries a fix reaches the
JSON as a field.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema  # the dev extra has it (tests/test_wheelhouse_format.py)
import pytest
from tests.support.errors import made_error
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._cli import main
from sparkdeps._cli.errors import error_object, report
from sparkdeps._core import errors

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "sparkdeps"
SCHEMA = json.loads((REPO / "docs" / "reference" / "schemas" / "error.schema.json").read_text())


def test_the_object_carries_the_errors_own_fix() -> None:
    error = errors.StorageError("dest /x is a file, not a folder", fix="pass a folder")
    jsonschema.validate(error_object(error), SCHEMA)
    jsonschema.validate(error_object(errors.StorageError("dest /x is a file")), SCHEMA)
    assert error_object(error) == {
        "error": {
            "type": "StorageError",
            "message": "dest /x is a file, not a folder; fix: pass a folder",
            "fix": "pass a folder",
        }
    }


@pytest.mark.parametrize(
    "message",
    [
        "dest /x is a file; fix: pass a folder",
        "missing:\n  sdx\nfix: check the spelling",
        "no wheelhouse there; pass its run folder",
    ],
    ids=["fix-clause", "fix-line", "semicolon-clause"],
)
def test_a_fix_written_only_into_the_message_is_not_mined(message: str) -> None:
    # the old step read these back out of the text; a fix is now given as fix= or not at all
    assert error_object(errors.InputError(message))["error"]["fix"] is None


def test_report_prints_the_object_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    error = errors.InputError("the input is empty", fix="hand in a folder")
    report(error, as_json=False)
    plain = capsys.readouterr()
    assert plain.out == ""
    assert plain.err == "sparkdeps: error: the input is empty; fix: hand in a folder\n"
    report(error, as_json=True)
    shown = capsys.readouterr()
    assert json.loads(shown.out)["error"]["fix"] == "hand in a folder"
    assert shown.err == plain.err


# ------------------------------------------------ real commands, each error type with a fix


def _dest_is_a_file(tmp_path: Path) -> list[str]:
    (tmp_path / "file").write_text("")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdcli-a\n")
    return ["build", str(requirements), "--dest", str(tmp_path / "file"), "--no-index"]


def _not_utf8(tmp_path: Path) -> list[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"sdcli-\xff\xfe\n")
    return ["check", str(requirements), "--no-index", "--cache-dir", str(tmp_path / "c")]


def _git_versioned_without_git(tmp_path: Path) -> list[str]:
    project = tmp_path / "sdcli-scm"
    (project / "sdcli_scm").mkdir(parents=True)
    (project / "sdcli_scm" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n'
        'build-backend = "setuptools.build_meta"\n\n[project]\nname = "sdcli-scm"\n'
        'dynamic = ["version"]\n\n[tool.setuptools_scm]\n'
    )
    return ["build", str(project), "--dest", str(tmp_path / "d"), "--no-index",
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip


def _malformed_lock(tmp_path: Path) -> list[str]:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "requirements.txt").write_text("sdcli-a\n")
    (folder / "pylock.toml").write_text('lock-version = "1.0"\npackages = "not a list"\n')
    return ["check", str(folder), "--no-index", "--cache-dir", str(tmp_path / "c")]


def _two_named_locks(tmp_path: Path) -> list[str]:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "requirements.txt").write_text("sdcli-a\n")
    for name in ("pylock.a.toml", "pylock.b.toml"):
        (folder / name).write_text('lock-version = "1.0"\n')
    return ["check", str(folder), "--no-index", "--cache-dir", str(tmp_path / "c")]


def _foreign_wheel(tmp_path: Path) -> list[str]:
    folder = tmp_path / "wheels"
    make_wheel(folder, "sdcli-native", "1.0", {"sdcli_native/__init__.py": ""},
               tag="cp311-cp311-win_amd64")  # fmt: skip
    return ["check", str(folder), "--target", "dbr-14.3", "--no-index",
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip


def _cache_others_can_write(tmp_path: Path) -> list[str]:
    wheel = make_wheel(tmp_path / "wheels", "sdcli-a", "1.0", {"sdcli_a/__init__.py": ""})
    zip_path = make_wheelhouse(tmp_path / "runs", [wheel])
    installs = tmp_path / "cache" / "node" / "installs"  # where load() installs
    installs.mkdir(parents=True)
    installs.chmod(0o777)
    return ["load", str(zip_path), "--cache-dir", str(tmp_path / "cache")]


CASES: dict[str, tuple[Callable[[Path], list[str]], str, str]] = {
    # id: (the command, the error type, how its fix starts)
    "storage": (_dest_is_a_file, "StorageError", "pass a folder for --dest"),
    "input": (_not_utf8, "InputError", "save it as UTF-8 text"),
    "build": (_git_versioned_without_git, "BuildError", "pass the version"),
    "lock": (_two_named_locks, "LockError", "keep one"),
    "incompatible-wheel": (_foreign_wheel, "IncompatibleWheelError", "provide a wheel"),
    "lock-text": (_malformed_lock, "InputError", "regenerate"),
    "private-cache": (_cache_others_can_write, "StorageError", "make it private"),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_a_failed_command_reports_the_fix_as_a_field(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, kind, fix = CASES[case]
    argv = command(tmp_path)
    capsys.readouterr()
    assert main([*argv, "--json"]) == 1
    shown = capsys.readouterr()
    printed = json.loads(shown.out)
    jsonschema.validate(printed, SCHEMA)  # docs/reference/schemas/error.schema.json
    error = printed["error"]
    assert error["type"] == kind
    assert error["fix"].startswith(fix), error
    assert "fix:" not in error["fix"]
    assert error["message"].endswith(error["fix"])  # the person's text keeps the fix
    assert f"fix: {error['fix']}" in shown.err


# ------------------------------------------------ no code reads a fix out of a message


_TEXT_READERS = {"split", "rsplit", "partition", "rpartition", "find", "rfind", "index",
                 "rindex", "startswith", "endswith", "compile", "search", "match",
                 "fullmatch", "finditer", "findall", "sub"}  # fmt: skip


def _reads_fix_from_text(tree: ast.AST) -> list[int]:
    """Lines that look for ``fix`` in text: ``"fix:" in text``, ``text.split("fix:")``,
    ``re.compile(r"...fix...")``."""
    found = []
    for node in ast.walk(tree):
        compared = isinstance(node, ast.Compare) and _says_fix(node.left)
        searched = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _TEXT_READERS
            and any(_says_fix(arg) for arg in node.args)
        )
        if compared or searched:
            found.append(node.lineno)
    return found


def _says_fix(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and "fix" in node.value


def test_no_module_reads_a_fix_out_of_a_message() -> None:
    readers = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if (lines := _reads_fix_from_text(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert readers == {}


def test_the_scan_finds_the_old_mining() -> None:
    old = 'import re\n_FIX = re.compile(r"(?:^|[\\s;(])fix(?: it)?:\\s*(?P<fix>.+)")\n'
    assert _reads_fix_from_text(ast.parse(old)) == [2]
    assert _reads_fix_from_text(ast.parse('ok = "fix:" in str(exc)\n')) == [1]


@pytest.mark.parametrize("name", errors.__all__, ids=str)
def test_every_error_type_reaches_the_object_with_its_fix(name: str) -> None:
    printed = error_object(made_error(name, "hand in a folder"))
    jsonschema.validate(printed, SCHEMA)
    assert printed["error"]["type"] == name
    assert printed["error"]["fix"] == "hand in a folder"
    assert error_object(made_error(name, None))["error"]["fix"] is None


@pytest.fixture(autouse=True)
def _no_index_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "SPARKDEPS_")):
            monkeypatch.delenv(name)


def _fix_clauses(tree: ast.AST) -> list[int]:
    """Lines of string literals (f-string parts too) that write a ``fix:`` clause."""
    clause = re.compile(r"(?:^|[\s;(])fix(?: it)?: ", re.IGNORECASE)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and clause.search(node.value)
    ]


def test_every_fix_is_given_as_fix_not_written_into_a_message() -> None:
    """Only ``SparkdepsError`` writes ``fix:`` (when it shows ``fix``); a raiser that wrote
    it into its message would give ``--json`` a null ``fix`` for an error that has one."""
    writers = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if (lines := _fix_clauses(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert set(writers) == {"_core/errors.py"}, writers
    assert _fix_clauses(ast.parse('raise E(f"{x} is a file; fix: pass a folder")\n')) == [1]
