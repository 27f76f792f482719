"""Driver install into the node cache: checks first, atomic, locked, reused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.wheelhouses import PREFIX, make_wheelhouse, module_names, restored_imports
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import IncompatibleWheelError, IntegrityError
from sparkdeps._core.manifest import Manifest, inspect_wheel
from sparkdeps._core.wheelhouse import write_wheelhouse
from sparkdeps._runtime.install import COMPLETE_MARKER, cache_root, node_cache_dir
from sparkdeps._runtime.load import load

REPO = Path(__file__).resolve().parents[2]
LOAD_APP = REPO / "tests" / "apps" / "load_app.py"


@pytest.fixture(autouse=True)
def _restore_imports() -> Iterator[None]:
    with restored_imports(PREFIX):
        yield


def _everything_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_cache_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKDEPS_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("SPARKDEPS_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "sparkdeps"
    assert node_cache_dir(tmp_path / "arg") == tmp_path / "arg" / "node"


def test_cold_install_layout(wheelhouse: Path, tmp_path: Path) -> None:
    result = load(wheelhouse, cache_dir=tmp_path / "cache")
    folder = result.folder
    assert not result.reused
    assert folder == tmp_path / "cache" / "node" / "installs" / result.digest
    assert sys.path[0] == str(folder)
    assert (folder / COMPLETE_MARKER).is_file()
    # .data/purelib lands at the root, .data/scripts in bin/ (shebang fixed), headers skipped
    assert (folder / "sdload_datapkg" / "__init__.py").is_file()
    tool = folder / "bin" / "sdload-tool"
    assert tool.read_text().startswith(f"#!{sys.executable}\n")
    assert not list(folder.rglob("*.h"))
    assert not [p for p in folder.iterdir() if p.name.endswith(".data")]
    # .dist-info kept: importlib.metadata sees the packages
    import importlib
    import importlib.metadata

    assert importlib.metadata.version("sdload-pure") == "1.0"
    for name in module_names():
        module = importlib.import_module(name)
        assert module.__file__ and module.__file__.startswith(str(folder)), name
    cext = importlib.import_module("sdload_cext")
    assert cext.add(2, 3) == 5
    log = (tmp_path / "cache" / "node" / "install.log").read_text().splitlines()
    assert len(log) == 1 and result.digest in log[0]


def test_wrong_python_refused_before_anything_is_written(tmp_path: Path) -> None:
    other = f"cp3{sys.version_info[1] - 1}"
    wheel = make_wheel(
        tmp_path / "w",
        "sdload-old",
        "1.0",
        {"sdload_old/__init__.py": ""},
        tag=f"{other}-{other}-manylinux_2_17_x86_64",
    )
    target = {
        "python_version": f"3.{sys.version_info[1] - 1}",
        "platforms": ["manylinux_2_17_x86_64"],
    }
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel], target=target)
    cache = tmp_path / "cache"
    with pytest.raises(IncompatibleWheelError) as caught:
        load(wheelhouse, cache_dir=cache)
    message = str(caught.value)
    assert wheel.name in message
    assert f"3.{sys.version_info[1] - 1}" in message
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in message
    assert _everything_under(cache) == []


def test_tampered_wheel_refused_nothing_installed(wheels: list[Path], tmp_path: Path) -> None:
    manifest = Manifest(
        format="existing_wheels",
        target={"python_version": "3.11"},
        wheels=tuple(inspect_wheel(path) for path in wheels),
        input_digest="x",
    )
    # Same file name, different bytes: what an edited wheelhouse would hold.
    tampered_dir = tmp_path / "tampered"
    tampered_dir.mkdir()
    swapped = []
    for path in wheels:
        copy = tampered_dir / path.name
        copy.write_bytes(path.read_bytes())
        if "sdload_pure" in path.name:
            with zipfile.ZipFile(copy, "a") as archive:
                archive.writestr("sdload_pure/evil.py", "print('not what was built')\n")
        swapped.append(copy)
    (tmp_path / "runs" / "r").mkdir(parents=True)
    wheelhouse = tmp_path / "runs" / "r" / "wheelhouse.zip"
    write_wheelhouse(swapped, manifest, wheelhouse)
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError) as caught:
        load(wheelhouse, cache_dir=cache)
    assert "sdload_pure-1.0-py3-none-any.whl" in str(caught.value)
    assert _everything_under(cache) == []


def test_unsafe_member_refused(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "sdload-evil",
        "1.0",
        {"sdload_evil/__init__.py": "", "../escape.py": "X = 1\n"},
    )
    wheelhouse = make_wheelhouse(tmp_path / "runs", [wheel])
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="unsafe member"):
        load(wheelhouse, cache_dir=cache)
    assert not (tmp_path / "escape.py").exists()
    assert not (cache / "node" / "escape.py").exists()
    installs = cache / "node" / "installs"
    assert not installs.exists() or not any(installs.iterdir()), "no partial folder may remain"


def test_partial_folder_of_a_killed_load_is_redone(wheelhouse: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load(wheelhouse, cache_dir=cache)
    installs = first.folder.parent
    # What a load killed mid-extraction leaves: a partial folder and no final folder.
    partial = installs / f".{first.digest}.deadbeef.partial"
    first.folder.rename(partial)
    (partial / "sdload_pure" / "__init__.py").write_text("raise RuntimeError('half written')\n")
    (partial / COMPLETE_MARKER).unlink()
    again = load(wheelhouse, cache_dir=cache)
    assert not again.reused
    assert not partial.exists()
    assert (again.folder / COMPLETE_MARKER).is_file()
    assert "half written" not in (again.folder / "sdload_pure" / "__init__.py").read_text()
    assert [p.name for p in installs.iterdir()] == [first.digest]


def _run_load_app(wheelhouse: Path, cache: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["SPARKDEPS_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.Popen(
        [sys.executable, str(LOAD_APP), str(wheelhouse), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_warm_load_in_a_second_process_reuses_the_folder(wheelhouse: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = _result(_run_load_app(wheelhouse, cache))
    folder = Path(str(cold["folder"]))
    marker_before = (folder / COMPLETE_MARKER).read_text()
    mtime_before = (folder / "sdload_pure" / "__init__.py").stat().st_mtime_ns
    warm = _result(_run_load_app(wheelhouse, cache))
    assert cold["reused"] is False and warm["reused"] is True
    assert warm["folder"] == cold["folder"] and warm["digest"] == cold["digest"]
    timings = warm["timings"]
    assert isinstance(timings, dict)
    assert "install" not in timings and "hash" not in timings, (
        "a warm load neither extracts nor hashes"
    )
    assert (folder / COMPLETE_MARKER).read_text() == marker_before
    assert (folder / "sdload_pure" / "__init__.py").stat().st_mtime_ns == mtime_before
    assert len((cache / "node" / "install.log").read_text().splitlines()) == 1


ACTIVATE_LATE = """
import sys
from pathlib import Path
from sparkdeps._runtime.install import activate

folder = Path(sys.argv[1])
sys.path.insert(0, str(folder))
try:
    import sdinstall_late
except ModuleNotFoundError:
    pass  # the import system remembers that this folder does not exist
sys.path.remove(str(folder))
folder.mkdir()
(folder / "sdinstall_late.py").write_text("WHERE = __file__\\n")
activate(folder)
import sdinstall_late
print(sdinstall_late.WHERE)
print("importlib.metadata" in sys.modules)
"""


def test_activate_drops_a_stale_import_cache_without_importing_metadata(tmp_path: Path) -> None:
    """The folder's own stale path-entry cache goes; Python 3.13's invalidate_caches()
    would import importlib.metadata (35-50 ms) to clear caches that do not exist yet."""
    folder = tmp_path / "late"
    out = subprocess.run(
        [sys.executable, "-c", ACTIVATE_LATE, str(folder)],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out == [str(folder / "sdinstall_late.py"), "False"]


def test_eight_processes_at_once_install_exactly_once(wheelhouse: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    processes = [_run_load_app(wheelhouse, cache, str(go)) for _ in range(8)]
    go.touch()
    results = [_result(process) for process in processes]
    assert len({str(result["folder"]) for result in results}) == 1
    assert sorted(bool(result["reused"]) for result in results) == [False] + [True] * 7
    log = (cache / "node" / "install.log").read_text().splitlines()
    assert len(log) == 1, log
    installs = cache / "node" / "installs"
    assert [path.name for path in installs.iterdir()] == [results[0]["digest"]]


@pytest.mark.slow
def test_pip_mode_installs_into_the_environment(wheelhouse: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    links = tmp_path / "pythonpath"
    links.mkdir()
    import packaging

    (links / "packaging").symlink_to(Path(packaging.__file__).parent)
    (links / "sparkdeps").symlink_to(REPO / "src" / "sparkdeps")
    code = (
        "import json, sys; from sparkdeps._runtime.load import load; "
        f"r = load({str(wheelhouse)!r}, mode='pip'); "
        "import sdload_pure, sdload_cext; "
        "print(json.dumps([r.mode, str(r.folder), sdload_pure.__file__, sdload_cext.add(1, 1)]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PYTHONPATH=str(links), SPARKDEPS_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    mode, folder, file, value = json.loads(out.stdout.strip().splitlines()[-1])
    assert mode == "pip" and value == 2
    assert file.startswith(str(venv)) and "site-packages" in file
    assert folder.startswith(str(venv))
    listed = subprocess.run(
        [str(python), "-m", "pip", "list"], capture_output=True, text=True, env=env, check=True
    )
    assert "sdload-pure" in listed.stdout.replace("_", "-")


def test_replaced_wheelhouse_at_the_same_path_is_not_mistaken_for_the_old_one(
    wheels: list[Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    path = make_wheelhouse(tmp_path / "runs", wheels[:1], run_id="same")
    first = load(path, cache_dir=cache)
    other = make_wheelhouse(tmp_path / "other", wheels[:2], run_id="same")
    os.replace(other, path)  # new bytes, new size and mtime, same path
    second = load(path, cache_dir=cache)
    assert second.digest != first.digest and not second.reused
    assert len(second.wheels) == 2


def test_wheelhouse_with_compressed_wheel_entries_still_loads(
    wheels: list[Path], tmp_path: Path
) -> None:
    # sparkdeps stores wheels (a slice of the file is a wheel); a zip re-packed by
    # another tool may deflate them: they are copied out instead.
    source = make_wheelhouse(tmp_path / "runs", wheels, run_id="stored")
    repacked = tmp_path / "runs" / "deflated" / "wheelhouse.zip"
    repacked.parent.mkdir(parents=True)
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for name in original.namelist():
            out.writestr(name, original.read(name))
    result = load(repacked, cache_dir=tmp_path / "cache")
    import sdload_cext

    assert sdload_cext.add(20, 22) == 42 and len(result.wheels) == len(wheels)
