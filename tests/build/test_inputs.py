"""Input discovery (the six formats) and requirements-file parsing."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from sparkdeps._build.archive import ArchiveLimits
from sparkdeps._build.inputs import input_digest, prepare_input
from sparkdeps._build.requirements import parse_requirements
from sparkdeps._core.errors import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _prepare(source: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return prepare_input(source, tmp_path / "work", ArchiveLimits())


def _zip_folder(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return out


@pytest.mark.parametrize(
    ("fixture", "fmt", "field", "expected"),
    [
        (
            "requirements",
            "requirements",
            "requirement_files",
            ("requirements-extra.txt", "requirements.txt"),
        ),
        ("pure_python", "pure_python", "modules", ("sdhelpers.py", "sdpkg")),
        ("packaged_pyproject", "packaged", "projects", (".",)),
        ("packaged_setuppy", "packaged", "projects", (".",)),
        ("packaged_setupcfg", "packaged", "projects", (".",)),
        ("mixed", "mixed", "projects", ("sdmixproj",)),
        (
            "nested",
            "nested",
            "projects",
            ("sdrepo-main/libs/sdnest-a", "sdrepo-main/libs/sdnest-b"),
        ),
    ],
    ids=["requirements", "pure_python", "pyproject", "setup.py", "setup.cfg", "mixed", "nested"],
)
def test_detects_fixture_formats(
    tmp_path: Path, fixture: str, fmt: str, field: str, expected: tuple[str, ...]
) -> None:
    layout = _prepare(FIXTURES / fixture, tmp_path)
    assert layout.format == fmt
    assert getattr(layout, field) == expected


def test_existing_wheels_and_single_wheel(tmp_path: Path) -> None:
    from tests.support.wheels import make_wheel

    folder = tmp_path / "w"
    wheel = make_wheel(folder, "sdx", "1.0", {"sdx.py": ""})
    assert _prepare(folder, tmp_path / "a").format == "existing_wheels"
    single = _prepare(wheel, tmp_path / "b")
    assert single.format == "existing_wheels"
    assert single.wheels == (wheel.name,)


def test_bare_requirements_file(tmp_path: Path) -> None:
    layout = _prepare(FIXTURES / "requirements" / "requirements.txt", tmp_path)
    assert layout.format == "requirements"
    assert layout.name == "requirements"
    assert layout.requirement_files == ("requirements.txt",)


def test_wrapper_folder_in_zip(tmp_path: Path) -> None:
    archive = _zip_folder(
        FIXTURES / "packaged_pyproject", tmp_path / "proj-main.zip", prefix="proj-main/"
    )
    layout = _prepare(archive, tmp_path)
    assert layout.format == "nested"
    assert layout.wrapper == "proj-main/"
    assert layout.projects == ("proj-main",)
    assert layout.name == "proj-main"
    assert layout.to_dict()["wrapper"] == "proj-main/"


def test_requirements_in_subfolders_are_nested(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "jobs" / "a").mkdir(parents=True)
    (root / "jobs" / "a" / "requirements.txt").write_text("sdtest-gamma\n")
    (root / "requirements.txt").write_text("sdtest-beta\n")
    layout = _prepare(root, tmp_path)
    assert layout.format == "nested"
    assert layout.requirement_files == ("jobs/a/requirements.txt", "requirements.txt")


def test_digest_ignores_zip_timestamps(tmp_path: Path) -> None:
    source = FIXTURES / "pure_python"
    one = _zip_folder(source, tmp_path / "one.zip")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(
                    path.relative_to(source).as_posix(), date_time=(2001, 2, 3, 4, 5, 6)
                )
                archive.writestr(info, path.read_bytes())
    a = _prepare(one, tmp_path / "a")
    b = _prepare(tmp_path / "two.zip", tmp_path / "b")
    assert a.digest == b.digest
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    (copy / "sdhelpers.py").write_text("changed = True\n")
    assert input_digest(copy) != input_digest(source)


def test_duplicate_module_names_refused(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "util.py").write_text("")
    (root / "b" / "util.py").write_text("")
    with pytest.raises(InputError, match="util"):
        _prepare(root, tmp_path)


# --- requirements files ---------------------------------------------------------------


def _parse(tmp_path: Path, text: str, **kwargs: bool):  # type: ignore[no-untyped-def]
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return parse_requirements(path, tmp_path, **kwargs)


def test_parse_comments_continuations_includes_hashes(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("sdtest-gamma>=1  # base\n")
    (tmp_path / "pins.txt").write_text("sdtest-beta<3\n")
    parsed = _parse(
        tmp_path,
        "# top\n"
        "sdtest-alpha \\\n  ==1.0\n"
        "-r base.txt\n"
        "-c pins.txt\n"
        'sdtest-marker; python_version < "3.11"\n'
        "sdtest-hashed==1.0 --hash=sha256:" + "a" * 64 + "\n"
        "--prefer-binary\n",
    )
    texts = [line.text for line in parsed.requirements]
    assert texts == [
        "sdtest-alpha==1.0",
        'sdtest-marker; python_version < "3.11"',
        "sdtest-hashed==1.0",
        "sdtest-gamma>=1",
    ] or sorted(texts) == sorted(
        [
            "sdtest-alpha==1.0",
            'sdtest-marker; python_version < "3.11"',
            "sdtest-hashed==1.0",
            "sdtest-gamma>=1",
        ]
    )
    assert [c.text for c in parsed.constraints] == ["sdtest-beta<3"]
    hashed = next(line for line in parsed.requirements if line.requirement.name == "sdtest-hashed")
    assert hashed.hashes == ("sha256:" + "a" * 64,)
    alpha = next(line for line in parsed.requirements if line.requirement.name == "sdtest-alpha")
    assert alpha.origin == "requirements.txt:2"
    assert parsed.files == ("requirements.txt", "base.txt", "pins.txt")


@pytest.mark.parametrize(
    "line",
    [
        "--index-url http://127.0.0.1:1/simple",
        "-i http://127.0.0.1:1/simple",
        "--extra-index-url=http://127.0.0.1:1/simple",
        "--find-links /tmp",
        "--trusted-host 127.0.0.1",
        "-e .",
    ],
    ids=["index-url", "i", "extra-index-url", "find-links", "trusted-host", "editable"],
)
def test_index_options_refused_by_default(tmp_path: Path, line: str) -> None:
    with pytest.raises(InputError) as caught:
        _parse(tmp_path, f"sdtest-gamma\n{line}\n")
    message = str(caught.value)
    assert "requirements.txt:2" in message
    assert "allow_index_options" in message


def test_index_options_allowed(tmp_path: Path) -> None:
    parsed = _parse(
        tmp_path,
        "--extra-index-url http://127.0.0.1:1/simple\nsdtest-gamma\n",
        allow_index_options=True,
    )
    assert parsed.extra_index_urls == ("http://127.0.0.1:1/simple",)


@pytest.mark.parametrize(
    "line",
    [
        "git+https://127.0.0.1/x.git#egg=x",
        "./local/project",
        "x @ https://127.0.0.1/x.whl",
        "https://127.0.0.1/x-1.0.tar.gz",
    ],
    ids=["vcs", "path", "direct-url", "bare-url"],
)
def test_urls_and_paths_refused(tmp_path: Path, line: str) -> None:
    with pytest.raises(InputError, match=r"requirements\.txt:1"):
        _parse(tmp_path, line + "\n")


def test_include_outside_input_refused(tmp_path: Path) -> None:
    inner = tmp_path / "in"
    inner.mkdir()
    (tmp_path / "outside.txt").write_text("sdtest-gamma\n")
    (inner / "requirements.txt").write_text("-r ../outside.txt\n")
    with pytest.raises(InputError, match="outside the input"):
        parse_requirements(inner / "requirements.txt", inner)


def test_invalid_requirement(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a valid requirement"):
        _parse(tmp_path, "sdtest-gamma >>>= 1\n")
