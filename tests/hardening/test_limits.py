"""Limits and names at the build's doors that the corpus does not reach through build()."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from sparkdeps._build.wheels import check_record, make_pure_wheel
from sparkdeps._core.errors import InputError


def test_generated_record_quotes_names_with_commas_and_quotes(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / 'data,"1".txt').write_text("x")
    wheel = make_pure_wheel(root, ["pkg"], "sdhard-commas", tmp_path / "out")
    check_record(wheel)  # every member listed under its own name, with its hash
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith("/RECORD"))
        rows = list(csv.reader(io.StringIO(archive.read(record).decode())))
    assert [row[0] for row in rows if "data" in row[0]] == ['pkg/data,"1".txt']


@pytest.mark.parametrize(
    "name",
    ["../../x", "a/b", "-lead", "trail-", "", "sp ace", "new\nline"],
    ids=["dotdot", "slash", "leading-dash", "trailing-dash", "empty", "space", "newline"],
)
def test_name_must_be_a_distribution_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "mod.py").write_text("X = 1\n")
    with pytest.raises(InputError, match="not a usable distribution name"):
        make_pure_wheel(tmp_path, ["mod.py"], name, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_quoted_marker_value_is_not_an_option(tmp_path: Path) -> None:
    """Issue 10, section 7: ' -b' inside a quoted marker value is not an option."""
    from sparkdeps._build.requirements import parse_requirements

    path = tmp_path / "requirements.txt"
    path.write_text('sdhard-dep ; python_version != "a -b"\n')
    parsed = parse_requirements(path, tmp_path)
    [line] = parsed.requirements
    assert line.requirement.name == "sdhard-dep"
    assert str(line.requirement.marker) == 'python_version != "a -b"'


def test_variables_are_expanded_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10, section 7: ${VAR} expands as in pip; a message shows ${VAR}, not its value."""
    from sparkdeps._build.requirements import parse_requirements

    monkeypatch.setenv("SDHARD_PIN", "==1.0")
    monkeypatch.setenv("SDHARD_TOKEN", "tok-hunter2-hardening")
    path = tmp_path / "requirements.txt"
    path.write_text("sdhard-dep${SDHARD_PIN}\n")
    [line] = parse_requirements(path, tmp_path).requirements
    assert str(line.requirement) == "sdhard-dep==1.0"
    path.write_text("sdhard-dep --config-settings=${SDHARD_TOKEN}\n")
    with pytest.raises(InputError) as caught:
        parse_requirements(path, tmp_path)
    assert "tok-hunter2-hardening" not in str(caught.value)
    assert "${SDHARD_TOKEN}" in str(caught.value)


@pytest.mark.parametrize(
    "schema", [True, 1.9, "01", 1.0], ids=["true", "float", "string", "float-one"]
)
def test_manifest_schema_must_be_the_integer(schema: object) -> None:
    import json

    from sparkdeps._core.errors import IntegrityError
    from sparkdeps._core.manifest import Manifest
    from sparkdeps._core.target import host_target

    data = json.loads(Manifest("existing_wheels", host_target().to_dict(), (), "x").to_json())
    data["schema"] = schema
    with pytest.raises(IntegrityError, match="schema"):
        Manifest.from_json(json.dumps(data))


def test_manifest_listing_a_wheel_twice_is_refused(tmp_path: Path) -> None:
    import json

    from tests.support.wheels import make_wheel

    from sparkdeps._core.errors import IntegrityError
    from sparkdeps._core.manifest import Manifest, inspect_wheel
    from sparkdeps._core.target import host_target

    wheel = make_wheel(tmp_path, "sdhard-twice", "1.0", {"sdhard_twice.py": "X = 1\n"})
    info = inspect_wheel(wheel)
    data = json.loads(Manifest("existing_wheels", host_target().to_dict(), (info,), "x").to_json())
    data["wheels"] = data["wheels"] * 2
    with pytest.raises(IntegrityError, match="listed twice"):
        Manifest.from_json(json.dumps(data))


def test_inspect_escapes_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.wheels import make_wheel

    from sparkdeps._cli import main
    from sparkdeps._core.manifest import Manifest, inspect_wheel
    from sparkdeps._core.target import host_target
    from sparkdeps._core.wheelhouse import write_wheelhouse

    wheel = make_wheel(tmp_path, "sdhard-ansi", "1.0", {"sdhard_ansi.py": "X = 1\n"})
    manifest = Manifest(
        "existing_wheels",
        host_target().to_dict(),
        (inspect_wheel(wheel),),
        "digest\x1b[2J\u202e",
        sparkdeps_version="1.0\x1b[31m",
    )
    out = tmp_path / "wheelhouse.zip"
    write_wheelhouse([wheel], manifest, out)
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "\\u001b[31m" in shown and "\\u202e" in shown
