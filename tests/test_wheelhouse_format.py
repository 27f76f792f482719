"""The wheelhouse format's JSON Schemas (docs/reference/schemas/) hold for real build
output, reject what the specification forbids, and match the specification's tables."""

from __future__ import annotations

import copy
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import sparkdeps

if sys.version_info >= (3, 11):
    import tomllib
else:  # the build extra brings tomli there
    import tomli as tomllib

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "docs" / "reference" / "schemas"
SPEC = REPO / "docs" / "reference" / "wheelhouse-format.md"
INPUTS = REPO / "examples" / "inputs"


def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, index_url: str
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(manifest, run.json, pylock.toml) of three real builds: loose modules for a
    runtime profile (runtime-aware, no index), index packages for the host, and a
    project beside them (built from the input)."""
    source = tmp_path_factory.mktemp("input")
    (source / "requirements.txt").write_text("sdtest-alpha\nsdtest-marker\n")
    builds = [
        sparkdeps.build(
            INPUTS / "pure_python",
            dest=tmp_path_factory.mktemp("runs"),
            target="dbr-14.3",
            no_index=True,
        ),
        sparkdeps.build(
            source / "requirements.txt", dest=tmp_path_factory.mktemp("runs"), index_url=index_url
        ),
        sparkdeps.build(
            INPUTS / "packaged", dest=tmp_path_factory.mktemp("runs"), index_url=index_url
        ),
    ]
    out = []
    for result in builds:
        zip_path = Path(result.uri)
        with zipfile.ZipFile(zip_path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            pylock = tomllib.loads(archive.read("pylock.toml").decode("utf-8"))
        marker = json.loads((zip_path.parent / "run.json").read_text(encoding="utf-8"))
        out.append((manifest, marker, pylock))
    return out


@pytest.mark.network
def test_real_build_output_is_valid(
    published: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
) -> None:
    manifest_schema, run_schema, pylock_schema = (
        _validator("manifest"),
        _validator("run"),
        _validator("pylock"),
    )
    sources = set()
    for manifest, marker, pylock in published:
        manifest_schema.validate(manifest)
        run_schema.validate(marker)
        pylock_schema.validate(pylock)
        sources |= {wheel["source"] for wheel in manifest["wheels"]}
        # what the schema cannot say: the three files agree
        assert {w["filename"] for w in manifest["wheels"]} == {
            p["wheels"][0]["name"] for p in pylock["packages"]
        }
        assert marker["input_digest"] == manifest["input_digest"]
    assert "runtime" in published[0][0]  # the runtime-aware build
    assert {"generated", "index", "built"} <= sources


@pytest.mark.network
@pytest.mark.parametrize(
    ("which", "change"),
    [
        ("manifest", lambda m, r, p: m.update(schema=2)),
        ("manifest", lambda m, r, p: m["wheels"][0].update(sha256="ABC")),
        ("manifest", lambda m, r, p: m["wheels"][0].update(source="somewhere")),
        ("manifest", lambda m, r, p: m["target"].update(arch="ppc64le")),
        ("manifest", lambda m, r, p: m.pop("inputs")),
        ("manifest", lambda m, r, p: m["runtime"]["relied_on"].append({"name": "numpy"})),
        ("run", lambda m, r, p: r.update(created="yesterday")),
        ("run", lambda m, r, p: r.update(digest="0" * 63)),
        ("pylock", lambda m, r, p: p["packages"][0]["wheels"][0].update(path="/etc/x.whl")),
        ("pylock", lambda m, r, p: p.update({"lock-version": "2.0"})),
    ],
    ids=[
        "schema-2",
        "sha256-case",
        "unknown-source",
        "unknown-arch",
        "no-inputs",
        "relied-on-without-version",
        "created-not-a-time",
        "short-digest",
        "wheel-outside-the-zip",
        "lock-version",
    ],
)
def test_schema_rejects(
    published: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
    which: str,
    change: Any,
) -> None:
    manifest, marker, pylock = copy.deepcopy(published[0])
    change(manifest, marker, pylock)
    document = {"manifest": manifest, "run": marker, "pylock": pylock}[which]
    with pytest.raises(jsonschema.ValidationError):
        _validator(which).validate(document)


def _schema_keys(schema: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(schema, dict):
        for name, value in schema.get("properties", {}).items():
            keys.add(name)
            keys |= _schema_keys(value)
        for key in ("items", "$defs"):
            if key in schema:
                inner = schema[key]
                for value in inner.values() if key == "$defs" else [inner]:
                    keys |= _schema_keys(value)
    return keys


@pytest.mark.parametrize("name", ["manifest", "run", "pylock"])
def test_specification_describes_every_schema_key(name: str) -> None:
    spec = SPEC.read_text(encoding="utf-8")
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    described = set(re.findall(r"`([\w.-]+)`", spec))
    missing = sorted(key for key in _schema_keys(schema) if key not in described)
    assert not missing, f"{name}.schema.json keys the specification does not describe"
