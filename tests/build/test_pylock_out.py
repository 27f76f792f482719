"""Every wheelhouse carries a pylock.toml (PEP 751) that real pip and real uv install offline."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from packaging.version import Version
from tests.support.builds import local_build
from tests.support.index import IndexServer

from sparkdeps._build.export import pylock_text
from sparkdeps._cli import main
from sparkdeps._core.errors import IntegrityError
from sparkdeps._core.manifest import Manifest
from sparkdeps._core.results import BuildResult
from sparkdeps._core.runner import uv_command
from sparkdeps._core.target import choose_target

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

pytestmark = pytest.mark.network


def _unzip(result: BuildResult, folder: Path) -> Path:
    with zipfile.ZipFile(result.uri) as archive:
        archive.extractall(folder)
    return folder / "pylock.toml"


def _installed(target: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for info in target.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].split("-", 1)
        found[name.replace("_", "-")] = version
    return found


def _install(tool: str, lock: Path, target: Path) -> subprocess.CompletedProcess[str]:
    if tool == "pip":
        command = [sys.executable, "-m", "pip", "--isolated", "install", "--no-index"]
        command += ["--disable-pip-version-check", "--target", str(target), "-r", str(lock)]
    else:
        command = [*uv_command(), "pip", "install", "--no-config", "--offline", "--no-index"]
        command += ["--python", sys.executable, "--target", str(target), "-r", str(lock)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_test_environment_has_a_pylock_pip() -> None:
    """pip 26.1+ is what installs `-r pylock.toml`; the test extra asks for it."""
    import pip

    assert Version(pip.__version__) >= Version("26.1"), pip.__version__


@pytest.mark.parametrize("tool", ["pip", "uv"], ids=["pip", "uv"])
def test_pylock_installs_the_manifest_set_offline(
    tool: str, fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    result = local_build(fixture_project("requirements") / "requirements.txt", tmp_path, index)
    lock = _unzip(result, tmp_path / "unzipped")
    target = tmp_path / "site"
    done = _install(tool, lock, target)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {wheel.name: wheel.version for wheel in result.manifest.wheels}
    assert _installed(target) == expected


def test_pylock_hashes_are_checked_by_pip(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    result = local_build(fixture_project("requirements") / "requirements.txt", tmp_path, index)
    lock = _unzip(result, tmp_path / "unzipped")
    victim = next(lock.parent.glob("wheels/sdtest_gamma-*.whl"))
    with zipfile.ZipFile(victim, "a") as archive:
        archive.writestr("sdtest_gamma/evil.py", "X = 1\n")
    done = _install("pip", lock, tmp_path / "site")
    assert done.returncode != 0
    assert "hash" in (done.stdout + done.stderr).lower()


def test_pylock_is_valid_deterministic_and_selects_everything(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    source = fixture_project("requirements") / "requirements.txt"
    first = local_build(source, tmp_path, index, use_cache=False)
    second = local_build(source, tmp_path, index, use_cache=False)
    with zipfile.ZipFile(first.uri) as a, zipfile.ZipFile(second.uri) as b:
        text = a.read("pylock.toml")
        assert text == b.read("pylock.toml")
        assert text.decode() == pylock_text(Manifest.from_json(a.read("manifest.json")))
    lock = Pylock.from_dict(tomllib.loads(text.decode()))
    lock.validate()
    assert str(lock.requires_python) == f"=={first.target.python_version}.*"
    chosen = {
        package.name: str(package.version)
        for package, _wheel in lock.select(
            environment=first.target.markers(),  # type: ignore[arg-type]
            tags=list(first.target.tags),
        )
    }
    assert chosen == {wheel.name: wheel.version for wheel in first.wheels}
    for package in lock.packages:
        (wheel,) = package.wheels or ()
        info = next(w for w in first.wheels if w.name == package.name)
        assert wheel.path == f"wheels/{info.filename}"
        assert wheel.size == info.size
        assert dict(wheel.hashes) == {"sha256": info.sha256}


def test_conditional_dependency_keeps_its_marker(
    fixture_project, tmp_path: Path, index: IndexServer
) -> None:
    """sdtest-marker needs sdtest-oldpy only below 3.11: on a 3.10 target the lock says so."""
    target = choose_target(None, python_version="3.10", platform="x86_64")
    result = local_build(
        fixture_project("requirements") / "requirements.txt", tmp_path, index, target=target
    )
    with zipfile.ZipFile(result.uri) as archive:
        data = tomllib.loads(archive.read("pylock.toml").decode())
    markers = {p["name"]: p.get("marker") for p in data["packages"]}
    assert markers["sdtest-oldpy"] == 'python_version < "3.11"'
    assert markers["sdtest-alpha"] is None
    assert data["environments"] == [
        'implementation_name == "cpython" and python_version == "3.10" '
        'and sys_platform == "linux" and platform_machine == "x86_64"'
    ]


def test_cli_inspect_pylock_and_export(
    fixture_project, tmp_path: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = local_build(fixture_project("requirements") / "requirements.txt", tmp_path, index)
    with zipfile.ZipFile(result.uri) as archive:
        inside = archive.read("pylock.toml").decode()
    assert main(["inspect", "--pylock", result.uri]) == 0
    assert capsys.readouterr().out == inside
    assert main(["export", str(Path(result.uri).parent), "--format", "pylock"]) == 0
    assert capsys.readouterr().out == inside
    assert main(["export", result.uri, "--format", "requirements"]) == 0
    out = capsys.readouterr().out
    for wheel in result.wheels:
        assert f"{wheel.name}=={wheel.version}" in out
        assert f"--hash=sha256:{wheel.sha256}" in out
    # the requirements export installs the same set with pip's hash checking
    listing = tmp_path / "pins.txt"
    listing.write_text(out)
    unzipped = _unzip(result, tmp_path / "unzipped").parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--no-index",
            "--find-links",
            str(unzipped / "wheels"),
            "--require-hashes",
            "--target",
            str(tmp_path / "site"),
            "-r",
            str(listing),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _installed(tmp_path / "site") == {w.name: w.version for w in result.wheels}


def test_inspect_pylock_of_an_old_wheelhouse_names_the_fix(
    fixture_project, tmp_path: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = local_build(fixture_project("requirements") / "requirements.txt", tmp_path, index)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(result.uri) as source, zipfile.ZipFile(old, "w") as out:
        for name in source.namelist():
            if name != "pylock.toml":
                out.writestr(name, source.read(name))
    from sparkdeps._runtime.inspect import read_pylock

    with pytest.raises(IntegrityError, match="export WHEELHOUSE --format pylock"):
        read_pylock(old)
    # export writes one from the manifest instead
    assert main(["export", str(old), "--format", "pylock"]) == 0
    with zipfile.ZipFile(result.uri) as archive:
        assert capsys.readouterr().out == archive.read("pylock.toml").decode()
