"""``_core/wheelhouse``: the same wheels and manifest give the same bytes; reading checks the
manifest against what is inside."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import IntegrityError
from sparkdeps._core.manifest import MANIFEST_NAME, Manifest, inspect_wheel
from sparkdeps._core.wheelhouse import (
    PYLOCK_NAME,
    read_manifest,
    read_member,
    write_wheelhouse,
)


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    return [
        make_wheel(tmp_path / "w", "sdcore-b", "1.0", {"sdcore_b.py": "B = 1\n"}),
        make_wheel(tmp_path / "w", "sdcore-a", "2.0", {"sdcore_a/__init__.py": ""}),
    ]


def _manifest(wheels: list[Path]) -> Manifest:
    return Manifest(
        format="requirements",
        target={"python_version": "3.11"},
        wheels=tuple(inspect_wheel(path) for path in wheels),
        input_digest="1" * 64,
        sparkdeps_version="9.9",
    )


def test_same_input_same_bytes_and_layout(wheels: list[Path], tmp_path: Path) -> None:
    manifest = _manifest(wheels)
    one = tmp_path / "one.zip"
    digest = write_wheelhouse(wheels, manifest, one, extra={PYLOCK_NAME: b"lock"})
    other = tmp_path / "other.zip"
    write_wheelhouse(list(reversed(wheels)), manifest, other, extra={PYLOCK_NAME: b"lock"})
    assert one.read_bytes() == other.read_bytes()
    assert digest == hashlib.sha256(one.read_bytes()).hexdigest()
    with zipfile.ZipFile(one) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == [
        MANIFEST_NAME,
        PYLOCK_NAME,
        "wheels/sdcore_a-2.0-py3-none-any.whl",
        "wheels/sdcore_b-1.0-py3-none-any.whl",
    ]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.compress_type for i in infos[2:]] == [zipfile.ZIP_STORED] * 2
    assert read_manifest(one).to_json() == manifest.to_json()
    assert read_member(one, PYLOCK_NAME) == b"lock" and read_member(one, "absent") is None


def test_writing_refuses_a_manifest_that_lists_other_wheels(
    wheels: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(IntegrityError, match="disagree"):
        write_wheelhouse(wheels[:1], _manifest(wheels), tmp_path / "w.zip")


@pytest.mark.parametrize(
    ("added", "match"),
    [
        ("wheels/sneaky-1.0-py3-none-any.whl", r"present but not listed: \['sneaky"),
        # code that would run on every executor: only what the build listed (and hashed)
        ("bytecode/cpython-311.zip", r"bytecode \(bytecode/cpython-311.zip\) is not"),
    ],
    ids=["wheel", "bytecode"],
)
def test_reading_refuses_a_wheelhouse_changed_after_the_build(
    wheels: list[Path], tmp_path: Path, added: str, match: str
) -> None:
    path = tmp_path / "w.zip"
    write_wheelhouse(wheels, _manifest(wheels), path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(added, b"")
    with pytest.raises(IntegrityError, match=match):
        read_manifest(path, origin="dbfs:/r/wheelhouse.zip")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a zip", "not a valid zip archive"),
        (None, "has no manifest.json"),
    ],
    ids=["not-zip", "no-manifest"],
)
def test_reading_refuses_what_is_not_a_wheelhouse(
    tmp_path: Path, content: bytes | None, match: str
) -> None:
    path = tmp_path / "w.zip"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("wheels/x-1.0-py3-none-any.whl", b"")
    else:
        path.write_bytes(content)
    with pytest.raises(IntegrityError, match=match) as caught:
        read_manifest(path)
    assert "sparkdeps build" in str(caught.value)
