"""``twin DIR`` deletes only what sparkdeps made, after checking everything (issue 21, item 5).

No twin is built here: each test stops before (or waits instead of) a build. A
"twin sparkdeps made" is claimed and recorded the way ``create_twin`` does
(``_twinfolder.claim`` / ``record_entries``) with a marker written as ``_build`` writes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.twins import require_python

from sparkdeps._cli import main
from sparkdeps._core.errors import InputError
from sparkdeps.testing._interpreters import InterpreterNotFoundError
from sparkdeps.testing._twinfolder import (
    PARTIAL_MARKER,
    TWIN_MARKER,
    claim,
    destination_lock,
    record_entries,
)
from sparkdeps.testing.twin import create_twin, twin_spec

REPO = Path(__file__).resolve().parents[2]
PROFILE = "dbr-14.3"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKDEPS_CACHE_DIR", os.fspath(tmp_path / "cache"))


def _marker(root: Path, digest: str) -> None:
    spec = twin_spec(PROFILE)
    data = {
        "profile": PROFILE,
        "python_version": spec.python_version,
        "pyspark_version": spec.pyspark_version,
        "packages": "core",
        "digest": digest,
        "installed": {"pyspark": spec.pyspark_version},
        "not_installed": [],
    }
    (root / TWIN_MARKER).write_text(json.dumps(data), encoding="utf-8")


def _made_twin(root: Path, digest: str) -> None:
    """A finished twin as create_twin leaves it: claimed, filled, recorded."""
    claim(root, None)
    (root / "bin").mkdir()
    (root / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _marker(root, digest)
    record_entries(root)


def _files(root: Path) -> list[str]:
    return sorted(os.fspath(p.relative_to(root)) for p in root.rglob("*"))


def test_a_folder_of_user_files_with_a_leftover_partial_marker_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    (root / "thesis.tex").write_text("years of work\n")
    (root / PARTIAL_MARKER).write_text("creating\n")
    before = _files(root)
    with pytest.raises(InputError, match="does not make the folder a twin") as caught:
        create_twin(PROFILE, root, python=sys.executable)
    assert "nothing was removed" in str(caught.value)
    assert _files(root) == before


def test_an_outdated_twin_is_kept_when_the_python_is_wrong(tmp_path: Path) -> None:
    root = tmp_path / "twin"
    _made_twin(root, digest="0" * 64)  # outdated: another digest
    before = _files(root)
    wrong = sys.executable if sys.version_info[:2] != (3, 10) else "/nonexistent/python"
    with pytest.raises(InterpreterNotFoundError, match=r"pass a Python 3\.10"):
        create_twin(PROFILE, root, python=wrong)
    assert _files(root) == before, "validated before anything was deleted"


def test_files_added_to_a_finished_twin_are_not_deleted(tmp_path: Path) -> None:
    root = tmp_path / "twin"
    _made_twin(root, digest="0" * 64)
    (root / "notes.md").write_text("mine\n")
    with pytest.raises(InputError, match=r"holds files sparkdeps did not make \(notes.md\)"):
        create_twin(PROFILE, root, python=os.fspath(require_python(PROFILE)))
    assert (root / "notes.md").read_text() == "mine\n" and (root / "bin").is_dir()


def test_a_twin_folder_replaced_by_another_folder_is_not_ours(tmp_path: Path) -> None:
    root = tmp_path / "twin"
    _made_twin(root, digest="0" * 64)
    shutil.rmtree(root)
    root.mkdir()  # the same name, another folder: the record names the old inode
    (root / "data.csv").write_text("a,b\n")
    _marker(root, "0" * 64)
    with pytest.raises(InputError, match="no record of making it"):
        create_twin(PROFILE, root, python=sys.executable)
    assert (root / "data.csv").exists()


@pytest.mark.parametrize("kind", ["file", "symlink-to-empty", "marker-missing-keys"])
def test_cli_refuses_a_bad_destination_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    root = tmp_path / "dir"
    expected = {
        "file": "is a file, not a folder",
        "symlink-to-empty": "is a symbolic link",
        "marker-missing-keys": "lacks python_version",
    }[kind]
    if kind == "file":
        root.write_text("a file\n")
    elif kind == "symlink-to-empty":
        (tmp_path / "empty").mkdir()
        root.symlink_to(tmp_path / "empty")
    else:
        root.mkdir()
        (root / TWIN_MARKER).write_text(json.dumps({"profile": PROFILE, "digest": "x"}))
    code = main(["twin", PROFILE, os.fspath(root), "--python", sys.executable])
    err = capsys.readouterr().err
    assert code != 0
    assert expected in err and "Traceback" not in err, err
    assert root.exists() or root.is_symlink()


def test_a_second_run_waits_for_the_first_and_reuses_its_twin(tmp_path: Path) -> None:
    """The pytest plugin under xdist: two runs on one DIR. Without the lock the second one
    started a build of its own (and deleted the first's folder)."""
    python = require_python(PROFILE)
    root = tmp_path / "twin"
    env = {
        **os.environ,
        "SPARKDEPS_CACHE_DIR": os.fspath(tmp_path / "cache"),
        "PYTHONPATH": os.fspath(REPO / "src"),
    }
    command = [sys.executable, "-m", "sparkdeps", "twin", PROFILE, os.fspath(root)]
    command += ["--python", os.fspath(python), "--no-index", "--json"]
    with destination_lock(root.absolute()):
        second = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        time.sleep(3)  # it is waiting for the lock (a build would need an index: --no-index)
        assert second.poll() is None, second.communicate()
        _made_twin(root.absolute(), twin_spec(PROFILE).digest)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert json.loads(out)["reused"] is True
    assert (root / "pyvenv.cfg").exists(), "the first run's twin is intact"
