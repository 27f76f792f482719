"""The wheelhouse shipped as a file: each executor copies the wheels out itself.

``addFile`` leaves ``<root>/<archive>.zip`` in the executor's folder, where ``addArchive``
left the folder Spark had unpacked. The first activation copies the wheels out of it
(``bootstrap._split``) into ``<archive>/`` in the application's folder above ``<root>``,
once for all the executors of a node, whole or not at all. Real wheels, a real wheelhouse, fresh ``python -I`` workers; no Spark (the Spark
tests, test_warm.py and test_spark_classic.py, run the same path on local-cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.support.wheelhouses import (
    installed_on_the_driver,
    load_test_wheels,
    make_wheelhouse,
    module_names,
)
from tests.support.workers import IMPORTS, run_worker

from sparkdeps._runtime.wheelpayload import archive_name, boot_zip, wheelhouse_payload

TAG = "_split"

_IMPORTS = IMPORTS + "print(json.dumps(out))\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(wheelhouse, driver install folder, digest)."""
    root = tmp_path_factory.mktemp("split")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))
    return installed_on_the_driver(wheelhouse, root / "cache")


def _shipped(
    installed: tuple[Path, Path, str],
    tmp_path: Path,
    wheelhouse: Path | None = None,
    executor: str = "0",
) -> tuple[Path, str, str]:
    """An executor folder as ``addFile`` leaves it, in an application's folder (as
    standalone's ``work/<app>/<executor>``): (root, stub zip name, archive name)."""
    original, folder, digest = installed
    payload = wheelhouse_payload(wheelhouse or original, digest, tmp_path / "payloads")
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    root = tmp_path / "app" / executor
    root.mkdir(parents=True)
    shutil.copyfile(payload, root / payload.name)
    shutil.copyfile(stubs, root / stubs.name)
    name = archive_name(digest)
    assert payload.name == f"{name}.zip", "the name the bootstrap looks for"
    return root, stubs.name, name


def _imports(root: Path, stubs: str, names: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = run_worker(
        root, _IMPORTS.format(paths=[str(root / stubs)], names=names)
    )
    return out


def test_the_first_import_copies_the_wheels_out_of_the_shipped_file(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    wheelhouse = installed[0]
    root, stubs, name = _shipped(installed, tmp_path)
    split = root.parent / name
    assert not split.exists()
    out = _imports(root, stubs, module_names(TAG))
    assert all(outcome["ok"] for outcome in out.values()), out
    assert all(str(o["file"]).startswith(f"{split}{os.sep}") for o in out.values()), out
    with zipfile.ZipFile(wheelhouse) as shipped:
        members = [m for m in shipped.namelist() if m.startswith(("wheels/", "bytecode/"))]
        for member in members:  # byte for byte what the wheelhouse holds
            assert (split / member).read_bytes() == shipped.read(member), member
    assert sorted(p.name for p in root.parent.iterdir() if p.name.startswith(name)) == [
        name,
        f"{name}.lock",
    ], "no partial folder left"
    assert sorted(p.name for p in root.iterdir()) == sorted([f"{name}.zip", stubs])


def test_concurrent_workers_copy_the_wheels_once(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, name = _shipped(installed, tmp_path)
    code = _IMPORTS.format(paths=[str(root / stubs)], names=module_names(TAG))
    workers = [
        subprocess.Popen([sys.executable, "-I", "-c", code], cwd=root, stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    assert all(b'"ok": false' not in out for out in outputs), outputs
    assert not list(root.parent.glob(f"{name}.*.partial"))
    assert (root.parent / name / "wheels").is_dir()


def test_only_the_wheels_the_driver_named_are_copied(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # a member's name in the zip never chooses a path on the executor
    copy = tmp_path / "extra.zip"
    shutil.copyfile(installed[0], copy)
    with zipfile.ZipFile(copy, "a") as extra:
        extra.writestr("../outside.txt", "no")
        extra.writestr("wheels/unlisted-1.0-py3-none-any.whl", "no")
    root, stubs, name = _shipped(installed, tmp_path, wheelhouse=copy)
    out = _imports(root, stubs, [f"sdload_pure{TAG}"])
    assert out[f"sdload_pure{TAG}"]["ok"], out
    assert not any((folder / "outside.txt").exists() for folder in (root, root.parent, tmp_path))
    assert not (root.parent / name / "wheels" / "unlisted-1.0-py3-none-any.whl").exists()


def test_a_truncated_wheelhouse_names_the_file_and_leaves_nothing(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, name = _shipped(installed, tmp_path)
    shipped = root / f"{name}.zip"
    shipped.write_bytes(shipped.read_bytes()[: shipped.stat().st_size // 2])
    outcome = _imports(root, stubs, [f"sdload_pure{TAG}"])[f"sdload_pure{TAG}"]
    assert not outcome["ok"]
    assert str(shipped) in str(outcome["error"]) and "rebuild" in str(outcome["error"]), outcome
    assert not (root.parent / name).exists()
    assert not list(root.parent.glob(f"{name}.*.partial"))


def test_a_changed_wheel_in_the_shipped_file_is_refused(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # the copy is byte for byte: the sha256 check after it still sees a changed wheel
    copy = tmp_path / "changed.zip"
    with zipfile.ZipFile(installed[0]) as source, zipfile.ZipFile(copy, "w") as changed:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith(f"wheels/sdload_pure{TAG}"):
                data += b"tampered"
            changed.writestr(info, data)
    root, stubs, name = _shipped(installed, tmp_path, wheelhouse=copy)
    outcome = _imports(root, stubs, [f"sdload_pure{TAG}"])[f"sdload_pure{TAG}"]
    assert not outcome["ok"]
    assert "changed after load()" in str(outcome["error"]), outcome
    assert not (root.parent / name / "site").exists()


def test_a_wheelhouse_with_compressed_members_is_copied_too(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # sparkdeps stores its members; a wheelhouse zipped again by hand deflates them
    copy = tmp_path / "deflated.zip"
    with (
        zipfile.ZipFile(installed[0]) as source,
        zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as deflated,
    ):
        for member in source.namelist():
            deflated.writestr(member, source.read(member))
    root, stubs, _name = _shipped(installed, tmp_path, wheelhouse=copy)
    out = _imports(root, stubs, module_names(TAG))
    assert all(outcome["ok"] for outcome in out.values()), out


@pytest.mark.parametrize(
    "without",
    [
        pytest.param("del os.copy_file_range\n", id="no-copy_file_range"),
        pytest.param(
            "def _refuse(*args, **kwargs):\n"
            "    raise OSError(errno.EXDEV, 'cross-device')\n"
            "os.copy_file_range = _refuse\n",
            id="refused-cross-device",
        ),
    ],
)
def test_the_copy_falls_back_to_reading_and_writing(
    installed: tuple[Path, Path, str], tmp_path: Path, without: str
) -> None:
    # not Linux, or a file system (or kernel) that does not copy between these files
    wheelhouse = installed[0]
    root, stubs, name = _shipped(installed, tmp_path)
    code = (
        "import errno, os\n"
        + without
        + _IMPORTS.format(paths=[str(root / stubs)], names=module_names(TAG))
    )
    out = run_worker(root, code)
    assert all(outcome["ok"] for outcome in out.values()), out
    with zipfile.ZipFile(wheelhouse) as shipped:
        for member in (m for m in shipped.namelist() if m.startswith("wheels/")):
            assert (root.parent / name / member).read_bytes() == shipped.read(member), member


def test_a_dead_workers_partial_copy_is_removed(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, name = _shipped(installed, tmp_path)
    stale = root.parent / f"{name}.4242.partial" / "wheels"  # a worker killed while copying
    stale.mkdir(parents=True)
    (stale / "half.whl").write_bytes(b"half")
    out = _imports(root, stubs, [f"sdload_pure{TAG}"])
    assert out[f"sdload_pure{TAG}"]["ok"], out
    assert not list(root.parent.glob(f"{name}.*.partial"))


def test_a_folder_spark_unpacked_is_used_as_it_is(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # Spark Connect and an http(s) wheelhouse still ship an archive Spark unpacks
    root, stubs, name = _shipped(installed, tmp_path)
    with zipfile.ZipFile(root / f"{name}.zip") as archive:
        archive.extractall(root / name)
    (root / f"{name}.zip").unlink()
    out = _imports(root, stubs, [f"sdload_pure{TAG}"])
    assert out[f"sdload_pure{TAG}"]["ok"], out
    assert str(out[f"sdload_pure{TAG}"]["file"]).startswith(f"{root / name}{os.sep}"), out
    assert not (root / f"{name}.lock").exists(), "nothing copied"
    assert not (root.parent / name).exists() and not (root.parent / f"{name}.lock").exists()


def test_the_executors_of_a_node_copy_and_extract_once(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Two executors of one application on a node (local-cluster, standalone, YARN): one
    folder in the application's, each wheel extracted by one worker of one of them."""
    shipped = [_shipped(installed, tmp_path, executor=str(n)) for n in (0, 1)]
    roots = [root for root, _stubs, _name in shipped]
    _root, stubs, name = shipped[0]
    names = module_names(TAG)
    workers = [  # two Python workers on each executor, side by side
        subprocess.Popen(
            [sys.executable, "-I", "-c", _IMPORTS.format(paths=[str(root / stubs)], names=names)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for root in roots * 2
    ]
    outputs = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    shared = tmp_path / "app" / name
    for out in outputs:
        for module, outcome in out.items():
            assert outcome["ok"], (module, outcome)
            assert str(outcome["file"]).startswith(f"{shared}{os.sep}"), outcome
    assert not any((root / name).exists() for root in roots), "one executor split its own"
    wheels = sorted(path.name for path in (shared / "wheels").iterdir())
    done = sorted(p.name[: -len(".done")] for p in (shared / ".site.state").glob("*.done"))
    assert done == wheels, "every wheel extracted there, none left half-way"
    assert not list((tmp_path / "app").glob(f"{name}.*.partial"))


def test_a_link_in_the_applications_folder_is_not_followed(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # the application's folder is shared: a link planted where the split goes is left,
    # and this executor splits beside the file, as before
    root, stubs, name = _shipped(installed, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root.parent / name).symlink_to(elsewhere, target_is_directory=True)
    out = _imports(root, stubs, [f"sdload_pure{TAG}"])
    assert out[f"sdload_pure{TAG}"]["ok"], out
    assert str(out[f"sdload_pure{TAG}"]["file"]).startswith(f"{root / name}{os.sep}"), out
    assert list(elsewhere.iterdir()) == [], "nothing written through the link"
