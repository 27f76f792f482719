"""build() failures: each gives a clear message and leaves no wheelhouse behind."""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.index import IndexServer
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build
from sparkdeps._core.errors import (
    IncompatibleWheelError,
    InputError,
    ResolutionError,
    SparkdepsError,
    UnsafeArchiveError,
)

pytestmark = pytest.mark.network


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build()'s work folder goes under tmp_path, so leftovers can be seen."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))


def _temp_leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("sparkdeps-build-*")}


def _fails(
    source: Path, tmp_path: Path, index: IndexServer, error: type[SparkdepsError], **kwargs: object
) -> str:
    dest = tmp_path / "dest"
    before = _temp_leftovers()
    with pytest.raises(error) as caught:
        build(
            source,
            dest=dest,
            cache_dir=tmp_path / "cache",
            index_url=index.url,
            run_id="r1",
            **kwargs,
        )  # type: ignore[arg-type]
    # nothing published, no empty run folder, the work folder removed
    assert not (dest / "r1").exists()
    assert not list(dest.rglob("*")) if dest.exists() else True
    assert _temp_leftovers() == before == set()
    return str(caught.value)


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _empty_dir(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _empty_requirements(tmp: Path) -> Path:
    path = tmp / "requirements.txt"
    path.write_text("# nothing here\n\n")
    return path


def _empty_zip(tmp: Path) -> Path:
    return _zip(tmp / "empty.zip", {})


def _only_dirs_zip(tmp: Path) -> Path:
    return _zip(tmp / "dirs.zip", {"a/": b"", "a/b/": b""})


@pytest.mark.parametrize(
    ("make", "fix"),
    [
        (_empty_dir, "expected"),
        (_empty_requirements, "add one requirement"),
        (_empty_zip, "expected"),
        (_only_dirs_zip, "expected"),
    ],
    ids=["folder", "requirements-file", "zip", "zip-of-folders"],
)
def test_empty_input(
    tmp_path: Path, index: IndexServer, make: Callable[[Path], Path], fix: str
) -> None:
    message = _fails(make(tmp_path), tmp_path, index, InputError)
    assert "empty" in message
    assert fix in message  # each kind of empty input names its own fix


def test_unknown_content(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "README.md").write_text("hello\n")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    message = _fails(folder, tmp_path, index, InputError)
    assert "unknown input" in message and "README.md" in message
    assert "pyproject.toml" in message  # says what was expected


def test_unknown_binary_file(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02" * 100)
    message = _fails(path, tmp_path, index, InputError)
    assert "blob.bin" in message and "expected" in message


def test_missing_source(tmp_path: Path, index: IndexServer) -> None:
    message = _fails(tmp_path / "nope.zip", tmp_path, index, InputError)
    assert "no such file" in message


def test_corrupt_zip(tmp_path: Path, index: IndexServer) -> None:
    good = _zip(tmp_path / "good.zip", {"mod.py": b"X = 1\n" * 1000})
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    message = _fails(corrupt, tmp_path, index, InputError)
    assert "corrupt.zip" in message and "corrupt" in message


def test_entry_escaping_the_folder(tmp_path: Path, index: IndexServer) -> None:
    archive = _zip(tmp_path / "evil.zip", {"ok.py": b"", "../../evil.py": b"X = 1\n"})
    message = _fails(archive, tmp_path, index, UnsafeArchiveError)
    assert "../../evil.py" in message and "outside" in message
    assert not (tmp_path / "evil.py").exists()


def test_symlink_entry(tmp_path: Path, index: IndexServer) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as out:
        info = zipfile.ZipInfo("mod.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        out.writestr(info, "/etc/passwd")
    message = _fails(archive, tmp_path, index, UnsafeArchiveError)
    assert "symlink" in message


def test_incompatible_wheel(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "wheels"
    make_wheel(folder, "sdwin", "1.0", {"sdwin.py": ""}, tag="cp310-cp310-win_amd64")
    message = _fails(folder, tmp_path, index, IncompatibleWheelError)
    assert "sdwin-1.0-cp310-cp310-win_amd64.whl" in message
    assert "cp310-cp310-win_amd64" in message and "does not fit" in message


def test_incompatible_wheel_for_explicit_target(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "wheels"
    make_wheel(folder, "sdold", "1.0", {"sdold.py": ""}, tag="cp311-cp311-manylinux_2_17_x86_64")
    message = _fails(folder, tmp_path, index, IncompatibleWheelError, target="dbr-14.3")
    assert "sdold" in message and "dbr-14.3" in message


def test_unsatisfiable_requirement(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-alpha==9.9\n")
    message = _fails(path, tmp_path, index, ResolutionError)
    assert "sdtest-alpha" in message
    assert "requirements.txt:1 requires sdtest-alpha==9.9" in message


def test_unknown_package(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-does-not-exist\n")
    message = _fails(path, tmp_path, index, ResolutionError)
    assert "sdtest-does-not-exist" in message


def test_conflict_between_requirement_and_project(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "conflict"
    project = folder / "sdconflict"
    (project / "sdconflict").mkdir(parents=True)
    (project / "sdconflict" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "sdconflict"\nversion = "1.0"\ndependencies = ["sdtest-beta<2"]\n'
        '[tool.setuptools]\npackages = ["sdconflict"]\n'
    )
    (folder / "requirements.txt").write_text("sdtest-beta==2.0\n")
    message = _fails(folder, tmp_path, index, ResolutionError)
    # both sides are named, neither silently wins
    assert "requirements.txt:1 requires sdtest-beta==2.0" in message
    assert "project sdconflict (sdconflict 1.0) requires sdtest-beta<2" in message


def test_offline_missing_dependency(tmp_path: Path, index: IndexServer) -> None:
    folder = tmp_path / "wheels"
    make_wheel(folder, "sdlonely", "1.0", {"sdlonely.py": ""}, requires=["sdtest-gamma"])
    with pytest.raises(ResolutionError) as caught:
        build(folder, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", no_index=True)
    assert "missing (not on the index or find-links): sdtest-gamma" in str(caught.value)
    assert not (tmp_path / "dest").exists()


def test_index_option_in_requirements_refused(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-gamma\n--extra-index-url http://127.0.0.1:9/simple/\n")
    message = _fails(path, tmp_path, index, InputError)
    assert "requirements.txt:2" in message and "--extra-index-url" in message
    assert "allow_index_options" in message


def test_url_reference_refused(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-gamma @ https://127.0.0.1:9/sdtest_gamma-1.0-py3-none-any.whl\n")
    message = _fails(path, tmp_path, index, InputError)
    assert "direct URL" in message and "requirements.txt:1" in message


def test_credentials_never_shown(tmp_path: Path, package_dir: Path) -> None:
    with IndexServer(package_dir, username="user", password="s3cr3t-token") as server:
        path = tmp_path / "requirements.txt"
        path.write_text("sdtest-nothere-at-all\n")
        with pytest.raises(ResolutionError) as caught:
            build(path, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=server.url)
        assert "s3cr3t-token" not in str(caught.value)
        path.write_text("sdtest-gamma\n")
        result = build(
            path, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=server.url
        )
        assert "s3cr3t-token" not in result.manifest.to_json().decode()
        cached = list((tmp_path / "cache").rglob("*"))
        for item in cached:
            if item.is_file() and item.suffix in (".zip", ".json"):
                assert b"s3cr3t-token" not in item.read_bytes()


def test_bad_run_id_and_missing_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-gamma\n")
    monkeypatch.delenv("SPARKDEPS_DEST", raising=False)
    with pytest.raises(InputError, match="SPARKDEPS_DEST"):
        build(path)
    with pytest.raises(InputError, match="run_id"):
        build(path, dest=tmp_path, run_id="../x")


def test_existing_run_folder_not_overwritten(tmp_path: Path, index: IndexServer) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("sdtest-gamma\n")
    first = build(path, dest=tmp_path / "dest", run_id="same", index_url=index.url)
    before = Path(first.uri).read_bytes()
    with pytest.raises(SparkdepsError, match="already exists"):
        build(path, dest=tmp_path / "dest", run_id="same", index_url=index.url)
    assert Path(first.uri).read_bytes() == before
    assert set(os.listdir(tmp_path / "dest" / "same")) == {
        "run.json",
        "wheelhouse.zip",
        "wheels",
        "pylock.toml",
        "requirements.txt",
    }


def test_hashes_are_checked(tmp_path: Path, index: IndexServer, package_dir: Path) -> None:
    import hashlib

    wheel = package_dir / "sdtest_gamma-1.0-py3-none-any.whl"
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    path = tmp_path / "requirements.txt"
    path.write_text(f"sdtest-gamma==1.0 --hash=sha256:{good}\n")
    result = build(path, dest=tmp_path / "ok", cache_dir=tmp_path / "cache", index_url=index.url)
    assert [w.sha256 for w in result.wheels] == [good]
    path.write_text(f"sdtest-gamma==1.0 --hash=sha256:{'0' * 64}\n")
    message = _fails(path, tmp_path, index, ResolutionError)
    assert "sdtest-gamma" in message and "hash" in message.lower()


def test_limits_are_configurable(tmp_path: Path, index: IndexServer) -> None:
    from sparkdeps._build.archive import ArchiveLimits

    archive = _zip(tmp_path / "many.zip", {f"m{i}.py": b"" for i in range(5)})
    message = _fails(
        archive, tmp_path, index, UnsafeArchiveError, limits=ArchiveLimits(max_entries=3)
    )
    assert "max_entries" in message
