"""Installing sparkdeps changes nothing on the runtime it is installed on (issue 17).

``pip install sparkdeps`` (no extras) runs on every cluster. Every dependency of it
must be met by the versions each supported runtime already ships, the oldest being
DBR 13.3's packaging 21.3. Proved with real tools against real wheels of exactly those
versions (tests/support/floors.py; ``scripts/fetch_floor_wheels.py`` downloads them
once, README's test command runs it), served by the test index on 127.0.0.1:

* uv resolves sparkdeps with each profile's whole package set as constraints;
* real pip installs sparkdeps into a venv holding DBR 13.3's versions (a stand-in for
  the runtime: packaging 21.3 and pyparsing 3.0.9, what sparkdeps' closure touches)
  while the index also offers newer packaging, and changes nothing else;
* the runtime half runs in that venv: load, inspect, CLI cleanup, every module import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from tests.support.floors import (
    FETCH_COMMAND,
    FLOOR_WHEELS,
    closure,
    every_profile,
    runtime_requirements,
    wheel_requires,
)
from tests.support.index import IndexServer
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, target_for
from tests.support.wheels import find_python, make_wheel, wheel_from_installed

from sparkdeps._core.runner import uv_command
from sparkdeps._core.runtimes import runtime_packages
from sparkdeps._core.target import PROFILES

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "apps" / "oldest_packaging_app.py"
PROFILE_IDS = every_profile()
STANDIN = "dbr-13.3"


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    # the machine's pip.conf (find-links, extra indexes, a constraint file) must not leak in
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, timeout=300, **kwargs
    )  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def floor_wheels() -> Path:
    """The downloaded real wheels; their absence fails in CI and skips elsewhere, saying why."""
    wanted = {
        p for name in PROFILE_IDS for p in closure(name, FLOOR_WHEELS, runtime_requirements())[1]
    }
    missing = sorted(p for p in wanted if p.startswith("missing wheel"))
    if missing:
        message = f"{', '.join(missing)} in {FLOOR_WHEELS}: run `{FETCH_COMMAND}` once"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return FLOOR_WHEELS


@pytest.fixture(scope="module")
def sparkdeps_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sparkdeps built from this tree (a copy, so the worktree gets no build/ folder)."""
    root = tmp_path_factory.mktemp("sparkdeps-wheel")
    source = root / "src-copy"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = root / "dist"
    completed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(source),
        ]
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [wheel] = out.glob("sparkdeps-*.whl")
    return wheel


@pytest.fixture(scope="module")
def footprint_index(
    tmp_path_factory: pytest.TempPathFactory, floor_wheels: Path, sparkdeps_wheel: Path
) -> Iterator[IndexServer]:
    """sparkdeps, every profile's packaging (+ pyparsing), and this venv's newer packaging:
    a floor set too high would make pip or uv take the newest."""
    root = tmp_path_factory.mktemp("footprint-index")
    for wheel in [*floor_wheels.glob("*.whl"), sparkdeps_wheel]:
        shutil.copy2(wheel, root / wheel.name)
    wheel_from_installed("packaging", root)
    with IndexServer(root) as server:
        yield server


def _requirements_of(wheel: Path) -> list[Requirement]:
    return runtime_requirements(str(req) for req in wheel_requires(wheel))


def test_the_packaging_floor_is_the_oldest_any_runtime_ships(sparkdeps_wheel: Path) -> None:
    [packaging] = [r for r in _requirements_of(sparkdeps_wheel) if r.name == "packaging"]
    oldest = min(Version(runtime_packages(name).packages["packaging"]) for name in PROFILE_IDS)
    assert oldest == Version("21.3")  # DBR 13.3 (and its ML variant)
    assert str(packaging.specifier) == f">={oldest}", (
        "the plain install must accept every runtime's packaging; raise it only with the "
        "oldest supported runtime, and keep newer APIs behind a fallback"
    )


@pytest.mark.network
@pytest.mark.parametrize("profile", PROFILE_IDS, ids=PROFILE_IDS)
def test_uv_resolves_sparkdeps_within_every_profile(
    profile: str, footprint_index: IndexServer, sparkdeps_wheel: Path, tmp_path: Path
) -> None:
    shipped = runtime_packages(profile).packages
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in shipped.items()))
    requirements = tmp_path / "requirements.in"
    version = sparkdeps_wheel.name.split("-")[1]
    requirements.write_text(f"sparkdeps=={version}\n")
    target = PROFILES[profile]
    completed = _run(
        [
            *uv_command(),
            "pip",
            "compile",
            "--no-config",
            "--no-header",
            "--no-annotate",
            "--no-python-downloads",
            "--python",
            sys.executable,
            "--python-version",
            target.python_full_version,
            "--python-platform",
            target.uv_platform,
            "--index-url",
            footprint_index.url,
            "--cache-dir",
            str(tmp_path / "uv-cache"),
            "--constraint",
            str(constraints),
            str(requirements),
        ]
    )
    assert completed.returncode == 0, completed.stderr
    pins = dict(line.split("==", 1) for line in completed.stdout.splitlines() if "==" in line)
    assert pins.pop("sparkdeps") == version
    expected, problems = closure(profile, FLOOR_WHEELS, _requirements_of(sparkdeps_wheel))
    assert problems == []
    assert pins == expected  # exactly the closure, each at the version the runtime ships
    assert all(shipped[name] == pinned for name, pinned in pins.items())


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory, footprint_index: IndexServer) -> Path:
    """A venv holding DBR 13.3's versions of what sparkdeps' closure touches (Python 3.10,
    the runtime's, where this machine has it)."""
    python = find_python("3.10") or Path(sys.executable)
    root = tmp_path_factory.mktemp("dbr133-standin") / "venv"
    completed = _run([str(python), "-m", "venv", str(root)])
    assert completed.returncode == 0, completed.stderr
    pins = closure(STANDIN, FLOOR_WHEELS, [Requirement("packaging")])[0]
    completed = _run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--index-url",
            footprint_index.url,
            *(f"{n}=={v}" for n, v in pins.items()),
        ]
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root / "bin" / "python"


def _freeze(python: Path) -> dict[str, str]:
    completed = _run([str(python), "-m", "pip", "list", "--format=freeze"])
    assert completed.returncode == 0, completed.stderr
    return dict(line.split("==", 1) for line in completed.stdout.split())


@pytest.fixture(scope="module")
def installed(
    standin: Path, footprint_index: IndexServer
) -> tuple[dict[str, str], dict[str, str], subprocess.CompletedProcess[str]]:
    """``pip install sparkdeps`` into the stand-in: (freeze before, freeze after, pip's run)."""
    before = _freeze(standin)
    completed = _run(
        [str(standin), "-m", "pip", "install", "--index-url", footprint_index.url, "sparkdeps"]
    )
    return before, _freeze(standin), completed


@pytest.mark.network
def test_pip_install_sparkdeps_on_a_dbr_13_3_standin_adds_only_sparkdeps(
    standin: Path,
    installed: tuple[dict[str, str], dict[str, str], subprocess.CompletedProcess[str]],
    sparkdeps_wheel: Path,
) -> None:
    before, after, completed = installed
    assert before["packaging"] == "21.3" and before["pyparsing"] == "3.0.9"
    assert completed.returncode == 0, completed.stdout + completed.stderr
    version = sparkdeps_wheel.name.split("-")[1]
    assert {n: v for n, v in after.items() if before.get(n) != v} == {"sparkdeps": version}
    assert set(before) <= set(after)
    assert "Uninstalling" not in completed.stdout
    check = _run([str(standin), "-m", "pip", "check"])
    assert check.returncode == 0, check.stdout


@pytest.mark.network
def test_the_runtime_half_runs_on_the_oldest_packaging(
    standin: Path,
    installed: tuple[dict[str, str], dict[str, str], subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    assert installed[2].returncode == 0, installed[2].stdout + installed[2].stderr
    wheels = load_test_wheels(tmp_path / "wheels", python=standin)
    wheels.append(
        make_wheel(
            tmp_path / "wheels",
            "sdload-needs",
            "1.0",
            {"sdload_needs/__init__.py": "X = 1\n"},
            requires=['sdload-pure>=1.0; python_version >= "3"'],
        )
    )
    uri = make_wheelhouse(tmp_path / "runs", wheels, target=target_for(standin))
    cache = tmp_path / "node-cache"
    completed = _run([str(standin), str(APP), "21.3", str(uri), str(cache)], cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["missing"] == []  # every packaging name the runtime half imports exists
    assert report["modules"] > 15
    assert report["build_half_imported"] == []
    assert report["packaging_file"].startswith(str(standin.parent.parent))
    assert set(report["imported"]) >= {"sdload_pure", "sdload_cext", "sdload_needs"}
    assert all(path.startswith(str(cache)) for path in report["imported"].values())
    assert 'sdload-pure>=1.0; python_version >= "3"' in report["requires"]
    assert report["cleanup_exit"] == 0, report["cleanup_output"]
    assert report["run_folder_left"] is False
    assert len(report["manifest_wheels"]) == len(wheels)
