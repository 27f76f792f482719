"""``session_conf``: the wheelhouse unpacked by every executor as it starts (issue 25).

Real parts: the bootstrap runs in a fresh interpreter exactly as on an executor, and
the Spark test builds its own ``local-cluster[2,1,1024]`` session with the settings,
its executors on a clean venv (pyspark's runtime packages, none of the test
packages: docs/facts.md, fact 7). Where each module came from is checked on the
executors themselves.
"""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names

from sparkdeps import CommandError, StorageError
from sparkdeps._runtime.load import load
from sparkdeps._runtime.session_conf import session_conf, unpacked_at_start
from sparkdeps._runtime.wheelpayload import archive_name


def _archive(conf: dict[str, str]) -> tuple[Path, str]:
    """(the archive's file, the folder name executors unpack it to)."""
    uri, _, name = conf["spark.archives"].partition("#")
    return Path(unquote(urlparse(uri).path)), name


@pytest.fixture(scope="module")
def bytecode_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("session-conf")
    wheels = load_test_wheels(root / "wheels", tag="_sconf")
    return make_wheelhouse(root / "runs", wheels, bytecode=True)


def test_the_archive_is_the_folder_a_warmed_executor_ends_with(
    bytecode_wheelhouse: Path, tmp_path: Path
) -> None:
    conf = session_conf(bytecode_wheelhouse, cache_dir=tmp_path / "cache")
    archive, name = _archive(conf)
    assert list(conf) == ["spark.archives"]
    assert conf["spark.archives"].startswith("file:///")
    assert name.startswith("sparkdeps_") and archive.is_file()
    with tarfile.open(archive) as packed:
        members = packed.getnames()
        index = json.loads(packed.extractfile(".site.state/index.json").read())  # type: ignore[union-attr]
    wheels = {member[len("wheels/") :] for member in members if member.startswith("wheels/")}
    # the pure wheels stay zipped (imported in place); the others are there as files only
    assert "wheels" in members
    assert wheels == set(index["in_place"])
    assert index["in_place"], "the bytecode wheelhouse imports its pure wheels in place"
    assert any(member.startswith("site/sdload_cext_sconf/") for member in members)
    done = {member for member in members if member.endswith(".done")}
    extracted = {w.name for w in _wheels(bytecode_wheelhouse)} - set(index["in_place"])
    assert done == {f".site.state/{wheel}.done" for wheel in extracted}
    assert not [member for member in members if member.endswith(".lock")]
    # nothing else is left behind in the payload folder
    assert sorted(path.name for path in archive.parent.iterdir()) == sorted(
        [archive.name, f"{name}_boot.zip"]
    )


def test_the_command_prints_what_spark_submit_takes(
    bytecode_wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkdeps._cli import main

    argv = ["session-conf", str(bytecode_wheelhouse), "--cache-dir", str(tmp_path)]
    assert main(argv) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert main([*argv, "--json"]) == 0
    conf = json.loads(capsys.readouterr().out)
    assert line == f"--conf spark.archives={conf['spark.archives']}"
    assert _archive(conf)[0].is_file()


def _wheels(wheelhouse: Path) -> list[Path]:
    with zipfile.ZipFile(wheelhouse) as outer:
        return [Path(member) for member in outer.namelist() if member.endswith(".whl")]


def test_a_second_call_reuses_the_archive(bytecode_wheelhouse: Path, tmp_path: Path) -> None:
    first, _ = _archive(
        session_conf(bytecode_wheelhouse, cache_dir=tmp_path, payload_dir=tmp_path / "p")
    )
    made = first.stat()
    again, _ = _archive(
        session_conf(bytecode_wheelhouse, cache_dir=tmp_path, payload_dir=tmp_path / "p")
    )
    assert again == first
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)


def test_an_archive_it_did_not_make_is_made_again(
    bytecode_wheelhouse: Path, tmp_path: Path
) -> None:
    conf = session_conf(bytecode_wheelhouse, cache_dir=tmp_path, payload_dir=tmp_path / "p")
    archive, _ = _archive(conf)
    elsewhere = tmp_path / "planted.tar.gz"
    archive.rename(elsewhere)
    archive.symlink_to(elsewhere)  # a link where the archive was: executors would unpack it
    assert session_conf(bytecode_wheelhouse, cache_dir=tmp_path, payload_dir=tmp_path / "p") == conf
    assert archive.is_file() and not archive.is_symlink()


def test_a_changed_wheel_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    wheels = load_test_wheels(tmp_path / "wheels", tag="_sconfbad")
    wheelhouse = make_wheelhouse(tmp_path / "runs", wheels)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(wheelhouse) as source, zipfile.ZipFile(tampered, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".whl") and "pure" in info.filename:
                data += b"\0"  # the wheel no longer has the sha256 its manifest names
            out.writestr(info, data)
    with pytest.raises(CommandError) as caught:
        session_conf(tampered, cache_dir=tmp_path / "cache", payload_dir=tmp_path / "payloads")
    assert "sdload_pure_sconfbad" in str(caught.value)
    assert caught.value.returncode != 0
    left = [path.name for path in (tmp_path / "payloads").rglob("*") if path.is_file()]
    assert not any("_session_" in name or ".session-" in name for name in left), left


def test_a_missing_wheelhouse_is_named(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"nowhere\.zip does not exist"):
        session_conf(tmp_path / "nowhere.zip", cache_dir=tmp_path / "cache")
    assert not list(tmp_path.rglob("*.zip"))


class _Context:
    """A SparkContext's ``getConf()``, all ``unpacked_at_start`` asks of one."""

    def __init__(self, archives: str | None) -> None:
        self.archives = archives

    def getConf(self) -> _Context:
        return self

    def get(self, key: str, default: str) -> str | None:
        return self.archives if key == "spark.archives" and self.archives else default


DIGEST = "ab" * 32


@pytest.mark.parametrize(
    ("archives", "expected"),
    [
        pytest.param(f"file:///p/x.zip#{archive_name(DIGEST)}", True, id="alone"),
        pytest.param(f"env.tar.gz#environment, /p/x.zip#{archive_name(DIGEST)}", True, id="listed"),
        pytest.param(f"/p/x.zip#{archive_name('cd' * 32)}", False, id="another-digest"),
        pytest.param(f"/p/{archive_name(DIGEST)}.zip", False, id="no-fragment"),
        pytest.param(None, False, id="unset"),
    ],
)
def test_load_knows_a_session_built_with_it(archives: str | None, expected: bool) -> None:
    assert unpacked_at_start(_Context(archives), DIGEST) is expected


def _where(archive: str, names: list[str]) -> Any:
    def where(_rows: Iterator[Any]) -> Iterator[str]:
        import importlib
        import os

        root = os.path.abspath(archive)  # unpacked into the executor's working folder
        state = os.path.join(root, ".site.state")
        yield json.dumps(
            {
                "executor": os.getcwd(),
                "root": root,
                "files": {name: importlib.import_module(name).__file__ for name in names},
                "cwd": sorted(os.listdir(".")),
                # a lock is taken only to extract a wheel not marked done
                "locks": sorted(f for f in os.listdir(state) if f.endswith(".lock")),
            }
        )

    return where


@pytest.mark.spark
@pytest.mark.slow
def test_executors_import_from_the_folder_they_unpacked_as_they_started(
    bytecode_wheelhouse: Path, tmp_path: Path, sparkdeps_spark_manager: Any
) -> None:
    from sparkdeps.testing.localspark import local_cluster_session

    conf = session_conf(bytecode_wheelhouse, cache_dir=tmp_path / "cache")
    sparkdeps_spark_manager.stop()  # the shared session was built without it
    # in the manager's Spark home: the first local-cluster session of a process sets
    # SPARK_HOME for every later one, whose executors must work in the test run's folder
    spark = local_cluster_session(
        2, 1, 1024, python=sparkdeps_spark_manager.python, app_name="session-conf", conf=conf,
        work_dir=sparkdeps_spark_manager.workdir / "spark-home",
    )  # fmt: skip
    try:
        result = load(bytecode_wheelhouse, spark=spark, cache_dir=tmp_path / "cache")
        archive, names = archive_name(result.digest), module_names("_sconf")
        rows = spark.sparkContext.parallelize(range(4), 4).mapPartitions(_where(archive, names))
        seen = {row["executor"]: row for row in map(json.loads, rows.collect())}
    finally:
        spark.stop()
    assert len(seen) == 2, seen
    # nor was its payload made on the driver: only the archive and the stub zip are there
    assert not (_archive(conf)[0].parent / f"{archive}.zip").exists()
    for row in seen.values():
        assert all(path.startswith(row["root"] + os.sep) for path in row["files"].values()), row
        assert f"{archive}.zip" not in row["cwd"], "the wheelhouse was shipped again"
        assert row["locks"] == [], "an executor extracted what the archive held"
