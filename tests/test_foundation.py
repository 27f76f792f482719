"""The small shared parts: redaction, the runner, storage, manifest and wheelhouse files."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import CommandError, IntegrityError, StorageError
from sparkdeps._core.manifest import Manifest, inspect_wheel
from sparkdeps._core.runner import redact, run
from sparkdeps._core.storage import LocalStorage, join_uri, storage_for
from sparkdeps._core.target import choose_target
from sparkdeps._core.wheelhouse import read_manifest, write_wheelhouse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:s3cret@host/simple", "https://***@host/simple"),
        ("https://token@host/simple", "https://***@host/simple"),
        ("--index-url http://a:b@127.0.0.1:80/x y", "--index-url http://***@127.0.0.1:80/x y"),
        ("https://host/simple", "https://host/simple"),
    ],
    ids=["user-password", "token", "in-a-command", "no-credentials"],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_failed_command_keeps_command_code_and_output_without_secrets() -> None:
    script = "import sys; print('looking at https://bob:hunter2@example.invalid/x'); sys.exit(3)"
    with pytest.raises(CommandError) as caught:
        run([sys.executable, "-c", script, "https://bob:hunter2@example.invalid"], what="a test")
    error = caught.value
    assert error.returncode == 3
    assert "hunter2" not in str(error)
    assert "hunter2" not in " ".join(error.command)
    assert "https://***@example.invalid/x" in error.output


def test_command_timeout_is_reported() -> None:
    with pytest.raises(CommandError, match="timed out"):
        run([sys.executable, "-c", "import time; time.sleep(5)"], what="sleeping", timeout=0.5)


def _wheelhouse(tmp_path: Path) -> tuple[list[Path], Manifest]:
    wheels = [
        make_wheel(tmp_path / "w", "sdtest-one", "1.0", {"sdtest_one/__init__.py": "X = 1\n"}),
        make_wheel(
            tmp_path / "w",
            "sdtest-two",
            "2.0",
            {"sdtest_two.py": "Y = 2\n"},
            requires=["sdtest-one>=1"],
        ),
    ]
    infos = tuple(inspect_wheel(path, source="provided") for path in wheels)
    target = choose_target()
    manifest = Manifest(
        format="existing_wheels", target=target.to_dict(), wheels=infos, input_digest="0" * 64
    )
    return wheels, manifest


def test_wheelhouse_is_byte_identical_for_the_same_content(tmp_path: Path) -> None:
    wheels, manifest = _wheelhouse(tmp_path)
    first = write_wheelhouse(wheels, manifest, tmp_path / "a.zip")
    second = write_wheelhouse(list(reversed(wheels)), manifest, tmp_path / "b.zip")
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    opened = read_manifest(tmp_path / "a.zip")
    assert opened.top_level == ("sdtest_one", "sdtest_two")
    two = next(w for w in opened.wheels if w.name == "sdtest-two")
    assert two.requires == ("sdtest-one>=1",)
    assert two.tags == ("py3-none-any",)


def test_malformed_and_missing_manifest_are_integrity_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("manifest.json", "{not json")
    with pytest.raises(IntegrityError, match="malformed"):
        read_manifest(broken)
    missing = tmp_path / "missing.zip"
    with zipfile.ZipFile(missing, "w") as archive:
        archive.writestr("wheels/x.txt", "")
    with pytest.raises(IntegrityError, match=r"no manifest\.json"):
        read_manifest(missing)


def test_manifest_listing_a_wheel_that_is_absent_is_refused(tmp_path: Path) -> None:
    wheels, manifest = _wheelhouse(tmp_path)
    out = tmp_path / "wh.zip"
    write_wheelhouse(wheels, manifest, out)
    with zipfile.ZipFile(out) as archive:
        data = json.loads(archive.read("manifest.json"))
    data["wheels"][0]["filename"] = "sdtest_ghost-1.0-py3-none-any.whl"
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            payload = (
                json.dumps(data).encode() if item.filename == "manifest.json" else source.read(item)
            )
            target.writestr(item, payload)
    with pytest.raises(IntegrityError, match="sdtest_ghost"):
        read_manifest(forged)


def test_wheel_whose_name_lies_is_refused(tmp_path: Path) -> None:
    liar = make_wheel(
        tmp_path, "sdtest-good", "1.0", {"evil/__init__.py": ""}, metadata_name="evil"
    )
    with pytest.raises(IntegrityError, match="renamed or is corrupt"):
        inspect_wheel(liar)


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_local_publish_is_atomic_and_idempotent_removal(tmp_path: Path, as_uri: bool) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 1000)
    base = (tmp_path / "dest").as_uri() if as_uri else str(tmp_path / "dest")
    uri = join_uri(base, "run1", "wheelhouse.zip")
    storage = storage_for(uri)
    storage.publish(source, uri)
    final = tmp_path / "dest" / "run1" / "wheelhouse.zip"
    assert final.read_bytes() == source.read_bytes()
    assert [p.name for p in final.parent.iterdir()] == ["wheelhouse.zip"]  # no temp left
    assert storage.remove_tree(join_uri(base, "run1")) is True
    assert storage.remove_tree(join_uri(base, "run1")) is False


def test_dbfs_without_dbutils_or_mount_is_a_clear_error() -> None:
    if Path("/dbfs").is_dir():
        pytest.skip("this machine has a /dbfs mount")
    with pytest.raises(StorageError, match="dbfs: paths need dbutils or the /dbfs mount"):
        storage_for("dbfs:/tmp/runs/x")


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(StorageError, match="unsupported scheme 'nosuchfs'"):
        storage_for("nosuchfs://bucket/x")


def test_local_storage_download_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        LocalStorage().download(str(tmp_path / "nope.zip"), tmp_path / "out.zip")
