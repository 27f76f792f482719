"""Runtime-aware builds against a fake runtime (a freeze file) and a local index.

The index on 127.0.0.1 serves wheels built here: a compiled "numpy" in two majors
(the name matters: numpy is protected), a "pyarrow" that depends on it, a library
the runtime has at 1.0 and a package that needs its 2.0. The runtime is a
``pip list --format=freeze`` file listing numpy 1.23.5, pyarrow 8.0.0 and the
library 1.0, for the running Python.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.index import IndexServer
from tests.support.wheels import make_cext_wheel, make_wheel

from sparkdeps import build
from sparkdeps._cli import main
from sparkdeps._core.errors import InputError, RuntimeConflictError
from sparkdeps._core.manifest import Manifest
from sparkdeps._core.wheelhouse import read_manifest

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _pure(root: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    module = name.replace("-", "_")
    make_wheel(
        root, name, version, {f"{module}/__init__.py": f"V = {version!r}\n"}, requires=requires
    )


@pytest.fixture(scope="module")
def rt_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("rt-index")
    for version in ("1.23.5", "2.1.3"):
        make_cext_wheel(root, "numpy", version, module="numpy")
    _pure(root, "pyarrow", "8.0.0", ("numpy>=1.16.6",))
    _pure(root, "pyarrow", "19.0.1", ("numpy>=1.16.6",))
    _pure(root, "sdtest-rtlib", "1.0")
    _pure(root, "sdtest-rtlib", "2.0")
    _pure(root, "sdtest-wantsnew", "1.0", ("sdtest-rtlib>=2",))
    _pure(root, "sdtest-needsnp2", "1.0", ("numpy>=2",))
    _pure(root, "sdtest-arrowuser", "1.0", ("pyarrow>=8", "sdtest-rtlib"))
    with IndexServer(root) as server:
        yield server


@pytest.fixture
def freeze(tmp_path: Path) -> Path:
    path = tmp_path / "runtime.txt"
    path.write_text(
        f"# python {HOST}\nnumpy==1.23.5\npyarrow==8.0.0\nsdtest-rtlib==1.0\n"
        "sdtest-notonindex==3.0\n",
        "utf-8",
    )
    return path


def _requirements(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def _build(tmp_path: Path, index: IndexServer, source: Path, **options: object) -> Manifest:
    result = build(
        source,
        dest=tmp_path / "dest",
        index_url=index.url,
        python_version=HOST,
        platform="x86_64",
        use_cache=False,
        task_value_key=None,
        **options,  # type: ignore[arg-type]
    )
    return read_manifest(Path(result.uri))


def _pip_wheel_requests(index: IndexServer) -> list[str]:
    return [path for agent, path in index.agents if agent.startswith("pip/") and ".whl" in path]


def test_requirement_the_runtime_satisfies_ships_nothing(
    tmp_path: Path, rt_index: IndexServer, freeze: Path
) -> None:
    source = _requirements(tmp_path, "sdtest-arrowuser", "pyarrow>=8", "sdtest-rtlib")
    manifest = _build(tmp_path, rt_index, source, runtime_packages=freeze)
    assert [w.name for w in manifest.wheels] == ["sdtest-arrowuser"]
    assert manifest.wheels[0].runtime == "new"
    runtime = manifest.runtime
    assert runtime is not None
    assert runtime["name"] == str(freeze)
    relied = {item["name"]: item for item in runtime["relied_on"]}
    assert {n: i["version"] for n, i in relied.items()} == {
        "numpy": "1.23.5",
        "pyarrow": "8.0.0",
        "sdtest-rtlib": "1.0",
    }
    assert relied["numpy"]["protected"] is True and relied["sdtest-rtlib"]["protected"] is False
    assert relied["pyarrow"]["requires"] == ">=8"
    assert len(runtime["digest"]) == 64 and runtime["shadows"] == []


def test_upgrade_of_a_runtime_package_ships_and_shadows(
    tmp_path: Path, rt_index: IndexServer, freeze: Path
) -> None:
    source = _requirements(tmp_path, "sdtest-wantsnew")
    manifest = _build(tmp_path, rt_index, source, runtime_packages=freeze)
    by_name = {w.name: w for w in manifest.wheels}
    assert sorted(by_name) == ["sdtest-rtlib", "sdtest-wantsnew"]
    assert (by_name["sdtest-rtlib"].runtime, by_name["sdtest-rtlib"].shadows) == ("shadows", "1.0")
    assert by_name["sdtest-wantsnew"].runtime == "new"
    assert manifest.runtime is not None
    assert manifest.runtime["shadows"] == [
        {"name": "sdtest-rtlib", "version": "2.0", "runtime_version": "1.0", "protected": False}
    ]


def test_protected_conflict_fails_before_any_download(
    tmp_path: Path, rt_index: IndexServer, freeze: Path
) -> None:
    source = _requirements(tmp_path, "sdtest-arrowuser", "sdtest-needsnp2")
    rt_index.reset_counts()
    with pytest.raises(RuntimeConflictError) as caught:
        _build(tmp_path, rt_index, source, runtime_packages=freeze)
    message = str(caught.value)
    assert "numpy: the runtime " + str(freeze) + " has numpy 1.23.5" in message
    assert "protected" in message
    assert f"{source.name}:2 sdtest-needsnp2 -> sdtest-needsnp2 1.0 -> numpy 2.1.3" in message
    assert "needs numpy >=2" in message
    assert "--override-runtime numpy" in message and "override_runtime=['numpy']" in message
    assert "target a runtime whose numpy already fits: " in message
    assert "dbr-17.3 (2.1.3)" in message and "serverless-v4 (2.1.3)" in message
    assert "nothing was downloaded" in message
    (conflict,) = caught.value.conflicts
    assert conflict.name == "numpy" and conflict.wanted == "2.1.3"  # type: ignore[attr-defined]
    # uv read metadata, but pip fetched no wheel and nothing was published
    assert _pip_wheel_requests(rt_index) == []
    assert any(agent.startswith("uv/") for agent, _ in rt_index.agents)
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_override_runtime_ships_the_protected_package_with_a_warning(
    tmp_path: Path, rt_index: IndexServer, freeze: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _requirements(tmp_path, "sdtest-needsnp2")
    with caplog.at_level(logging.WARNING, logger="sparkdeps"):
        manifest = _build(
            tmp_path, rt_index, source, runtime_packages=freeze, override_runtime=["NumPy"]
        )
    by_name = {w.name: w for w in manifest.wheels}
    assert sorted(by_name) == ["numpy", "sdtest-needsnp2"]
    assert (by_name["numpy"].version, by_name["numpy"].shadows) == ("2.1.3", "1.23.5")
    assert manifest.runtime is not None and manifest.runtime["overrides"] == ["numpy"]
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "shipping numpy 2.1.3 over the runtime's numpy 1.23.5 (--override-runtime)" in warning
    assert "pyspark imports the runtime's copy before user code" in warning


def test_target_without_a_package_set_ships_the_full_closure(
    tmp_path: Path, rt_index: IndexServer
) -> None:
    source = _requirements(tmp_path, "sdtest-arrowuser", "sdtest-needsnp2")
    manifest = _build(tmp_path, rt_index, source)
    names = sorted(w.name for w in manifest.wheels)
    assert names == ["numpy", "pyarrow", "sdtest-arrowuser", "sdtest-needsnp2", "sdtest-rtlib"]
    assert manifest.runtime is None
    assert all(w.runtime is None and w.shadows is None for w in manifest.wheels)
    raw = json.loads(manifest.to_json())
    assert "runtime" not in raw and all("runtime" not in w for w in raw["wheels"])


def test_override_without_a_package_set_is_refused(tmp_path: Path, rt_index: IndexServer) -> None:
    source = _requirements(tmp_path, "sdtest-rtlib")
    with pytest.raises(InputError, match="needs a target with a runtime package set"):
        _build(tmp_path, rt_index, source, override_runtime=["numpy"])


def test_freeze_file_for_another_python_is_refused(tmp_path: Path, rt_index: IndexServer) -> None:
    other = tmp_path / "other.txt"
    other.write_text("# python 3.99\nnumpy==1.23.5\n", "utf-8")
    with pytest.raises(Exception, match=r"Python 3\.99 but the target is Python"):
        _build(tmp_path, rt_index, _requirements(tmp_path, "sdtest-rtlib"), runtime_packages=other)


def test_cli_build_with_runtime_packages_and_override(
    tmp_path: Path, rt_index: IndexServer, freeze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-needsnp2")
    common = [
        "build", str(source), "--dest", str(tmp_path / "dest"), "--index-url", rt_index.url,
        "--python", HOST, "--platform", "x86_64", "--runtime-packages", str(freeze),
        "--no-cache", "--task-value-key", "",
    ]  # fmt: skip
    assert main(common) == 1
    assert "--override-runtime numpy" in capsys.readouterr().err
    assert main([*common, "--override-runtime", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "numpy-2.1.3" in out


@pytest.fixture(scope="module")
def pure_numpy_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """Pure stand-ins for numpy releases: any profile's Python resolves them."""
    root = tmp_path_factory.mktemp("pure-numpy-index")
    for version in ("1.23.5", "1.26.4", "2.1.3", "2.2.6"):
        _pure(root, "numpy", version)
    _pure(root, "sdtest-np2user", "1.0", ("numpy>=2.1",))
    with IndexServer(root) as server:
        yield server


@pytest.mark.parametrize(
    ("profile", "line", "chain", "asked"),
    [
        ("dbr-14.3", "numpy>=2", "numpy>=2 -> numpy 2.2.6", ">=2"),
        ("dbr-15.4", "numpy>=2", "numpy>=2 -> numpy 2.2.6", ">=2"),
        (
            "dbr-15.4",
            "sdtest-np2user",
            "sdtest-np2user -> sdtest-np2user 1.0 -> numpy 2.2.6",
            ">=2.1",
        ),
    ],
    ids=["dbr-14.3-direct", "dbr-15.4-direct", "dbr-15.4-transitive"],
)
def test_refusal_names_the_profiles_that_fit_with_real_runtime_data(
    tmp_path: Path, pure_numpy_index: IndexServer, profile: str, line: str, chain: str, asked: str
) -> None:
    source = _requirements(tmp_path, "sdtest-rtlib-absent-ok; python_version < '3'", line)
    pure_numpy_index.reset_counts()
    with pytest.raises(RuntimeConflictError) as caught:
        build(
            source,
            dest=tmp_path / "dest",
            target=profile,
            index_url=pure_numpy_index.url,
            use_cache=False,
            task_value_key=None,
        )
    message = str(caught.value)
    assert f"numpy: the runtime {profile} has numpy 1.23.5" in message
    assert f"the input needs numpy {asked};" in message
    assert f"  {source.name}:2 {chain}\n" in message
    fits = message.split("target a runtime whose numpy already fits: ", 1)[1].splitlines()[0]
    assert fits == "dbr-17.3 (2.1.3), dbr-17.3-ml (2.1.3), serverless-v4 (2.1.3)"
    assert "--override-runtime numpy" in message
    assert _pip_wheel_requests(pure_numpy_index) == []


def _check_args(source: Path, index: IndexServer, freeze: Path) -> list[str]:
    return [
        "check", str(source), "--index-url", index.url, "--python", HOST,
        "--platform", "x86_64", "--runtime-packages", str(freeze),
    ]  # fmt: skip


def test_check_json_lists_ship_runtime_and_shadows_without_downloading(
    tmp_path: Path, rt_index: IndexServer, freeze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-arrowuser", "sdtest-wantsnew")
    rt_index.reset_counts()
    assert main([*_check_args(source, rt_index, freeze), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["conflicts"] == []
    assert report["runtime"]["name"] == str(freeze)
    assert [(p["name"], p["status"]) for p in report["ship"]] == [
        ("sdtest-arrowuser", "new"),
        ("sdtest-rtlib", "shadows"),
        ("sdtest-wantsnew", "new"),
    ]
    assert [p["name"] for p in report["runtime_provides"]] == ["numpy", "pyarrow"]
    assert report["shadows"][0]["runtime_version"] == "1.0"
    assert _pip_wheel_requests(rt_index) == []


def test_check_table_and_dry_run_report_a_conflict_with_exit_code_1(
    tmp_path: Path, rt_index: IndexServer, freeze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-needsnp2")
    rt_index.reset_counts()
    assert main(_check_args(source, rt_index, freeze)) == 1
    table = capsys.readouterr().out
    assert "CONFLICT numpy: runtime has 1.23.5 (protected), input needs >=2" in table
    assert f"via {source.name}:1 sdtest-needsnp2 -> sdtest-needsnp2 1.0 -> numpy 2.1.3" in table
    assert "not buildable for this runtime" in table
    dry = ["build", "--dry-run", *_check_args(source, rt_index, freeze)[1:]]
    assert main([*dry, "--dest", str(tmp_path / "dest"), "--override-runtime", "numpy"]) == 0
    table = capsys.readouterr().out
    assert "numpy" in table and "ship (shadows) OVERRIDE" in table
    assert not (tmp_path / "dest").exists()
    assert _pip_wheel_requests(rt_index) == []


def test_check_without_a_package_set_ships_everything(
    tmp_path: Path, rt_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-arrowuser")
    args = ["check", str(source), "--index-url", rt_index.url, "--python", HOST, "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runtime"] is None
    assert {p["name"] for p in report["ship"]} == {
        "numpy",
        "pyarrow",
        "sdtest-arrowuser",
        "sdtest-rtlib",
    }


def test_runtime_freeze_output_reads_back_as_a_runtime_set(tmp_path: Path) -> None:
    out = tmp_path / "runtime.txt"
    assert main(["runtime-freeze", "-o", str(out)]) == 0
    from sparkdeps._core.runtimes import read_runtime_file

    packages = read_runtime_file(out)
    assert packages.python_version == HOST
    assert packages.version_of("packaging") is not None
    assert packages.version_of("pytest") is not None


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"target": "dbr-14.3"}, "dbr-14.3"),
        ({"target": "serverless-v4", "platform": "aarch64"}, "serverless-v4"),
        ({"target": "PROFILE-OBJECT"}, "dbr-17.3-ml"),
        ({"python_version": "3.10", "platform": "x86_64"}, None),
        ({}, None),
    ],
    ids=["profile", "profile-aarch64", "profile-object", "explicit", "host"],
)
def test_which_targets_carry_a_package_set(choice: dict[str, object], expected: str | None) -> None:
    from sparkdeps._core.target import PROFILES, choose_target

    if choice.get("target") == "PROFILE-OBJECT":
        choice = {"target": PROFILES["dbr-17.3-ml"]}
    target = choose_target(**choice)  # type: ignore[arg-type]
    assert (target.runtime.name if target.runtime else None) == expected
    if target.runtime is not None:
        assert target.runtime.protected()["numpy"] == target.runtime.version_of("NumPy")
        assert target.key().endswith(target.runtime.digest[:16])
