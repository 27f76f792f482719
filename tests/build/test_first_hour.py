"""A new user's first hour with ``build``: progress while it works, errors that name the fix.

Every case runs the real thing: the CLI as a subprocess (on a pseudo-terminal
where a live display is the point), pip and uv against the local test index.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tests.support.index import IndexServer

from sparkdeps._build.fetch_progress import FolderWatch, settle
from sparkdeps._build.publish import build
from sparkdeps._core.errors import ResolutionError, StorageError
from sparkdeps._core.progress import Step, Tracker, listening, plural

pytestmark = pytest.mark.network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REQUIREMENTS = FIXTURES / "requirements" / "requirements.txt"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparkdeps", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )


def _requirements(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ progress


def test_build_reports_download_progress(tmp_path: Path, index: IndexServer) -> None:
    steps: list[Step] = []
    with listening(steps.append):
        result = build(
            REQUIREMENTS, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=index.url
        )
    downloads = [step for step in steps if step.phase == "download"]
    [end] = [step for step in downloads if step.finished]
    assert end.done == end.total == len(result.wheels)
    assert end.bytes_done == sum(wheel.size for wheel in result.wheels)
    # while it ran: the current package was named, one item at a time
    assert any(step.current.startswith("sdtest") for step in downloads if not step.finished)
    counts = [step.done for step in downloads]
    assert counts == sorted(counts)


def test_cli_plain_lines_and_timings_once(tmp_path: Path, index: IndexServer) -> None:
    done = _cli(
        "build", str(REQUIREMENTS), "--dest", str(tmp_path / "dest"),
        "--index-url", index.url, "--cache-dir", str(tmp_path / "cache"), "--no-cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    # not a terminal: plain lines, one per package and one at the end of the phase
    # (sdtest-oldpy joins on Python 3.10: sdtest-marker needs it below 3.11)
    count = 5 if sys.version_info < (3, 11) else 4
    assert any(line.startswith(f"sparkdeps: download 1/{count} ") for line in lines), done.stderr
    assert any(f"download {count}/{count}" in line and "done in" in line for line in lines), (
        done.stderr
    )
    assert "\r" not in done.stderr
    # nothing was built: no "build: 0.00s", and no phase twice
    assert not any(line.startswith("sparkdeps: build:") for line in lines), done.stderr
    [timings] = [line for line in lines if line.startswith("timings:")]
    phases = [part.split()[0] for part in timings[len("timings:") :].split("  ") if part.strip()]
    assert len(phases) == len(set(phases)) and "build" not in phases, timings
    assert "found {" not in done.stderr  # the input is described in words, not a dict
    assert "1 requirements file (requirements.txt)" in done.stderr


def test_cli_live_line_on_a_terminal(tmp_path: Path, index: IndexServer) -> None:
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sparkdeps", "build", str(REQUIREMENTS),
         "--dest", str(tmp_path / "dest"), "--index-url", index.url,
         "--cache-dir", str(tmp_path / "cache")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, env=_env(),
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed its side
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    stdout, _ = process.communicate(timeout=60)
    os.close(main)
    assert process.returncode == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    # a line redrawn in place, cleared before the next log line and at the end
    assert "\r" in text and "\x1b[K" in text, text
    assert "download" in text
    # per-item lines are shown live only; the phase's end is logged
    assert "sparkdeps: download 1/4 " not in text
    assert "done in" in text
    assert stdout.strip().splitlines()[-1].endswith(b"wheelhouse.zip")


def test_download_progress_counts_the_files_that_land(tmp_path: Path) -> None:
    # no tool output is read: each file is reported once it is in the folder, with the
    # size the lock gave (the file's own size where the lock had none)
    steps: list[Step] = []
    tracker = Tracker("download", total=2)
    watch = FolderWatch(tmp_path, tracker, {"a-1.0-py3-none-any.whl": 16_400_000})
    with listening(steps.append):
        watch.look("any line at all")
        assert not [step for step in steps if step.done]
        (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"x" * 10)
        watch.look()
        watch.look()  # a file is reported once
        (tmp_path / "b-1.0-py3-none-any.whl").write_bytes(b"y" * 3)
        watch.look()
        settle(tracker, sorted(tmp_path.glob("*.whl")))
    done = [step for step in steps if step.done and not step.finished]
    assert [(s.current, s.done) for s in done] == [
        ("a-1.0-py3-none-any.whl", 1),
        ("b-1.0-py3-none-any.whl", 2),
    ]
    assert done[0].bytes_done == 16_400_000
    assert steps[-1].finished and steps[-1].done == 2 and steps[-1].bytes_done == 13


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 wheels"), (1, "1 wheel"), (2, "2 wheels")], ids=["0", "1", "2"]
)
def test_plural(count: int, expected: str) -> None:
    assert plural(count, "wheel") == expected


# ------------------------------------------------------------------ errors


def test_typo_gets_did_you_mean(tmp_path: Path, index: IndexServer) -> None:
    path = _requirements(tmp_path, "sdtest-aplha\n")
    with pytest.raises(ResolutionError) as caught:
        build(path, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=index.url)
    message = str(caught.value)
    assert "sdtest-aplha (did you mean sdtest-alpha" in message, message
    assert "relax" not in message  # a missing package is not a version conflict
    assert "check the spelling" in message
    assert "requirements.txt:1 requires sdtest-aplha" in message


def test_typo_of_a_popular_name_on_a_private_index(tmp_path: Path, index: IndexServer) -> None:
    # the test index has no "requests"; the runtime package sets know the name
    path = _requirements(tmp_path, "reqeusts\n")
    with pytest.raises(ResolutionError, match=r"reqeusts \(did you mean requests\?\)"):
        build(path, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=index.url)


def test_dest_that_is_a_file(tmp_path: Path, index: IndexServer) -> None:
    dest = tmp_path / "dest.txt"
    dest.write_text("not a folder")
    index.reset_counts()
    with pytest.raises(StorageError) as caught:
        build(REQUIREMENTS, dest=dest, cache_dir=tmp_path / "cache", index_url=index.url)
    message = str(caught.value)
    assert f"dest {dest} is a file, not a folder" in message
    assert "TMPDIR" not in message and str(REQUIREMENTS) not in message
    assert index.requests == []  # refused before resolving
    assert dest.read_text() == "not a folder"


def test_dest_below_a_file(tmp_path: Path, index: IndexServer) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="which is a file"):
        build(REQUIREMENTS, dest=tmp_path / "file" / "runs", index_url=index.url)


def test_unwritable_dest_checked_before_resolving(
    tmp_path: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /sys refuses new files even to root, as a read-only mount would
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    index.reset_counts()
    with pytest.raises(StorageError, match=r"cannot write to dest /sys/sparkdeps-runs") as caught:
        build(REQUIREMENTS, dest="/sys/sparkdeps-runs", cache_dir=tmp_path / "cache",
              index_url=index.url)  # fmt: skip
    assert "fix:" in str(caught.value)
    assert index.requests == []
    assert list(private.iterdir()) == []  # no work folder left behind
    assert not (tmp_path / "cache").exists()


def test_json_error_object_on_stdout(tmp_path: Path, index: IndexServer) -> None:
    path = _requirements(tmp_path, "sdtest-aplha\n")
    done = _cli(
        "build", str(path), "--dest", str(tmp_path / "dest"), "--index-url", index.url,
        "--cache-dir", str(tmp_path / "cache"), "--json",
    )  # fmt: skip
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "ResolutionError"
    assert "sdtest-aplha" in error["message"]
    assert error["fix"].startswith("check the spelling")
    assert "sparkdeps: error:" in done.stderr


def test_json_error_for_a_bad_dest(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    done = _cli("build", str(REQUIREMENTS), "--dest", str(tmp_path / "f"), "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "StorageError"
    assert error["fix"].startswith("pass a folder")


# ------------------------------------------------ git-versioned project without git

_SCM = {
    "setuptools-scm": (
        '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n'
        'build-backend = "setuptools.build_meta"\n\n[project]\nname = "sdscm-demo"\n'
        'dynamic = ["version"]\n\n[tool.setuptools_scm]\n'
    ),
    "hatch-vcs": (
        '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\n'
        'build-backend = "hatchling.build"\n\n[project]\nname = "sdscm-demo"\n'
        'dynamic = ["version"]\n\n[tool.hatch.version]\nsource = "vcs"\n'
    ),
}


def _scm_project(tmp_path: Path, tool: str) -> Path:
    # what GitHub's "Download ZIP" gives: the files, no .git
    project = tmp_path / "sdscm-demo-main"
    (project / "sdscm_demo").mkdir(parents=True)
    (project / "sdscm_demo" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(_SCM[tool])
    return project


@pytest.mark.parametrize("tool", sorted(_SCM), ids=sorted(_SCM))
def test_git_versioned_project_without_git(
    tmp_path: Path, index: IndexServer, tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkdeps._core.errors import BuildError

    monkeypatch.delenv("SETUPTOOLS_SCM_PRETEND_VERSION", raising=False)
    project = _scm_project(tmp_path, tool)
    index.reset_counts()
    with pytest.raises(BuildError) as caught:
        build(project, dest=tmp_path / "dest", cache_dir=tmp_path / "cache", index_url=index.url)
    message = str(caught.value)
    assert f"takes its version from git ({tool})" in message
    assert "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SDSCM_DEMO=<version>" in message
    assert index.requests == []  # said before any build ran
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_git_versioned_project_with_git_or_a_version_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkdeps._build.scm import check_vcs_version

    project = _scm_project(tmp_path, "setuptools-scm")
    monkeypatch.delenv("SETUPTOOLS_SCM_PRETEND_VERSION", raising=False)
    monkeypatch.setenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SDSCM_DEMO", "1.2.3")
    check_vcs_version(project, "p")  # the version is given: no refusal
    monkeypatch.delenv("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SDSCM_DEMO")
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=60)
    check_vcs_version(project, "p")  # a clone: setuptools-scm can ask git
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    check_vcs_version(plain, "plain")  # not git-versioned at all


def test_version_override_reaches_the_build(tmp_path: Path, index: IndexServer) -> None:
    project = _scm_project(tmp_path, "setuptools-scm")
    common = ["--dest", str(tmp_path / "dest"), "--index-url", index.url,
              "--cache-dir", str(tmp_path / "cache"), "--json"]  # fmt: skip
    refused = _cli("build", str(project), *common)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["type"] == "BuildError" and "--version-override sdscm-demo=1.2.3" in error["fix"]
    # with the version given, the check passes and the backend runs (the test index has no
    # setuptools-scm, so the backend's requirements cannot be installed: a different error)
    given = _cli("build", str(project), *common, "--version-override", "sdscm-demo=1.2.3")
    assert given.returncode == 1
    assert "takes its version from git" not in given.stdout + given.stderr
    assert json.loads(given.stdout)["error"]["type"] == "BuildCommandError"
    bad = _cli("build", str(project), *common, "--version-override", "sdscm-demo")
    assert json.loads(bad.stdout)["error"]["message"].startswith("--version-override")


def test_pretended_version_is_part_of_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkdeps._build.scm import pretend_versions, scm_versions_key

    monkeypatch.delenv("SETUPTOOLS_SCM_PRETEND_VERSION", raising=False)
    before = scm_versions_key()
    with pretend_versions(["sdscm-demo=1.2.3"]):
        first = scm_versions_key()
    with pretend_versions(["sdscm-demo=1.2.4"]):
        second = scm_versions_key()
    assert len({before, first, second}) == 3
    assert scm_versions_key() == before  # the environment is restored
