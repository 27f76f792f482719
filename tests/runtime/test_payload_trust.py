"""What executors run is what sparkdeps wrote (issue 21, items 1 and 2; docs/security.md).

A stub zip or wheelhouse payload planted in the payload folder is replaced, never
reused; payload and shared install folders that another user could write, or that
are symbolic links made by another user, are refused before anything is written.
Ownership by "another user" is real: the tests run as root and ``chown`` to uid 65534.
Executors are a fresh isolated interpreter laid out as Spark lays them out (as in
test_bootstrap.py); tests/runtime/test_spark_classic.py does the same on real Spark.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.wheelhouses import make_wheelhouse, restored_imports
from tests.support.wheels import make_wheel
from tests.support.workers import run_worker

from sparkdeps._core.errors import StorageError
from sparkdeps._core.private import on_databricks_mount, private_dir
from sparkdeps._runtime.load import load
from sparkdeps._runtime.wheelpayload import (
    archive_name,
    boot_zip,
    stub_zip_bytes,
    wheelhouse_payload,
)

OTHER_UID = 65534
EVIL = "import pathlib; pathlib.Path({proof!r}).write_text('planted code ran')\n"

needs_root = pytest.mark.skipif(
    getattr(os, "geteuid", lambda: -1)() != 0, reason="chown to another user needs root"
)


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(wheelhouse, driver install folder, digest) of ``sdtrust``."""
    wheel = make_wheel(tmp_path / "wheels", "sdtrust", "1.0", {"sdtrust/__init__.py": "X = 1\n"})
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel])
    with restored_imports("sdtrust"):
        result = load(wheelhouse, delivery="driver-only", cache_dir=tmp_path / "cache")
        yield wheelhouse, result.folder, result.digest


def _plant_stub_zip(out: Path, proof: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("sdtrust.py", EVIL.format(proof=os.fspath(proof)))


def _worker(root: Path, stubs: Path) -> dict[str, str]:
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(1, {os.fspath(root / stubs.name)!r})\n"
        "m = importlib.import_module('sdtrust')\n"
        "print(json.dumps({'file': m.__file__}))\n"
    )
    return dict(run_worker(root, code))


def test_a_planted_stub_zip_is_replaced_and_never_runs(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    wheelhouse, folder, digest = installed
    payloads = tmp_path / "payloads"
    proof = tmp_path / "proof.txt"
    planted = payloads / f"{digest}.wheels" / f"{archive_name(digest)}_boot.zip"
    payloads.mkdir(mode=0o700)
    _plant_stub_zip(planted, proof)
    stubs = boot_zip(folder, digest, payloads)
    assert stubs == planted
    assert stubs.read_bytes() == stub_zip_bytes(folder, digest)
    archive = wheelhouse_payload(wheelhouse, digest, payloads)
    root = tmp_path / "executor"
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(root / archive_name(digest))
    shutil.copyfile(stubs, root / stubs.name)
    out = _worker(root, stubs)
    assert out["file"].startswith(os.fspath(root / archive_name(digest) / "site")), out
    assert not proof.exists(), "the planted stub ran"


def test_the_stub_zip_is_reused_only_when_it_holds_the_same_bytes(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _wheelhouse, folder, digest = installed
    payloads = tmp_path / "payloads"
    first = boot_zip(folder, digest, payloads)
    inode = first.stat().st_ino
    assert boot_zip(folder, digest, payloads).stat().st_ino == inode, "the same bytes: kept"
    assert stub_zip_bytes(folder, digest) == stub_zip_bytes(folder, digest), "deterministic"
    # one byte of difference (same size) is enough to replace it
    data = bytearray(first.read_bytes())
    data[-30] ^= 1
    first.write_bytes(bytes(data))
    again = boot_zip(folder, digest, payloads)
    assert again.read_bytes() == stub_zip_bytes(folder, digest)


def test_a_planted_wheelhouse_payload_is_replaced_by_the_checked_file(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    wheelhouse, _folder, digest = installed
    payloads = tmp_path / "payloads"
    planted = payloads / f"{digest}.wheels" / f"{archive_name(digest)}.zip"
    planted.parent.mkdir(parents=True, mode=0o700)
    with zipfile.ZipFile(planted, "w") as archive:  # a pre-extracted "site" skips the checks
        archive.writestr("site/sdtrust/__init__.py", "X = 'planted'\n")
    payload = wheelhouse_payload(wheelhouse, digest, payloads)
    assert payload == planted
    assert payload.stat().st_ino == wheelhouse.stat().st_ino, "a hard link of the checked file"
    # a copy with the right bytes is kept (no hard link possible: a download, say)
    payload.unlink()
    shutil.copyfile(wheelhouse, payload)
    inode = payload.stat().st_ino
    assert wheelhouse_payload(wheelhouse, digest, payloads).stat().st_ino == inode


@pytest.mark.parametrize("mode", [0o777, 0o770], ids=["world-writable", "group-writable"])
def test_a_payload_folder_others_can_write_is_refused(
    installed: tuple[Path, Path, str], tmp_path: Path, mode: int
) -> None:
    wheelhouse, folder, digest = installed
    payloads = tmp_path / "payloads"
    payloads.mkdir()
    payloads.chmod(mode)
    for make in (
        lambda: boot_zip(folder, digest, payloads),
        lambda: wheelhouse_payload(wheelhouse, digest, payloads),
    ):
        with pytest.raises(StorageError, match=r"can be written by other users") as caught:
            make()
        assert os.fspath(payloads) in str(caught.value) and "payload_dir=" in str(caught.value)
    assert list(payloads.iterdir()) == [], "nothing written"


@needs_root
def test_a_payload_folder_owned_by_another_user_is_refused(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _wheelhouse, folder, digest = installed
    payloads = tmp_path / "payloads"
    payloads.mkdir(mode=0o700)
    os.chown(payloads, OTHER_UID, OTHER_UID)
    with pytest.raises(StorageError, match=r"owner uid 65534"):
        boot_zip(folder, digest, payloads)
    assert list(payloads.iterdir()) == []


@needs_root
def test_a_symlink_made_by_another_user_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "theirs"
    target.mkdir(mode=0o700)  # owned by us and private: only the link's owner is wrong
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)
    with pytest.raises(StorageError, match=r"symbolic link made by another user \(uid 65534\)"):
        private_dir(link)
    assert list(target.iterdir()) == []
    own = tmp_path / "own-link"
    own.symlink_to(target)  # a link of one's own (a cache moved to another disk) is fine
    assert private_dir(own) == own


def _shared_setup(tmp_path: Path) -> tuple[Path, Path]:
    wheel = make_wheel(tmp_path / "wheels", "sdtrust", "1.0", {"sdtrust/__init__.py": "X = 1\n"})
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel])
    target = tmp_path / "attacker"
    target.mkdir()
    return wheelhouse, target


def _load_shared(wheelhouse: Path, cache: Path) -> None:
    # No Spark needed: the refusal comes before any session is used (a session stand-in).
    with restored_imports("sdtrust"):
        load(wheelhouse, spark=object(), delivery="shared", cache_dir=cache)


@needs_root
@pytest.mark.parametrize("kind", ["symlink", "folder"], ids=["symlink", "foreign-folder"])
def test_a_planted_sparkdeps_beside_a_shared_wheelhouse_is_refused(
    tmp_path: Path, kind: str
) -> None:
    wheelhouse, target = _shared_setup(tmp_path)
    planted = wheelhouse.parent / ".sparkdeps"
    if kind == "symlink":
        os.chown(target, OTHER_UID, OTHER_UID)
        planted.symlink_to(target)
        os.lchown(planted, OTHER_UID, OTHER_UID)
        match = "symbolic link made by another user"
    else:
        planted.mkdir(mode=0o755)
        os.chown(planted, OTHER_UID, OTHER_UID)
        target = planted
        match = "owner uid 65534"
    with pytest.raises(StorageError, match=match) as caught:
        _load_shared(wheelhouse, tmp_path / "cache")
    assert "the shared install folder" in str(caught.value)
    assert "payload_dir=" in str(caught.value)
    assert list(target.iterdir()) == [], "nothing written through the link or into the folder"


def test_shared_delivery_checks_the_node_cache_is_private(tmp_path: Path) -> None:
    wheelhouse, _target = _shared_setup(tmp_path)
    cache = tmp_path / "cache"
    (cache / "node").mkdir(parents=True)
    (cache / "node").chmod(0o777)
    with pytest.raises(StorageError, match=r"can be written by other users") as caught:
        _load_shared(wheelhouse, cache)
    assert os.fspath(cache / "node") in str(caught.value)
    assert not (wheelhouse.parent / ".sparkdeps" / "installs").exists()


def test_shared_payload_dir_others_can_write_is_refused(tmp_path: Path) -> None:
    wheelhouse, _target = _shared_setup(tmp_path)
    shared = tmp_path / "nfs"
    shared.mkdir()
    shared.chmod(0o777)
    with (
        restored_imports("sdtrust"),
        pytest.raises(StorageError, match=r"can be written by other users"),
    ):
        load(
            wheelhouse,
            spark=object(),
            delivery="shared",
            cache_dir=tmp_path / "cache",
            payload_dir=shared,
        )
    assert list(shared.iterdir()) == []


def test_install_log_is_never_written_through_a_link(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels", "sdtrust", "1.0", {"sdtrust/__init__.py": "X = 1\n"})
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel])
    node = tmp_path / "cache" / "node"
    node.mkdir(parents=True, mode=0o700)
    (tmp_path / "cache").chmod(0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (node / "install.log").symlink_to(victim)
    with restored_imports("sdtrust"):
        result = load(wheelhouse, delivery="driver-only", cache_dir=tmp_path / "cache")
    assert not result.reused
    assert victim.read_text() == "keep me\n"


def test_databricks_mounts_are_known() -> None:
    assert on_databricks_mount(Path("/Volumes/main/deps/vol/run/.sparkdeps"))
    assert on_databricks_mount(Path("/dbfs/deps/run"))
    assert not on_databricks_mount(Path("/tmp/Volumes/x"))
