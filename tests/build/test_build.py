"""build() for every input format, against a real PEP 503 index on 127.0.0.1."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.builds import local_build, pins
from tests.support.index import IndexServer
from tests.support.wheels import make_cext_wheel, make_wheel

from sparkdeps._build.publish import build
from sparkdeps._core.databricks import set_dbutils
from sparkdeps._core.errors import BuildError
from sparkdeps._core.manifest import Manifest
from sparkdeps._core.results import BuildResult
from sparkdeps._core.target import choose_target, host_target

pytestmark = pytest.mark.network

HOST = host_target()
HOST_OLD = HOST.version_tuple < (3, 11)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "inputs"


def check_wheelhouse(result: BuildResult) -> Manifest:
    """The published file matches the result: manifest, hashes, sizes, tags for the target."""
    path = Path(result.uri)
    assert path.is_file()
    assert path.parent.name == result.run_id
    assert hashlib.sha256(path.read_bytes()).hexdigest() == result.digest
    run = json.loads((path.parent / "run.json").read_text())
    assert run["run_id"] == result.run_id
    assert run["input_digest"] == result.manifest.input_digest
    assert run["digest"] == result.digest
    with zipfile.ZipFile(path) as archive:
        manifest = Manifest.from_json(archive.read("manifest.json"))
        inside = {n[len("wheels/") :] for n in archive.namelist() if n.startswith("wheels/")}
        assert inside == {w.filename for w in manifest.wheels}
        for wheel in manifest.wheels:
            data = archive.read(f"wheels/{wheel.filename}")
            assert hashlib.sha256(data).hexdigest() == wheel.sha256
            assert len(data) == wheel.size
            assert result.target.accepts(wheel.tag_set), wheel.filename
    assert manifest.format == result.format
    assert manifest.target == result.target.to_dict()
    recorded = json.dumps(manifest.to_dict())
    # no index (nor any other URL) is recorded, under any key: it may carry credentials
    assert "127.0.0.1" not in recorded
    assert "://" not in recorded
    return manifest


def test_requirements(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    source = fixture_project("requirements") / "requirements.txt"
    result = local_build(source, tmp_path, index)
    manifest = check_wheelhouse(result)
    assert result.format == "requirements"
    expected = {
        "sdtest-alpha": "1.0",
        "sdtest-beta": "1.0",
        "sdtest-gamma": "1.0",
        "sdtest-marker": "1.0",
    }
    if HOST_OLD:
        expected["sdtest-oldpy"] = "1.0"
    assert pins(result) == expected
    for wheel in manifest.wheels:
        assert wheel.tags == ("py3-none-any",)
        assert wheel.source == "index"
        assert wheel.top_level == (wheel.name.replace("-", "_"),)
    assert manifest.inputs["requirements"] == ["requirements.txt"]
    assert set(result.timings) >= {
        "input",
        "resolve",
        "download",
        "build",
        "wheelhouse",
        "publish",
        "total",
    }
    assert not result.cached


def test_requirements_folder_with_include(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    result = local_build(fixture_project("requirements"), tmp_path, index)
    assert result.format == "requirements"
    assert sorted(result.manifest.inputs["requirements"]) == [
        "requirements-extra.txt",
        "requirements.txt",
    ]
    assert "sdtest-gamma" in pins(result)


def test_pure_python(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    folder = fixture_project("pure_python")
    result = local_build(folder, tmp_path, index)
    check_wheelhouse(result)
    assert result.format == "pure_python"
    (wheel,) = result.wheels
    assert wheel.name == "pure-python"
    assert wheel.version.startswith("0.0.0+")
    assert wheel.tags == ("py3-none-any",)
    assert wheel.top_level == ("sdhelpers", "sdpkg")
    assert wheel.source == "generated"
    with zipfile.ZipFile(Path(result.uri)) as outer:
        inner = outer.read(f"wheels/{wheel.filename}")
    generated = tmp_path / wheel.filename
    generated.write_bytes(inner)
    with zipfile.ZipFile(generated) as archive:
        names = set(archive.namelist())
    assert {"sdhelpers.py", "sdpkg/__init__.py", "sdpkg/util.py", "sdpkg/data.txt"} <= names
    # a changed file gives a new version; a chosen name is used
    (folder / "sdpkg" / "util.py").write_text("def double(value):\n    return value + value\n")
    again = local_build(folder, tmp_path, index, name="My_Helpers")
    (changed,) = again.wheels
    assert changed.name == "my-helpers"
    assert changed.version != wheel.version


@pytest.mark.parametrize(
    ("fixture", "name", "version", "deps"),
    [
        (
            "packaged_pyproject",
            "sdproj-pyproject",
            "1.2.0",
            {"sdtest-alpha", "sdtest-beta", "sdtest-gamma", "sdtest-marker"},
        ),
        ("packaged_setuppy", "sdproj-setuppy", "0.3.0", {"sdtest-gamma"}),
        ("packaged_setupcfg", "sdproj-setupcfg", "0.4.0", {"sdtest-beta", "sdtest-gamma"}),
    ],
    ids=["pyproject", "setup.py", "setup.cfg"],
)
def test_packaged(
    fixture_project,
    tmp_path: Path,
    index: IndexServer,
    fixture: str,
    name: str,
    version: str,
    deps: set[str],
) -> None:
    result = local_build(fixture_project(fixture), tmp_path, index)
    check_wheelhouse(result)
    assert result.format == "packaged"
    names = pins(result)
    assert names[name] == version
    assert set(names) - {name} - {"sdtest-oldpy"} == deps
    built = next(w for w in result.wheels if w.name == name)
    assert built.source == "built"
    assert built.tags == ("py3-none-any",)
    assert built.top_level == (name.replace("-", "_"),)
    if fixture == "packaged_setupcfg":
        assert names["sdtest-beta"] == "2.0"


def test_packaged_no_isolation(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    result = local_build(
        fixture_project("packaged_setuppy"), tmp_path, index, build_isolation=False
    )
    assert pins(result)["sdproj-setuppy"] == "0.3.0"


def test_existing_wheels(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "wheels"
    make_wheel(
        folder,
        "sdown-tool",
        "3.1",
        {"sdown_tool/__init__.py": "X = 1\n"},
        requires=["sdtest-beta>=2"],
    )
    make_cext_wheel(folder, "sdown-native", "0.5", module="sdown_native")
    result = local_build(folder, tmp_path, index)
    check_wheelhouse(result)
    assert result.format == "existing_wheels"
    assert pins(result) == {
        "sdown-tool": "3.1",
        "sdown-native": "0.5",
        "sdtest-beta": "2.0",
        "sdtest-gamma": "1.0",
    }
    native = next(w for w in result.wheels if w.name == "sdown-native")
    assert native.source == "provided"
    assert native.tags == (f"{HOST.abi}-{HOST.abi}-manylinux_2_17_x86_64",)
    assert native.top_level == ("sdown_native",)


def test_mixed(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    result = local_build(fixture_project("mixed"), tmp_path, index)
    manifest = check_wheelhouse(result)
    assert result.format == "mixed"
    assert manifest.inputs["kinds"] == ["requirements", "pure_python", "packaged"]
    assert manifest.inputs["projects"] == ["sdmixproj"]
    assert manifest.inputs["modules"] == ["sdmixmod.py"]
    names = pins(result)
    assert {
        "mixed",
        "sdmixproj",
        "sdtest-alpha",
        "sdtest-beta",
        "sdtest-gamma",
        "sdtest-marker",
    } <= set(names)
    sources = {w.name: w.source for w in result.wheels}
    assert sources["mixed"] == "generated"
    assert sources["sdmixproj"] == "built"


def _zip_folder(folder: Path, out: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            arcname = prefix + path.relative_to(folder).as_posix()
            if path.is_dir():
                continue
            archive.write(path, arcname)
    return out


def test_nested(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    repo = fixture_project("nested") / "sdrepo-main"
    vendor = tmp_path / "vendor"
    make_wheel(vendor / "wheels", "sdvendored", "1.0", {"sdvendored.py": "V = 1\n"})
    _zip_folder(vendor, repo / "vendor.zip")
    archive = _zip_folder(repo, tmp_path / "sdrepo-main.zip", prefix="sdrepo-main/")
    result = local_build(archive, tmp_path, index)
    manifest = check_wheelhouse(result)
    assert result.format == "nested"
    assert manifest.inputs["wrapper"] == "sdrepo-main/"
    assert manifest.inputs["inner_archives"] == ["sdrepo-main/vendor.zip"]
    assert manifest.inputs["projects"] == ["sdrepo-main/libs/sdnest-a", "sdrepo-main/libs/sdnest-b"]
    assert manifest.inputs["requirements"] == ["sdrepo-main/jobs/etl/requirements.txt"]
    assert manifest.inputs["wheels"] == [
        "sdrepo-main/vendor/wheels/sdvendored-1.0-py3-none-any.whl"
    ]
    names = pins(result)
    assert {"sdnest-a", "sdnest-b", "sdvendored", "sdtest-marker", "sdtest-gamma"} <= set(names)


@pytest.mark.parametrize(
    ("python", "keeps_old"), [("3.10", True), ("3.12", False)], ids=["py3.10", "py3.12"]
)
def test_cross_target_markers(
    tmp_path: Path, index: IndexServer, pythons: dict[str, Path], python: str, keeps_old: bool
) -> None:
    """From the host Python, the 3.10 wheelhouse keeps a python_version<3.11 dependency."""
    requirements = tmp_path / "requirements.txt"
    lines = ["sdtest-marker", "sdtest-alpha"]
    if python in pythons:
        lines.append("sdtest-cext")  # compiled for that interpreter in the test index
    requirements.write_text("\n".join(lines) + "\n")
    result = local_build(requirements, tmp_path, index, python_version=python, platform="x86_64")
    check_wheelhouse(result)
    assert result.target.python_version == python
    assert ("sdtest-oldpy" in pins(result)) is keeps_old
    tag = f"cp{python.replace('.', '')}"
    for wheel in result.wheels:
        assert result.target.accepts(wheel.tag_set)
        assert all(t.startswith(("py3-", f"{tag}-{tag}-")) for t in wheel.tags), wheel.tags
    if python in pythons:
        cext = next(w for w in result.wheels if w.name == "sdtest-cext")
        assert cext.tags == (f"{tag}-{tag}-manylinux_2_17_x86_64",)


def test_profile_target(tmp_path: Path, index: IndexServer) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-marker\n")
    result = local_build(requirements, tmp_path, index, target="dbr-14.3")
    assert result.target == choose_target("dbr-14.3")
    assert result.manifest.target["profile"] == "dbr-14.3"
    assert "sdtest-oldpy" in pins(result)


def test_sdist_only_pure_is_built(tmp_path: Path, index: IndexServer) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-sdistonly\nsdtest-gamma\n")
    result = local_build(requirements, tmp_path, index, python_version="3.10", platform="x86_64")
    check_wheelhouse(result)
    wheel = next(w for w in result.wheels if w.name == "sdtest-sdistonly")
    assert wheel.source == "sdist"
    assert wheel.tags == ("py3-none-any",)


def test_sdist_needing_compiler_for_foreign_target(tmp_path: Path, index: IndexServer) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-needscc\n")
    with pytest.raises(BuildError) as caught:
        local_build(requirements, tmp_path, index, python_version="3.12", platform="x86_64")
    message = str(caught.value)
    assert "sdtest-needscc" in message
    assert "fix: pin a version of sdtest-needscc" in message and "--find-links" in message
    assert caught.value.fix is not None and caught.value.fix.startswith("pin a version")
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").rglob("*.zip"))


def test_reproducible(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    folder = fixture_project("mixed")
    first = local_build(folder, tmp_path, index, use_cache=False)
    second = local_build(folder, tmp_path, index, use_cache=False)
    assert first.run_id != second.run_id
    assert first.digest == second.digest
    assert Path(first.uri).read_bytes() == Path(second.uri).read_bytes()


def test_cache_hit_makes_no_requests(fixture_project, tmp_path: Path, index: IndexServer) -> None:
    folder = fixture_project("packaged_pyproject")
    first = local_build(folder, tmp_path, index)
    assert not first.cached
    index.reset_counts()
    second = local_build(folder, tmp_path, index)
    assert second.cached
    assert index.requests == []
    assert second.digest == first.digest
    assert second.uri != first.uri
    # another target is another key
    third = local_build(folder, tmp_path, index, python_version="3.12", platform="x86_64")
    assert not third.cached
    assert index.requests


def test_unchanged_rebuild_links_the_read_only_cache_entry(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    folder = fixture_project("packaged_pyproject")
    first = local_build(folder, tmp_path, index)
    second = local_build(folder, tmp_path, index)
    assert second.cached
    (entry,) = (tmp_path / "cache" / "build").glob("*.zip")
    published = Path(second.uri)
    original = published.read_bytes()
    assert published.stat().st_ino == entry.stat().st_ino, "a hard link, not a copy"
    assert not entry.stat().st_mode & 0o222, "the cache entry is read-only"
    # An in-place edit of the published file (root ignores the read-only bits) reaches the
    # shared inode; the next build notices the entry moved and builds it again.
    with published.open("r+b") as handle:
        handle.seek(0, 2)
        handle.write(b"edited in place")
    third = local_build(folder, tmp_path, index)
    assert not third.cached
    assert third.digest == first.digest
    assert Path(third.uri).read_bytes() == original


def test_dest_from_env_and_run_id(
    tmp_path: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-gamma\n")
    monkeypatch.setenv("SPARKDEPS_DEST", (tmp_path / "fromenv").as_uri())
    result = build(requirements, run_id="run-1", index_url=index.url, cache_dir=tmp_path / "cache")
    assert result.uri == (tmp_path / "fromenv").as_uri() + "/run-1/wheelhouse.zip"
    assert (tmp_path / "fromenv" / "run-1" / "wheelhouse.zip").is_file()


def test_task_value_set_on_databricks(tmp_path: Path, index: IndexServer) -> None:
    from tests.support.dbutils_standin import StandinDbutils

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sdtest-gamma\n")
    standin = StandinDbutils(tmp_path / "dbfs", task_key="process_deps")
    set_dbutils(standin)
    try:
        result = local_build(
            requirements, tmp_path, index, dest="dbfs:/deps", task_value_key="deps_path"
        )
    finally:
        set_dbutils(None)
    assert result.task_value_set
    assert result.uri == f"dbfs:/deps/{result.run_id}/wheelhouse.zip"
    assert (tmp_path / "dbfs" / "deps" / result.run_id / "wheelhouse.zip").is_file()
    # the task value carries the digest: load refuses a wheelhouse swapped after the build
    assert standin.jobs.taskValues.get("process_deps", "deps_path") == (
        f"{result.uri}#sha256={result.digest}"
    )


def _prepare_example(folder: Path, tmp_path: Path) -> Path:
    """The input as examples/main_job.py hands it in (zipped, wheels built...), by its own
    ``prepare``: the example and this test cannot drift apart."""
    name = "sparkdeps_example_main_job"
    main_job = sys.modules.get(name)
    if main_job is None:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES.parent / "main_job.py")
        assert spec is not None and spec.loader is not None
        main_job = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(main_job)
    example = main_job.Example(
        folder.name, folder, json.loads((folder / "example.json").read_text())
    )
    return main_job.prepare(example, tmp_path)


EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir()) if EXAMPLES.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_NAMES or ["absent"], ids=EXAMPLE_NAMES or ["absent"])
def test_examples_build(
    example: str, tmp_path: Path, index: IndexServer, package_dir: Path
) -> None:
    folder = EXAMPLES / example
    # every format has an example input: a missing one fails rather than skips
    assert (folder / "example.json").is_file(), f"examples/inputs/{example}/example.json is missing"
    spec = json.loads((folder / "example.json").read_text())
    extra = tmp_path / "extra-links"
    from tests.support.wheels import mirror_installed

    mirror_installed(["tzdata"], extra)  # the mixed example's PyPI dependency
    source = _prepare_example(folder, tmp_path)
    result = local_build(source, tmp_path, index, find_links=[str(extra)])
    check_wheelhouse(result)
    assert result.format == spec["format"]
    tops = set(result.manifest.top_level)
    for module in spec["modules"]:
        assert module.split(".")[0] in tops
    assert len(result.wheels) >= spec.get("min_wheels", 1)
    # the wheels work: unzip them and evaluate the example's checks on this interpreter
    site = tmp_path / "site"
    with zipfile.ZipFile(Path(result.uri)) as outer:
        for wheel in result.wheels:
            data = outer.read(f"wheels/{wheel.filename}")
            path = tmp_path / wheel.filename
            path.write_bytes(data)
            with zipfile.ZipFile(path) as inner:
                inner.extractall(site)
    imports = "; ".join(f"import {m}" for m in spec["modules"])
    for check in spec.get("checks", []):
        code = f"{imports}; import json; print(json.dumps({check['expr']}))"
        out = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        assert json.loads(out.stdout) == check["expect"], check["expr"]


def test_shared_cache_between_concurrent_builds(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    folder = fixture_project("requirements")
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda n: local_build(folder, tmp_path, index, run_id=f"c{n}"), (1, 2))
        )
    assert results[0].digest == results[1].digest
    entries = sorted(
        path for path in (tmp_path / "cache" / "build").iterdir() if path.suffix != ".lock"
    )
    # one entry, its digest and its stat record, no partial files left (and its lock)
    assert [p.suffix for p in entries] == [".json", ".sha256", ".zip"]
    assert entries[1].read_text().strip() == results[0].digest
    assert json.loads(entries[0].read_text())["sha256"] == results[0].digest
    again = local_build(folder, tmp_path, index, run_id="c3")
    assert again.cached and again.digest == results[0].digest
