"""Locked inputs are installed as locked, against a real index on 127.0.0.1.

The index serves an old and a NEWER version of every ``sdlock-*`` package; the lock
fixtures pin the old ones (tests/support/locked.py), so a build that re-resolved would
pick the newer ones. One fixture per input under tests/fixtures/locked_*.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.builds import local_build, pins
from tests.support.index import IndexServer
from tests.support.locked import NEWER, OLD, build_lock_packages, copy_fixture

from sparkdeps._build.lockread import read_lock
from sparkdeps._core.errors import LockError, ResolutionError, RuntimeConflictError
from sparkdeps._core.target import choose_target

pytestmark = pytest.mark.network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PY310 = choose_target(None, python_version="3.10", platform="x86_64")


@pytest.fixture(scope="module")
def lock_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lock_packages(tmp_path_factory.mktemp("lock-packages"))


@pytest.fixture(scope="module")
def lock_index(lock_packages: Path) -> Iterator[IndexServer]:
    with IndexServer(lock_packages) as server:
        yield server


@pytest.fixture
def fixture(tmp_path: Path, lock_packages: Path):  # type: ignore[no-untyped-def]
    def copy(name: str) -> Path:
        return copy_fixture(FIXTURES / name, tmp_path / "input" / name, lock_packages)

    return copy


def test_the_index_offers_newer_versions(tmp_path: Path, lock_index: IndexServer) -> None:
    """Without a lock the same requirement resolves to the newer versions: the tests can fail."""
    source = tmp_path / "requirements.txt"
    source.write_text("sdlock-a\n")
    result = local_build(source, tmp_path, lock_index, target=PY310)
    assert pins(result) == NEWER


LOCKED = [
    pytest.param("locked_pylock", "", "pylock.toml", "pylock", id="pylock"),
    pytest.param("locked_uv", "sdlockuv", "uv.lock", "uv", id="uv-lock"),
    pytest.param("locked_poetry", "sdlockpoetry", "poetry.lock", "poetry", id="poetry-lock"),
    pytest.param(
        "locked_requirements", "", "requirements.txt", "requirements", id="hashed-requirements"
    ),
]


@pytest.mark.parametrize(("name", "project", "lock", "kind"), LOCKED)
def test_lock_is_installed_as_locked_for_the_target(
    name: str,
    project: str,
    lock: str,
    kind: str,
    fixture,
    tmp_path: Path,
    lock_index: IndexServer,
) -> None:
    """3.10 target: sdlock-c (needed below 3.11) comes too, at the locked version."""
    result = local_build(fixture(name), tmp_path, lock_index, target=PY310)
    expected = dict(OLD)
    if project:
        expected[project] = "0.1.0"
    assert pins(result) == expected
    pinned = result.manifest.inputs["pinned_by"]
    for package in OLD:
        assert pinned[package].split(":")[0] == lock, pinned
    assert result.manifest.inputs["lock_files"] == {lock: kind}
    sources = {wheel.name: wheel.source for wheel in result.wheels}
    assert {sources[p] for p in OLD} == {"index"}


def test_uv_project_on_the_host_skips_what_its_markers_exclude(
    fixture, tmp_path: Path, lock_index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: a project zip with a uv.lock keeps its pins (host Python 3.11+)."""
    caplog.set_level(logging.INFO, logger="sparkdeps")
    folder = fixture("locked_uv")
    archive = Path(shutil.make_archive(str(tmp_path / "project"), "zip", folder))
    result = local_build(archive, tmp_path, lock_index)
    host_old = result.target.version_tuple < (3, 11)
    expected = {"sdlock-a": "1.0", "sdlock-b": "1.0", "sdlockuv": "0.1.0"}
    if host_old:
        expected["sdlock-c"] = "1.0"
    assert pins(result) == expected
    assert "sdlock-native" not in pins(result)  # the dev group stays out
    assert "pinned by uv.lock (uv lock): sdlock-a==1.0, sdlock-b==1.0" in caplog.text


def test_single_pylock_file_is_an_input(fixture, tmp_path: Path, lock_index: IndexServer) -> None:
    lock = fixture("locked_pylock") / "pylock.toml"
    result = local_build(lock, tmp_path, lock_index, target=PY310)
    assert result.format == "requirements"
    assert pins(result) == OLD


def test_poetry_lock_without_groups_is_walked_from_the_project(
    fixture, tmp_path: Path, lock_index: IndexServer
) -> None:
    """Poetry 1.x locks have no per-package groups: walk from pyproject's dependencies."""
    folder = fixture("locked_poetry")
    lock = folder / "poetry.lock"
    text = re.sub(r"^(groups|markers) = .*\n", "", lock.read_text(), flags=re.MULTILINE)
    lock.write_text(text.replace('lock-version = "2.1"', 'lock-version = "2.0"'))
    result = local_build(folder, tmp_path, lock_index, target=PY310)
    assert pins(result) == {**OLD, "sdlockpoetry": "0.1.0"}


def test_requirements_beside_pyproject_constrain_the_project(
    fixture, tmp_path: Path, lock_index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sparkdeps")
    folder = fixture("project_constraints")
    result = local_build(folder, tmp_path, lock_index)
    expected = {"sdlock-a": "1.0", "sdlock-b": "1.0", "sdlockcons": "0.1.0"}
    if sys.version_info < (3, 11):  # sdlock-a needs sdlock-c below 3.11; nothing pins it
        expected["sdlock-c"] = "2.0"
    assert pins(result) == expected
    inputs = result.manifest.inputs
    assert inputs["beside_projects"] == ["requirements.txt"]
    assert inputs["pinned_by"]["sdlock-a"] == "requirements.txt (constraint: sdlock-a==1.0)"
    assert inputs["pinned_by"]["sdlock-b"] == "requirements.txt (constraint: sdlock-b==1.0)"
    assert "constraints on its dependencies: sdlock-a==1.0, sdlock-b==1.0" in caplog.text
    # the same project without the file takes the newest versions
    (folder / "requirements.txt").unlink()
    again = local_build(folder, tmp_path, lock_index, use_cache=False)
    assert pins(again)["sdlock-a"] == NEWER["sdlock-a"]


def test_lock_without_a_wheel_for_the_target_names_the_package(
    fixture, tmp_path: Path, lock_index: IndexServer
) -> None:
    folder = fixture("locked_unfit")
    with pytest.raises(LockError) as caught:
        local_build(folder, tmp_path, lock_index, target=PY310)
    message = str(caught.value)
    assert "sdlock-native" in message and "pylock.toml" in message
    assert "fix:" in message
    assert not list((tmp_path / "dest").glob("*/wheelhouse.zip"))


def test_lock_not_covering_the_target_python_names_the_fix(
    fixture, tmp_path: Path, lock_index: IndexServer
) -> None:
    target = choose_target(None, python_version="3.9", platform="x86_64")
    with pytest.raises(LockError, match=r"uv\.lock covers Python >=3\.10, not the target's 3\.9"):
        local_build(fixture("locked_uv"), tmp_path, lock_index, target=target)


def test_requirement_outside_the_lock_is_refused(
    fixture, tmp_path: Path, lock_index: IndexServer
) -> None:
    folder = fixture("locked_pylock")
    (folder / "requirements.txt").write_text("sdlock-b>=1.1\n")
    with pytest.raises(
        LockError,
        match=r"requirements\.txt:1 requires sdlock-b>=1\.1 but the "
        r"lock has 1\.0",
    ):
        local_build(folder, tmp_path, lock_index, target=PY310)


def test_constraint_beside_a_lock_must_agree(
    fixture, tmp_path: Path, lock_index: IndexServer
) -> None:
    folder = fixture("locked_uv")
    (folder / "requirements.txt").write_text("sdlock-a==2.0\n")
    with pytest.raises(LockError, match=r"pins sdlock-a==2\.0 but the lock has 1\.0"):
        local_build(folder, tmp_path, lock_index, target=PY310)


def test_locked_hash_mismatch_fails(fixture, tmp_path: Path, lock_index: IndexServer) -> None:
    folder = fixture("locked_pylock")
    lock = folder / "pylock.toml"
    digest = re.search(r'sha256 = "([0-9a-f]{64})"', lock.read_text())
    assert digest is not None
    lock.write_text(lock.read_text().replace(digest.group(1), "0" * 64))
    with pytest.raises(ResolutionError, match="hash"):
        local_build(folder, tmp_path, lock_index, target=PY310)


def _runtime(tmp_path: Path) -> Path:
    """A runtime with numpy 1.23.5 (protected: pyspark imports it first) for this Python."""
    freeze = tmp_path / "runtime.txt"
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    freeze.write_text(f"# python {host}\nnumpy==1.23.5\nsdlock-b==1.0\n", "utf-8")
    return freeze


def _hashed_lock(tmp_path: Path, packages: Path, numpy: str) -> Path:
    folder = tmp_path / "hashed"
    folder.mkdir()
    good = hashlib.sha256((packages / "sdlock_a-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    other = hashlib.sha256((packages / "sdlock_b-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    # the index has no numpy at all: a build that tried to download it would fail
    lines = (
        f"numpy=={numpy} --hash=sha256:{'0' * 64}\n"
        f"sdlock-a==1.0 --hash=sha256:{good}\n"
        f"sdlock-b==1.0 --hash=sha256:{other}\n"
    )
    if sys.version_info < (3, 11):  # below 3.11 sdlock-a also needs sdlock-c: a lock pins it
        third = hashlib.sha256((packages / "sdlock_c-1.0-py3-none-any.whl").read_bytes())
        lines += f"sdlock-c==1.0 --hash=sha256:{third.hexdigest()}\n"
    (folder / "requirements.txt").write_text(lines)
    return folder


# what the hashed lock ships besides sdlock-a, by host Python (see _hashed_lock)
_SHIPPED_BELOW_311 = {"sdlock-c": "1.0"} if sys.version_info < (3, 11) else {}


def test_lock_pinning_a_protected_package_off_the_runtime_is_a_conflict(
    tmp_path: Path, lock_index: IndexServer, lock_packages: Path
) -> None:
    folder = _hashed_lock(tmp_path, lock_packages, "2.1.3")
    lock_index.reset_counts()
    with pytest.raises(RuntimeConflictError) as caught:
        local_build(folder, tmp_path, lock_index, runtime_packages=_runtime(tmp_path))
    message = str(caught.value)
    assert "requirements.txt:1 pins numpy==2.1.3" in message
    assert "has numpy 1.23.5" in message and "--override-runtime numpy" in message
    assert "regenerate it with the runtime's versions" in message
    assert [c.name for c in caught.value.conflicts] == ["numpy"]  # type: ignore[attr-defined]
    assert not [r for r in lock_index.requests if r.endswith(".whl")]


def test_lock_pin_equal_to_the_runtime_is_relied_on_not_shipped(
    tmp_path: Path, lock_index: IndexServer, lock_packages: Path
) -> None:
    folder = _hashed_lock(tmp_path, lock_packages, "1.23.5")
    result = local_build(folder, tmp_path, lock_index, runtime_packages=_runtime(tmp_path))
    assert pins(result) == {"sdlock-a": "1.0", **_SHIPPED_BELOW_311}
    relied = {p["name"]: p["version"] for p in result.manifest.runtime["relied_on"]}
    assert relied == {"numpy": "1.23.5", "sdlock-b": "1.0"}


def _plant_workspace(parent: Path, packages: Path) -> None:
    """What another user of a shared temp folder could plant above sparkdeps' work folder:
    a uv workspace claiming every build's input as a member, and its lock."""
    newer = hashlib.sha256((packages / "sdlock_a-2.0-py3-none-any.whl").read_bytes()).hexdigest()
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "pyproject.toml").write_text(
        '[project]\nname = "planted"\nversion = "0"\nrequires-python = ">=3.10"\n'
        '\n[tool.uv.workspace]\nmembers = ["sparkdeps-build-*/input"]\n'
    )
    (parent / "uv.lock").write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n[manifest]\n'
        'members = ["planted", "sdlockuv"]\n\n[[package]]\nname = "planted"\nversion = "0"\n'
        'source = { virtual = "." }\n\n[[package]]\nname = "sdlock-a"\nversion = "2.0"\n'
        'source = { registry = "http://127.0.0.1:9/simple/" }\nwheels = [\n'
        '    { url = "http://127.0.0.1:9/files/sdlock_a-2.0-py3-none-any.whl", '
        f'hash = "sha256:{newer}" }},\n]\n\n[[package]]\nname = "sdlockuv"\n'
        'version = "0.1.0"\nsource = { editable = "sparkdeps-build-x/input" }\n'
        'dependencies = [{ name = "sdlock-a" }]\n'
    )


def test_planted_uv_workspace_above_the_temp_folder_is_ignored(
    fixture,
    tmp_path: Path,
    lock_index: IndexServer,
    lock_packages: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uv searches every parent of the project for a workspace: the build's own temporary
    folder sits in a shared one. The input's own uv.lock rules, not the planted one."""
    import tempfile

    shared = tmp_path / "shared-tmp"
    _plant_workspace(shared, lock_packages)
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    caplog.set_level(logging.INFO, logger="sparkdeps")
    result = local_build(fixture("locked_uv"), tmp_path, lock_index, target=PY310)
    assert pins(result) == {**OLD, "sdlockuv": "0.1.0"}
    assert "pinned by uv.lock (uv lock): sdlock-a==1.0, sdlock-b==1.0" in caplog.text
    assert sorted(p.name for p in shared.iterdir()) == ["pyproject.toml", "uv.lock"]


def test_uv_workspace_root_input_reads_its_members(
    tmp_path: Path, lock_index: IndexServer, lock_packages: Path
) -> None:
    """An input that is a uv workspace root itself keeps its workspace table, and the
    private copy (no member folders in it) still gives the members' locked dependencies."""
    import subprocess

    from sparkdeps._core.runner import uv_command

    root = tmp_path / "workspace"
    member = root / "packages" / "sdwsmember"
    (member / "sdwsmember").mkdir(parents=True)
    (member / "sdwsmember" / "__init__.py").write_text("X = 1\n")
    (member / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "sdwsmember"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["sdlock-b==1.0"]\n\n[tool.setuptools]\npackages = ["sdwsmember"]\n'
    )
    (root / "sdwsroot").mkdir()
    (root / "sdwsroot" / "__init__.py").write_text("X = 1\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "sdwsroot"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["sdwsmember", "sdlock-a==1.0", "sdlock-c==1.0"]\n\n[tool.setuptools]\n'
        'packages = ["sdwsroot"]\n\n[tool.uv.sources]\nsdwsmember = { workspace = true }\n'
        '\n[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    )
    locked = subprocess.run(
        [*uv_command(), "lock", "--no-config", "--index-url", lock_index.url, "--project", str(root)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert locked.returncode == 0, locked.stderr
    work = tmp_path / "work"
    work.mkdir()
    selection = read_lock(
        root / "uv.lock", "uv.lock", PY310, work=work, cache_dir=tmp_path / "uv-cache"
    )
    # sdlock-b comes through the member, whose pyproject.toml uv read from the copy
    assert {p.name: p.version for p in selection.packages} == OLD
    assert not (root / "packages" / "sdwsmember" / "uv.lock").exists()


def test_lock_pin_of_a_public_release_relies_on_the_runtime_local_build(
    tmp_path: Path, lock_index: IndexServer, lock_packages: Path
) -> None:
    # an ML runtime's torch 2.3.1+cpu meets a lock's torch==2.3.1 (PEP 440): relied on, no
    # conflict, no download (the index has no torch at all)
    folder = _hashed_lock(tmp_path, lock_packages, "1.23.5")
    lock = folder / "requirements.txt"
    lock.write_text(lock.read_text() + f"torch==2.3.1 --hash=sha256:{'1' * 64}\n")
    freeze = tmp_path / "ml-runtime.txt"
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    freeze.write_text(
        "# runtime-freeze: Databricks Runtime 15.4.x-cpu-ml-scala2.12\n"
        f"# python {host}; spark 3.5.0\nnumpy==1.23.5\nsdlock-b==1.0\ntorch==2.3.1+cpu\n",
        "utf-8",
    )
    result = local_build(folder, tmp_path, lock_index, runtime_packages=freeze)
    assert pins(result) == {"sdlock-a": "1.0", **_SHIPPED_BELOW_311}
    relied = {p["name"]: p["version"] for p in result.manifest.runtime["relied_on"]}
    assert relied["torch"] == "2.3.1+cpu"
