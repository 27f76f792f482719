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
