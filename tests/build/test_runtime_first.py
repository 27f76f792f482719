"""Runtime-first resolution (issue 23) against real runtime profiles and a local index.

The index on 127.0.0.1 serves pure stand-ins built here under the names that matter
(protection is by name): a PyPI-like ``torch`` whose releases pull ``nvidia-*`` and
``triton`` packages, a ``sentence-transformers`` whose newest release needs a newer
torch, ``transformers``, PyPI-like ``pyspark``, ``py4j`` and ``delta-spark``. The
runtimes are the shipped profiles: ``dbr-15.4-ml`` has ``torch 2.3.1+cpu``,
sentence-transformers 2.7.0 and transformers 4.41.2; ``dbr-14.3`` has Spark 3.5.0.
Nothing is installed; ``check`` resolves only and pip downloads nothing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.index import IndexServer
from tests.support.wheels import make_sdist, make_wheel

from sparkdeps import build
from sparkdeps._build.preflight import CheckResult, check
from sparkdeps._cli import main
from sparkdeps._core.errors import BuildError, InputError, RuntimeConflictError
from sparkdeps._core.runtimes import runtime_packages

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
CUDA = ("nvidia-cublas-cu12", "nvidia-cudnn-cu12", "cuda-bindings")


def _pure(root: Path, name: str, version: str, *requires: str, size: int = 0) -> None:
    module = name.replace("-", "_")
    files: dict[str, str | bytes] = {f"{module}/__init__.py": f"V = {version!r}\n"}
    if size:
        files[f"{module}/blob.bin"] = bytes(size)
    make_wheel(root, name, version, files, requires=requires)


@pytest.fixture(scope="module")
def ml_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("runtime-first-index")
    for name in CUDA:
        _pure(root, name, "12.1.0")
    for version in ("2.3.1", "3.0.0"):
        _pure(root, "triton", version)
    _pure(root, "torch", "2.3.1", *(f"{n}==12.1.0" for n in CUDA), "triton==2.3.1")
    _pure(root, "torch", "2.5.0", *(f"{n}==12.1.0" for n in CUDA), "triton==3.0.0")
    _pure(root, "transformers", "4.41.2")
    _pure(root, "transformers", "4.50.0")
    _pure(root, "sentence-transformers", "2.7.0", "torch>=1.11", "transformers>=4.34")
    _pure(root, "sentence-transformers", "5.1.0", "torch>=2.5", "transformers>=4.50")
    _pure(root, "sdtest-rf-new", "1.0", "transformers>=4.30")
    _pure(root, "sdtest-rf-gpu", "1.0", "triton>=2")
    for version, py4j in (("3.5.0", "0.10.9.7"), ("3.5.1", "0.10.9.7"), ("4.2.1", "0.10.9.9")):
        _pure(root, "pyspark", version, f"py4j=={py4j}")
    for version in ("0.10.9.7", "0.10.9.9"):
        _pure(root, "py4j", version)
    _pure(root, "delta-spark", "3.1.0", "pyspark>=3.5.0,<3.6.0")
    _pure(root, "delta-spark", "4.0.0", "pyspark>=4.0.0")
    _pure(root, "databricks-connect", "14.3.0", "py4j==0.10.9.7")
    with IndexServer(root) as server:
        yield server


def _requirements(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def _check(tmp_path: Path, index: IndexServer, profile: str, *lines: str, **kw: Any) -> CheckResult:
    source = _requirements(tmp_path, *lines)
    return check(source, target=profile, index_url=index.url, **kw)


def _pip_wheels(index: IndexServer) -> list[str]:
    return [path for agent, path in index.agents if agent.startswith("pip/") and ".whl" in path]


def _shipped(result: CheckResult) -> list[str]:
    return [p.name for p in result.shipped]


def test_profiles_carry_spark_and_ml_runtimes_guard_their_own_builds() -> None:
    classic, ml = runtime_packages("dbr-14.3"), runtime_packages("dbr-15.4-ml")
    assert classic.version_of("pyspark") == "3.5.0" and classic.version_of("py4j") == "0.10.9.7"
    assert classic.version_of("delta-spark") == "3.1.0"
    assert {"pyspark", "py4j", "delta-spark", "numpy"} <= set(classic.protected())
    assert not classic.is_protected("torch") and not classic.is_protected("nvidia-cublas-cu12")
    assert ml.protected()["torch"] == "2.3.1+cpu" and ml.is_protected("nvidia-cublas-cu12")
    assert ml.guards("triton") and ml.guards("cuda-bindings") and not ml.guards("requests")
    # serverless has Spark (Databricks Connect's pyspark) but no built-in Delta
    assert runtime_packages("serverless-v4").version_of("pyspark") == "4.0.0"
    assert runtime_packages("serverless-v4").version_of("delta-spark") is None


@pytest.mark.parametrize(
    ("lines", "relied"),
    [
        (("sentence-transformers",), {"sentence-transformers": "2.7.0", "torch": "2.3.1+cpu"}),
        (("torch==2.3.1",), {"torch": "2.3.1+cpu"}),
        (("torch>=2,<2.4", "transformers>=4.40"), {"torch": "2.3.1+cpu"}),
    ],
    ids=["sentence-transformers", "torch-pin-matches-local-label", "ranges"],
)
def test_ml_runtime_relies_on_its_torch_and_ships_no_cuda(
    tmp_path: Path, ml_index: IndexServer, lines: tuple[str, ...], relied: dict[str, str]
) -> None:
    ml_index.reset_counts()
    result = _check(tmp_path, ml_index, "dbr-15.4-ml", *lines)
    assert result.ok and _shipped(result) == [] and result.relaxed == ()
    provides = {p.name: p.version for p in result.placements if p.status == "runtime"}
    assert relied.items() <= provides.items()
    assert _pip_wheels(ml_index) == []


def test_data_and_ml_input_ships_only_what_is_new(tmp_path: Path, ml_index: IndexServer) -> None:
    result = _check(
        tmp_path, ml_index, "dbr-15.4-ml", "sentence-transformers", "transformers", "sdtest-rf-new"
    )
    assert _shipped(result) == ["sdtest-rf-new"]
    placed = {p.name: (p.status, p.version) for p in result.placements}
    assert placed["transformers"] == ("runtime", "4.41.2")
    assert placed["torch"] == ("runtime", "2.3.1+cpu")


def test_unmet_torch_needs_an_override_and_names_the_chain(
    tmp_path: Path, ml_index: IndexServer
) -> None:
    result = _check(tmp_path, ml_index, "dbr-15.4-ml", "torch>=2.5")
    (conflict,) = result.conflicts
    assert conflict.name == "torch" and conflict.runtime_version == "2.3.1+cpu"
    assert "requirements.txt:1 torch>=2.5" in conflict.chains[0]


def test_cuda_package_absent_from_ml_runtime_is_refused_without_override(
    tmp_path: Path, ml_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-rf-gpu")
    args = ["check", str(source), "--target", "dbr-15.4-ml", "--index-url", ml_index.url]
    assert main(args) == 1
    table = capsys.readouterr().out
    assert "CONFLICT triton: runtime has none (an ML runtime builds its own)" in table
    assert "via requirements.txt:1 sdtest-rf-gpu -> sdtest-rf-gpu 1.0 -> triton 3.0.0" in table
    assert main([*args, "--override-runtime", "triton", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in report["ship"]] == ["sdtest-rf-gpu", "triton"]


@pytest.mark.parametrize(
    ("lines", "relied"),
    [
        (("pyspark>=3.4",), {"pyspark": "3.5.0"}),
        (("delta-spark",), {"delta-spark": "3.1.0"}),
        (
            ("pyspark[sql]>=3.4", "delta-spark>=3", "py4j"),
            {"pyspark": "3.5.0", "delta-spark": "3.1.0", "py4j": "0.10.9.7"},
        ),
    ],
    ids=["pyspark", "delta-spark", "all-three"],
)
def test_spark_on_a_runtime_ships_no_pyspark_and_no_py4j(
    tmp_path: Path, ml_index: IndexServer, lines: tuple[str, ...], relied: dict[str, str]
) -> None:
    ml_index.reset_counts()
    result = _check(tmp_path, ml_index, "dbr-14.3", *lines)
    assert result.ok and _shipped(result) == []
    provides = {p.name: p.version for p in result.placements if p.status == "runtime"}
    assert provides == relied
    assert _pip_wheels(ml_index) == []


@pytest.mark.parametrize(
    ("line", "fits"),
    [("pyspark==3.5.1", None), ("pyspark>=4", "dbr-17.3 (4.0.0), dbr-17.3-ml (4.0.0)")],
    ids=["pin-no-runtime-fits", "newer-spark-fits-17.3"],
)
def test_a_spark_the_runtime_lacks_is_a_conflict_naming_fitting_runtimes(
    tmp_path: Path, ml_index: IndexServer, line: str, fits: str | None
) -> None:
    source = _requirements(tmp_path, line)
    with pytest.raises(RuntimeConflictError) as caught:
        build(
            source, dest=tmp_path / "dest", target="dbr-14.3", index_url=ml_index.url,
            use_cache=False, task_value_key=None,
        )  # fmt: skip
    message = str(caught.value)
    assert "pyspark: the runtime dbr-14.3 has pyspark 3.5.0" in message
    if fits is None:
        assert "no known runtime profile has a pyspark that fits ==3.5.1" in message
    else:
        assert f"target a runtime whose pyspark already fits: {fits}" in message
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_databricks_connect_is_refused_with_its_reason(
    tmp_path: Path, ml_index: IndexServer
) -> None:
    with pytest.raises(InputError) as caught:
        _check(tmp_path, ml_index, "dbr-14.3", "requests", "databricks-connect==14.3.*")
    message = str(caught.value)
    assert "requirements.txt:2" in message and "client library" in message
    assert "replaces the runtime's pyspark" in message


@pytest.fixture(scope="module")
def relax_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("relax-index")
    _pure(root, "sdtest-rf-lib", "1.0")
    _pure(root, "sdtest-rf-lib", "2.0")
    _pure(root, "sdtest-rf-app", "1.0", "sdtest-rf-lib>=1")
    _pure(root, "sdtest-rf-app", "2.0", "sdtest-rf-lib>=2")
    _pure(root, "sdtest-rf-lib2", "1.0")
    _pure(root, "sdtest-rf-lib2", "2.0")
    _pure(root, "sdtest-rf-other", "1.0", "sdtest-rf-lib2")
    _pure(root, "sdtest-rf-other", "2.0", "sdtest-rf-lib2>=2")
    with IndexServer(root) as server:
        yield server


@pytest.fixture
def lib_runtime(tmp_path: Path) -> Path:
    path = tmp_path / "runtime.txt"
    path.write_text(f"# python {HOST}\nsdtest-rf-lib==1.0\nsdtest-rf-lib2==1.0\n", "utf-8")
    return path


def _check_file(tmp_path: Path, index: IndexServer, runtime: Path, *lines: str, **kw: Any) -> Any:
    source = _requirements(tmp_path, *lines)
    return check(
        source, python_version=HOST, platform="x86_64", runtime_packages=runtime,
        index_url=index.url, **kw,
    )  # fmt: skip


def test_unpinned_requirement_takes_the_release_the_runtime_meets(
    tmp_path: Path, relax_index: IndexServer, lib_runtime: Path
) -> None:
    first = _check_file(tmp_path, relax_index, lib_runtime, "sdtest-rf-app")
    assert [(p.name, p.version) for p in first.shipped] == [("sdtest-rf-app", "1.0")]
    assert first.held_back == (("sdtest-rf-app", "1.0", "2.0"),)  # said, with the way out
    newest = _check_file(tmp_path, relax_index, lib_runtime, "sdtest-rf-app", prefer_newest=True)
    assert [(p.name, p.version, p.status) for p in newest.shipped] == [
        ("sdtest-rf-app", "2.0", "new"),
        ("sdtest-rf-lib", "2.0", "shadows"),
    ]


def test_a_move_names_its_chain_and_the_older_release_that_avoids_it(
    tmp_path: Path, relax_index: IndexServer, lib_runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-rf-app>=2")
    args = ["check", str(source), "--python", HOST, "--platform", "x86_64"]
    args += ["--runtime-packages", str(lib_runtime), "--index-url", relax_index.url]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "sdtest-rf-lib 1.0 -> 2.0: the runtime's version does not meet the input" in table
    assert "requirements.txt:1 sdtest-rf-app>=2 -> sdtest-rf-app 2.0 -> sdtest-rf-lib 2.0" in table
    assert (
        "avoid it: sdtest-rf-app 1.0 would keep sdtest-rf-lib 1.0 "
        "(requirements.txt:1 asks sdtest-rf-app>=2)"
    ) in table
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in report["relaxed"]] == ["sdtest-rf-lib"]


@pytest.fixture(scope="module")
def heavy_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("heavy-index")
    make_wheel(root, "sdtest-rf-heavy", "1.0", {"sdtest_rf_heavy/blob.bin": os.urandom(3 << 20)})
    _pure(root, "sdtest-rf-light", "1.0", "sdtest-rf-heavy")
    return root


@pytest.mark.parametrize("json_pages", [True, False], ids=["pep691-size", "html-head"])
def test_check_reports_the_size_from_the_index_without_downloading(
    tmp_path: Path, heavy_files: Path, json_pages: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "sdtest-rf-light")
    heavy = next(heavy_files.glob("sdtest_rf_heavy-*.whl"))
    light = next(heavy_files.glob("sdtest_rf_light-*.whl"))
    with IndexServer(heavy_files, json_pages=json_pages) as index:
        args = ["check", str(source), "--target", "dbr-14.3", "--index-url", index.url, "--json"]
        assert main(args) == 0
        asked = [path for agent, path in index.agents if agent == "sparkdeps (size)"]
    report = json.loads(capsys.readouterr().out)
    size = report["size"]
    assert size["total_bytes"] == heavy.stat().st_size + light.stat().st_size
    assert size["heaviest"][0]["name"] == "sdtest-rf-heavy" and size["unknown"] == []
    # a JSON page gives the size; an HTML page costs one HEAD per file, never a download
    files = [path for path in asked if path.startswith("/files/")]
    assert len(files) == (0 if json_pages else 2)


def test_build_refuses_above_the_cap_before_any_download(tmp_path: Path, heavy_files: Path) -> None:
    source = _requirements(tmp_path, "sdtest-rf-light")
    with IndexServer(heavy_files, json_pages=True) as index:
        options: dict[str, Any] = {
            "dest": tmp_path / "dest", "target": "dbr-14.3", "index_url": index.url,
            "use_cache": False, "task_value_key": None,
        }  # fmt: skip
        with pytest.raises(BuildError) as caught:
            build(source, max_size_mb=2, **options)
        assert _pip_wheels(index) == []
        message = str(caught.value)
        assert "over the 2 MB cap" in message and "nothing was downloaded" in message
        assert "heaviest: sdtest-rf-heavy 1.0 3.1 MB" in message and "--max-size" in message
        result = build(source, max_size_mb=0, **options)
    assert sorted(w.name for w in result.wheels) == ["sdtest-rf-heavy", "sdtest-rf-light"]


@pytest.mark.parametrize("kind", ["foreign-wheel", "sdist-only"])
def test_a_runtime_version_without_a_wheel_for_the_target_is_relied_on(
    tmp_path: Path, kind: str
) -> None:
    # the runtime built sdtest-rf-built 1.0 itself (dbr-15.4's regex 2022.7.9 has no wheel
    # for Python 3.11): its copy stands in, and the next resolution knows it from the start
    root = tmp_path / "index"
    if kind == "foreign-wheel":
        make_wheel(root, "sdtest-rf-built", "1.0", {"m/__init__.py": ""}, tag="cp39-cp39-win_amd64")
    else:
        make_sdist(root, "sdtest-rf-built", "1.0", {"m/__init__.py": ""})
    _pure(root, "sdtest-rf-built", "2.0")
    runtime = tmp_path / "built-runtime.txt"
    runtime.write_text(f"# python {HOST}\nsdtest-rf-built==1.0\n", "utf-8")
    cache = tmp_path / "cache"
    with IndexServer(root) as index:
        for _ in range(2):
            result = _check_file(tmp_path, index, runtime, "sdtest-rf-built", cache_dir=cache)
            assert result.shipped == () and result.relaxed == ()
            assert [(p.name, p.version) for p in result.placements] == [("sdtest-rf-built", "1.0")]
        (memory,) = cache.rglob("no-wheel-*.txt")
        assert memory.read_text("utf-8").split() == ["sdtest-rf-built"]
        newest = _check_file(tmp_path, index, runtime, "sdtest-rf-built", prefer_newest=True)
    assert [(p.name, p.status) for p in newest.shipped] == [("sdtest-rf-built", "shadows")]


def test_only_the_packages_that_must_move_move(
    tmp_path: Path, relax_index: IndexServer, lib_runtime: Path
) -> None:
    # app>=2 must move lib; the newest other (2.0) would move lib2 too, but other 1.0 does not
    result = _check_file(tmp_path, relax_index, lib_runtime, "sdtest-rf-app>=2", "sdtest-rf-other")
    assert [r.name for r in result.relaxed] == ["sdtest-rf-lib"]
    placed = {p.name: (p.version, p.status) for p in result.placements}
    assert placed["sdtest-rf-lib2"] == ("1.0", "runtime")
    assert placed["sdtest-rf-other"] == ("1.0", "new")
    assert placed["sdtest-rf-lib"] == ("2.0", "shadows")


def test_a_freeze_of_an_ml_cluster_carries_spark_delta_and_the_ml_guard(
    tmp_path: Path, ml_index: IndexServer
) -> None:
    # what `sparkdeps runtime-freeze` writes on a dbr-15.4-ml driver (pip lists no Spark)
    freeze = tmp_path / "runtime.txt"
    freeze.write_text(
        "# runtime-freeze: Databricks Runtime 15.4.x-cpu-ml-scala2.12\n"
        f"# python {HOST}; spark 3.5.0\n"
        "torch==2.3.1+cpu\nsentence-transformers==2.7.0\ntransformers==4.41.2\n",
        "utf-8",
    )
    fits = _check_file(tmp_path, ml_index, freeze, "sentence-transformers", "delta-spark")
    assert fits.ok and fits.shipped == ()
    provides = {p.name: p.version for p in fits.placements}
    assert provides["delta-spark"] == "3.2.0" and provides["torch"] == "2.3.1+cpu"
    refused = _check_file(tmp_path, ml_index, freeze, "sdtest-rf-gpu")
    assert [c.name for c in refused.conflicts] == ["triton"]


def test_overriding_the_ml_runtime_torch_names_its_cuda_stack_and_a_pattern_ships_it(
    tmp_path: Path, ml_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _requirements(tmp_path, "torch>=2.5")
    args = ["check", str(source), "--target", "dbr-15.4-ml", "--index-url", ml_index.url]
    assert main([*args, "--override-runtime", "torch"]) == 1
    table = capsys.readouterr().out
    assert "CONFLICT nvidia-cublas-cu12: runtime has none" in table
    assert (
        "or ship them all anyway: --override-runtime 'nvidia-*' --override-runtime 'cuda-*' --override-runtime triton"
        in table
    )
    everything = ["--override-runtime", "torch", "--override-runtime", "nvidia-*"]
    everything += ["--override-runtime", "cuda-*", "--override-runtime", "triton", "--json"]
    assert main([*args, *everything]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(p["name"] for p in report["ship"]) == sorted([*CUDA, "torch", "triton"])
    torch = next(p for p in report["ship"] if p["name"] == "torch")
    assert (torch["status"], torch["runtime_version"]) == ("shadows", "2.3.1+cpu")


@pytest.mark.parametrize(
    ("pinned", "status"),
    [
        ("2.3.1", "runtime"),
        ("2.3.1+cpu", "runtime"),
        ("2.3.1+cu121", "shadows"),
        ("2.3.2", "shadows"),
    ],
    ids=["public-pin-meets-local", "same-local", "other-local", "other-release"],
)
def test_a_locked_pin_is_placed_as_pep_440_matches_the_runtime(pinned: str, status: str) -> None:
    # a lock (never re-resolved) pinning torch==2.3.1 relies on the runtime's 2.3.1+cpu
    from sparkdeps._build.runtime_plan import RuntimeContext, classify
    from sparkdeps._core.target import choose_target

    context = RuntimeContext.of(choose_target("dbr-15.4-ml"))
    assert context is not None
    (placement,) = classify([("torch", pinned, False)], context).placements
    assert placement.status == status and placement.protected
    assert placement.version == ("2.3.1+cpu" if status == "runtime" else pinned)
