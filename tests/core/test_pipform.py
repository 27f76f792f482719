"""The one renderer of hashed requirement lines (``_core/pipform.py``), read back by real pip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import InputError
from sparkdeps._core.manifest import inspect_wheel
from sparkdeps._core.pipform import pip_path, requirement_line, requirement_lines, requirements_text


def _pip_install(requirements: Path, into: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
         "--target", str(into), "-r", str(requirements)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def _wheels(folder: Path) -> list[Path]:
    return [
        make_wheel(folder, "sdpip-alpha", "1.0", {"sdpip_alpha/__init__.py": "A = 1\n"},
                   requires=["sdpip-beta==2.0"]),
        make_wheel(folder, "sdpip-beta", "2.0", {"sdpip_beta/__init__.py": "B = 2\n"}),
    ]  # fmt: skip


def test_lines_are_absolute_hashed_and_sorted(tmp_path: Path) -> None:
    wheels = [inspect_wheel(path) for path in reversed(_wheels(tmp_path / "w"))]
    lines = requirement_lines(wheels, tmp_path / "w")
    assert [line.split()[0] for line in lines] == [
        f"{tmp_path}/w/sdpip_alpha-1.0-py3-none-any.whl",
        f"{tmp_path}/w/sdpip_beta-2.0-py3-none-any.whl",
    ]
    assert lines[0].endswith(f" --hash=sha256:{wheels[1].sha256}")
    bare = requirement_lines(wheels, tmp_path / "w", hashes=False)
    assert all("--hash" not in line for line in bare)


def test_pip_installs_the_lines_and_refuses_a_changed_wheel(tmp_path: Path) -> None:
    paths = _wheels(tmp_path / "w")
    wheels = [inspect_wheel(path) for path in paths]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirements_text(wheels, tmp_path / "w", comment="a test run"))
    assert requirements.read_text().startswith("# a test run\n")

    done = _pip_install(requirements, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "sdpip_alpha" / "__init__.py").is_file()
    assert (tmp_path / "site" / "sdpip_beta" / "__init__.py").is_file()

    make_wheel(tmp_path / "w", "sdpip-beta", "2.0", {"sdpip_beta/__init__.py": "B = 'evil'\n"})
    refused = _pip_install(requirements, tmp_path / "site2")
    assert refused.returncode != 0
    assert "HASHES" in refused.stderr.upper()
    assert not (tmp_path / "site2" / "sdpip_beta").exists()


@pytest.mark.parametrize(
    ("folder", "fix"),
    [
        pytest.param("relative/wheels", "absolute", id="relative"),
        pytest.param("/Volumes/a b/wheels", "plainer path", id="space"),
        pytest.param("/Volumes/a#b", "plainer path", id="hash-sign"),
        pytest.param("/Volumes/a;b", "plainer path", id="semicolon"),
    ],
)
def test_a_folder_pip_would_misread_is_refused(folder: str, fix: str) -> None:
    with pytest.raises(InputError, match=fix):
        requirement_line(folder, "x-1.0-py3-none-any.whl", "0" * 64)


@pytest.mark.parametrize(
    ("filename", "sha256", "match"),
    [
        pytest.param("../x-1.0-py3-none-any.whl", "0" * 64, "wheel file name", id="traversal"),
        pytest.param("x-1.0.tar.gz", "0" * 64, "wheel file name", id="not-a-wheel"),
        pytest.param("x-1.0-py3-none-any.whl", "ABC", "64 lowercase", id="bad-hash"),
    ],
)
def test_a_bad_wheel_entry_is_refused(filename: str, sha256: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        requirement_line("/Volumes/c/s/v", filename, sha256)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("/Volumes/c/s/v/run", "/Volumes/c/s/v/run", id="volumes"),
        pytest.param("dbfs:/tmp/deps/run", "/dbfs/tmp/deps/run", id="dbfs"),
        pytest.param("file:///srv/deps/run", "/srv/deps/run", id="file-uri"),
        pytest.param("/Workspace/Users/a/deps", "/Workspace/Users/a/deps", id="workspace"),
    ],
)
def test_pip_path_is_what_a_cluster_opens(uri: str, expected: str) -> None:
    assert pip_path(uri) == expected


def test_pip_path_refuses_a_remote_uri() -> None:
    with pytest.raises(InputError, match="s3: URI"):
        pip_path("s3://bucket/deps/run")
