"""The run's pip-native form: a real build publishes wheels + hashed requirements.txt +
pylock.toml beside the zip, real pip installs them, a failed publish leaves none of it,
cleanup removes all of it. ``dbfs:`` goes through tests/support/dbutils_standin.py (not
Databricks)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.builds import local_build
from tests.support.index import IndexServer
from tests.support.wheels import make_wheel

import sparkdeps
from sparkdeps._cli import main
from sparkdeps._core.databricks import set_dbutils
from sparkdeps._core.errors import StorageError, WheelhouseNotFoundError
from sparkdeps._core.results import BuildResult
from sparkdeps._core.storage import LocalStorage

pytestmark = pytest.mark.network


def _source(tmp_path: Path) -> Path:
    """A provided wheel that needs one package from the index: two wheels ship."""
    folder = tmp_path / "input"
    make_wheel(
        folder,
        "sdpipform-app",
        "1.2",
        {"sdpipform_app/__init__.py": "WHERE = __file__\n"},
        requires=["sdtest-gamma"],
    )
    return folder


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-index", "--disable-pip-version-check"],
        capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip


def _check_published(result: BuildResult) -> Path:
    run = Path(result.run_uri)
    assert {p.name for p in (run / "wheels").iterdir()} == {w.filename for w in result.wheels}
    for wheel in result.wheels:
        data = (run / "wheels" / wheel.filename).read_bytes()
        assert hashlib.sha256(data).hexdigest() == wheel.sha256
    text = (run / "requirements.txt").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == list(sparkdeps.requirement_lines(result.uri))
    assert lines == [
        f"{run}/wheels/{w.filename} --hash=sha256:{w.sha256}"
        for w in sorted(result.wheels, key=lambda w: w.filename)
    ]
    assert "pylock.toml" in {p.name for p in run.iterdir()}
    return run


def test_build_publishes_a_pip_native_form_pip_installs(tmp_path: Path, index: IndexServer) -> None:
    result = local_build(_source(tmp_path), tmp_path, index)
    assert {w.name for w in result.wheels} == {"sdpipform-app", "sdtest-gamma"}
    run = _check_published(result)

    from_requirements = tmp_path / "site-req"
    done = _pip("install", "--target", str(from_requirements), "-r", str(run / "requirements.txt"))
    assert done.returncode == 0, done.stderr
    assert (from_requirements / "sdpipform_app" / "__init__.py").is_file()
    assert (from_requirements / "sdtest_gamma").is_dir()

    # the lock's wheels/<file> paths resolve beside it (pip 26.1+: docs/facts.md)
    from_lock = tmp_path / "site-lock"
    done = _pip("install", "--target", str(from_lock), "-r", str(run / "pylock.toml"))
    assert done.returncode == 0, done.stderr
    assert (from_lock / "sdpipform_app" / "__init__.py").is_file()


def test_a_cache_hit_publishes_the_same_form(tmp_path: Path, index: IndexServer) -> None:
    first = local_build(_source(tmp_path), tmp_path, index)
    second = local_build(_source(tmp_path), tmp_path, index)
    assert second.cached
    run = _check_published(second)
    assert (run / "pylock.toml").read_bytes() == (Path(first.run_uri) / "pylock.toml").read_bytes()


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-folder", "existing-folder"])
def test_a_failed_publish_leaves_no_pip_form(
    tmp_path: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    run = tmp_path / "dest" / "run-x"
    if existing:
        run.mkdir(parents=True)
        (run / "notes.txt").write_text("the user's\n")
    real_publish = LocalStorage.publish

    def publish(self: LocalStorage, local: Path, uri: str, *, exclusive: bool = False) -> None:
        if uri.endswith("wheelhouse.zip"):  # the disk fills up on the last file
            raise StorageError(f"cannot publish {uri}: No space left on device")
        real_publish(self, local, uri, exclusive=exclusive)

    monkeypatch.setattr(LocalStorage, "publish", publish)
    with pytest.raises(StorageError, match="No space left"):
        local_build(_source(tmp_path), tmp_path, index, run_id="run-x")
    if existing:
        assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    else:
        assert not run.exists()


def test_cleanup_removes_the_pip_form(tmp_path: Path, index: IndexServer) -> None:
    result = local_build(_source(tmp_path), tmp_path, index)
    assert (Path(result.run_uri) / "wheels").is_dir()
    removed = sparkdeps.cleanup(result.run_uri, cache_dir=tmp_path / "cache")
    assert result.run_uri in removed.removed
    assert not Path(result.run_uri).exists()


def test_dbfs_lines_name_the_fuse_mount(tmp_path: Path, index: IndexServer) -> None:
    from tests.support.dbutils_standin import StandinDbutils

    set_dbutils(StandinDbutils(tmp_path / "dbfs", task_key="process_deps"))
    try:
        result = local_build(_source(tmp_path), tmp_path, index, dest="dbfs:/deps")
        lines = sparkdeps.requirement_lines(result.uri, hashes=False)
    finally:
        set_dbutils(None)
    published = tmp_path / "dbfs" / "deps" / result.run_id
    assert (published / "requirements.txt").read_text().count("/dbfs/deps/") == len(lines) + 1
    assert lines == tuple(
        f"/dbfs/deps/{result.run_id}/wheels/{w.filename}"
        for w in sorted(result.wheels, key=lambda w: w.filename)
    )


def test_a_path_pip_would_misread_skips_the_form_with_a_warning(
    tmp_path: Path, index: IndexServer, caplog: pytest.LogCaptureFixture
) -> None:
    result = local_build(_source(tmp_path), tmp_path, index, dest=tmp_path / "my deps")
    assert Path(result.uri).is_file()  # load still has its zip
    assert "not publishing the pip-native form" in caplog.text
    assert not (Path(result.run_uri) / "wheels").exists()
    with pytest.raises(WheelhouseNotFoundError, match="no pip-native form"):
        sparkdeps.requirement_lines(result.run_uri)


def test_cli_export_pip(
    tmp_path: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = local_build(_source(tmp_path), tmp_path, index)
    assert main(["export", result.run_uri, "--format", "pip"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == list(sparkdeps.requirement_lines(result.run_uri))
    assert main(["export", result.uri, "--format", "pip", "--no-hashes"]) == 0
    assert all(line.endswith(".whl") for line in capsys.readouterr().out.splitlines())
