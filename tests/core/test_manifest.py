"""``_core/manifest``: top-level names, what a wheel's file name and METADATA must agree on,
and a manifest that reads back as written and refuses anything else."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import IntegrityError
from sparkdeps._core.manifest import (
    Bytecode,
    Manifest,
    WheelInfo,
    inspect_wheel,
    same_version,
    top_level_names,
)


@pytest.mark.parametrize(
    ("members", "names"),
    [
        (["pkg/__init__.py", "pkg/sub/m.py"], ("pkg",)),
        (
            ["single.py", "fast.cpython-311-x86_64-linux-gnu.so", "win.pyd"],
            ("fast", "single", "win"),
        ),
        (["ns/part/m.py"], ("ns",)),  # a namespace package: code below, no __init__
        (["data/readme.txt", "pkg-1.0.dist-info/METADATA"], ()),
        (
            ["w-1.0.data/purelib/lib/m.py", "w-1.0.data/scripts/tool", "w-1.0.data/headers/h.h"],
            ("lib",),
        ),
        (["w-1.0.data/platlib/top.py"], ("top",)),
        (["not-an-identifier/m.py", "1st.py", "__pycache__/x.pyc"], ()),
        (["pkg/__pycache__/m.cpython-311.pyc"], ("pkg",)),
    ],
    ids=[
        "package",
        "single-files",
        "namespace",
        "no-code",
        "data-purelib",
        "data-platlib",
        "not-identifiers",
        "only-bytecode",
    ],
)
def test_top_level_names(members: list[str], names: tuple[str, ...]) -> None:
    assert top_level_names(members) == names


def test_inspect_wheel(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "Sd_Core.Probe",
        "1.0",
        {"sdcore_probe/__init__.py": "", "sdcore_probe/x.py": ""},
        requires=["six>=1.0", 'tomli; python_version < "3.11"'],
    )
    info = inspect_wheel(wheel, source="provided")
    assert (info.name, info.version, info.tags) == ("sd-core-probe", "1.0", ("py3-none-any",))
    assert info.top_level == ("sdcore_probe",)
    assert info.requires == ("six>=1.0", 'tomli; python_version < "3.11"')
    assert info.size == wheel.stat().st_size and len(info.sha256) == 64
    assert info.is_pure and info.source == "provided"
    assert [str(r.name) for r in info.requirements()] == ["six", "tomli"]


def test_metadata_version_may_be_spelled_otherwise(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "sdcore-v", "1.0", {"m.py": ""}, metadata_version="1.0.0")
    assert inspect_wheel(wheel).version == "1.0"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metadata_name": "other"}, "its METADATA says other"),
        ({"metadata_version": "2.0"}, "its METADATA says"),
        ({"requires": ["six >>= 1"]}, "invalid Requires-Dist"),
    ],
    ids=["other-name", "other-version", "bad-requirement"],
)
def test_inspect_wheel_refuses_a_lying_wheel(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    wheel = make_wheel(tmp_path, "sdcore-liar", "1.0", {"m.py": ""}, **kwargs)
    with pytest.raises(IntegrityError, match=match):
        inspect_wheel(wheel)


def test_inspect_wheel_refuses_broken_files(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="not a valid wheel file name"):
        inspect_wheel(tmp_path / "nonsense.whl")
    bad = tmp_path / "sdcore_bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(IntegrityError, match="not a valid zip"):
        inspect_wheel(bad)
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("sdcore_bad-1.0.dist-info/METADATA", "Name: sdcore-bad\nVersion: 1.0\n")
    with pytest.raises(IntegrityError, match="WHEEL"):
        inspect_wheel(bad)
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("a-1.0.dist-info/METADATA", "")
        archive.writestr("b-1.0.dist-info/METADATA", "")
    with pytest.raises(IntegrityError, match=r"2 \.dist-info folders"):
        inspect_wheel(bad)


def _info(filename: str, **changes: Any) -> WheelInfo:
    name = filename.split("-", maxsplit=1)[0].replace("_", "-")
    values: dict[str, Any] = {
        "filename": filename,
        "name": name,
        "version": filename.split("-")[1],
        "sha256": "0" * 64,
        "size": 10,
        "tags": ("py3-none-any",),
        "top_level": (name.replace("-", "_"),),
    }
    values.update(changes)
    return WheelInfo(**values)


def _manifest(*wheels: WheelInfo, **changes: Any) -> Manifest:
    values: dict[str, Any] = {
        "format": "requirements",
        "target": {"python_version": "3.11"},
        "wheels": wheels,
        "input_digest": "1" * 64,
        "sparkdeps_version": "9.9",
    }
    values.update(changes)
    return Manifest(**values)


_BYTECODE = {
    "cache_tag": "cpython-311",
    "magic": "a70d0d0a",
    "sha256": "2" * 64,
    "size": 7,
    "modules": 3,
}


def test_bytecode_round_trips_and_names_its_member() -> None:
    manifest = _manifest(_info("a-1.0-py3-none-any.whl"), bytecode=Bytecode.from_dict(_BYTECODE))
    back = Manifest.from_json(manifest.to_json())
    assert back == manifest and back.bytecode is not None
    assert back.bytecode.member == "bytecode/cpython-311.zip"
    assert json.loads(manifest.to_json())["bytecode"] == _BYTECODE
    assert "bytecode" not in json.loads(_manifest(_info("a-1.0-py3-none-any.whl")).to_json())


def test_manifest_round_trips_deterministically() -> None:
    b = _info("b_pkg-2.0-py3-none-any.whl", runtime="shadows", shadows="1.0")
    a = _info("a_pkg-1.0-py3-none-any.whl", requires=("six",))
    one, other = _manifest(b, a), _manifest(a, b)
    assert one.to_json() == other.to_json()  # wheels sorted by file name
    back = Manifest.from_json(one.to_json())
    assert back.to_json() == one.to_json()
    assert back.top_level == ("a_pkg", "b_pkg")
    assert back.shadowed() == {"b-pkg": ("1.0", "2.0")}
    written = json.loads(one.to_json())
    assert "runtime" not in written  # absent for targets without a package set
    assert "runtime" not in written["wheels"][0] and written["wheels"][1]["runtime"] == "shadows"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"schema": True}, "schema True"),
        ({"schema": 1.0}, "schema 1.0"),
        ({"schema": "1"}, "schema '1'"),
        ({"schema": 2}, "schema 2"),
        ({"format": "tarball"}, "unknown format"),
        ({"wheels": "x"}, "malformed"),
        ({"target": None}, "malformed"),
        ({"bytecode": {**_BYTECODE, "cache_tag": "../../etc"}}, "not a cache tag"),
        ({"bytecode": {**_BYTECODE, "magic": "a70d0d0a; rm"}}, "not a cache tag"),
        ({"bytecode": {"cache_tag": "cpython-311"}}, "malformed"),
    ],
    ids=[
        "bool",
        "float",
        "string",
        "future",
        "format",
        "wheels",
        "target",
        "tag",
        "magic",
        "short",
    ],
)
def test_manifest_refuses_what_it_did_not_write(change: dict[str, Any], match: str) -> None:
    raw = json.loads(_manifest(_info("a-1.0-py3-none-any.whl")).to_json())
    raw.update(change)
    with pytest.raises(IntegrityError, match=match) as caught:
        Manifest.from_json(json.dumps(raw), origin="run/manifest.json")
    assert "run/manifest.json" in str(caught.value) and "sparkdeps build" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [("[]", "not a JSON object"), ("{", "malformed"), ("{}", "schema None")],
    ids=["list", "truncated", "empty-object"],
)
def test_manifest_refuses_non_manifests(text: str, match: str) -> None:
    with pytest.raises(IntegrityError, match=match):
        Manifest.from_json(text)


def test_manifest_refuses_a_wheel_listed_twice() -> None:
    wheel = _info("a-1.0-py3-none-any.whl")
    raw = json.loads(_manifest(wheel).to_json())
    raw["wheels"] *= 2
    with pytest.raises(IntegrityError, match=r"listed twice: a-1\.0-py3-none-any\.whl"):
        Manifest.from_json(json.dumps(raw))


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("1.0", "1.0.0", True),
        ("1.0", "1.0.post0", False),
        ("2.3.1+cpu", "2.3.1+cpu", True),
        ("2.3.1+cpu", "2.3.1", False),
        ("1.1build1", "1.1build1", True),  # not PEP 440: compared as text
        ("1.1build1", "1.1", False),
    ],
    ids=["zero-padding", "post", "local", "local-vs-public", "legacy-same", "legacy-other"],
)
def test_same_version(left: str, right: str, same: bool) -> None:
    assert same_version(left, right) is same
