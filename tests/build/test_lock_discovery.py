"""Finding locks in an input, choosing one per folder, and Poetry's constraints (no index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkdeps._build.archive import ArchiveLimits
from sparkdeps._build.inputs import prepare_input
from sparkdeps._build.locks import _choose
from sparkdeps._build.poetry import poetry_allows
from sparkdeps._core.errors import InputError, LockError


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PYPROJECT = '[project]\nname = "p"\nversion = "1"\n'


@pytest.mark.parametrize(
    ("files", "locks", "beside", "fmt"),
    [
        pytest.param({"pylock.toml": ""}, ["pylock.toml"], [], "requirements", id="lone-pylock"),
        pytest.param(
            {"pylock.dev.toml": "", "m.py": ""},
            ["pylock.dev.toml"],
            [],
            "mixed",
            id="named-pylock-and-module",
        ),
        pytest.param(
            {
                "pyproject.toml": PYPROJECT,
                "uv.lock": "",
                "requirements.txt": "x\n",
                "requirements-dev.txt": "y\n",
            },
            ["uv.lock"],
            ["requirements.txt"],
            "packaged",
            id="project-uv-lock",
        ),
        pytest.param(
            {
                "proj/pyproject.toml": PYPROJECT,
                "proj/poetry.lock": "",
                "proj/constraints.txt": "x==1\n",
                "requirements.txt": "z\n",
            },
            ["proj/poetry.lock"],
            ["proj/constraints.txt"],
            "mixed",
            id="subfolder-project-with-poetry-lock",
        ),
        pytest.param(
            {"pyproject.toml": PYPROJECT, "src/p/__init__.py": ""},
            [],
            [],
            "packaged",
            id="project-without-lock",
        ),
    ],
)
def test_locks_and_files_beside_projects_are_found(
    tmp_path: Path, files: dict[str, str], locks: list[str], beside: list[str], fmt: str
) -> None:
    source = _tree(tmp_path / "source", files)
    layout = prepare_input(source, tmp_path / "work", ArchiveLimits())
    assert list(layout.locks) == locks
    assert list(layout.beside_projects) == beside
    assert layout.format == fmt
    if locks:
        assert layout.to_dict()["locks"] == locks


def test_a_lock_file_alone_is_an_input(tmp_path: Path) -> None:
    lock = _tree(tmp_path, {"uv.lock": "version = 1\n"}) / "uv.lock"
    layout = prepare_input(lock, tmp_path / "work", ArchiveLimits())
    assert layout.locks == ("uv.lock",)
    assert layout.format == "requirements"


def test_a_random_toml_is_not_a_lock(tmp_path: Path) -> None:
    source = _tree(tmp_path / "source", {"config.toml": "a = 1\n"})
    with pytest.raises(InputError, match=r"pylock\.toml"):
        prepare_input(source, tmp_path / "work", ArchiveLimits())


def test_one_lock_rules_a_folder() -> None:
    chosen, ignored = _choose(["a/uv.lock", "a/poetry.lock", "a/pylock.toml", "b/poetry.lock"])
    assert chosen == ["a/pylock.toml", "b/poetry.lock"]
    assert ignored == ["a/uv.lock", "a/poetry.lock"]
    assert _choose(["pylock.x.toml", "uv.lock"]) == (["pylock.x.toml"], ["uv.lock"])
    with pytest.raises(LockError, match=r"keep one, or name the one to use pylock\.toml"):
        _choose(["pylock.a.toml", "pylock.b.toml"])


@pytest.mark.parametrize(
    ("constraint", "version", "allowed"),
    [
        ("^3.10", "3.10.12", True),
        ("^3.10", "4.0.0", False),
        ("~3.10", "3.11.0", False),
        ("~3", "3.12.1", True),
        (">=3.8,<4.0", "3.11.0", True),
        (">=3.8 <3.11", "3.11.0", False),
        (">=3.12 || <3.10", "3.9.18", True),
        ("3.10.*", "3.10.2", True),
        ("^0.2.3", "0.3.0", False),
        ("*", "3.13.0", True),
        ("", "3.13.0", True),
    ],
    ids=str,
)
def test_poetry_constraints(constraint: str, version: str, allowed: bool) -> None:
    assert poetry_allows(constraint, version) is allowed


def test_uv_lock_without_its_project_names_the_fix(tmp_path: Path) -> None:
    """uv reads a lock through its project: a lone uv.lock fails before any index is asked."""
    from sparkdeps._build.publish import build

    lock = _tree(tmp_path / "source", {"uv.lock": "version = 1\n"}) / "uv.lock"
    with pytest.raises(InputError, match=r"uv\.lock has no pyproject\.toml beside it"):
        build(
            lock,
            dest=tmp_path / "dest",
            cache_dir=tmp_path / "cache",
            index_url="http://127.0.0.1:9/simple/",
        )
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())
