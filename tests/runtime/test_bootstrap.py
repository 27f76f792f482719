"""The executor half of wheel delivery, without Spark: an executor folder laid out by hand.

Spark unpacks the wheelhouse archive into ``<root>/sparkdeps_<digest16>/`` and puts
the stub zip on the worker's path (docs/facts.md, facts 3-4); these tests do the
same with ``zipfile`` and run a fresh, isolated interpreter as the worker. The
Spark tests (test_spark_classic.py, test_spark_connect.py) cover the real thing.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
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
from tests.support.wheels import make_wheel
from tests.support.workers import IMPORTS, run_worker

from sparkdeps._core.manifest import MANIFEST_NAME
from sparkdeps._runtime import bootstrap
from sparkdeps._runtime.wheelpayload import (
    archive_name,
    boot_zip,
    top_level_names,
    wheelhouse_payload,
)

TAG = "_boot"

_WORKER = (
    IMPORTS
    + """
out["cext"] = importlib.import_module("sdload_cext{tag}").add(2, 3) if out.get(
    "sdload_cext{tag}", {{}}).get("ok") else None
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(wheelhouse, driver install folder, digest)."""
    root = tmp_path_factory.mktemp("boot")
    wheelhouse = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))
    return installed_on_the_driver(wheelhouse, root / "cache")


def _executor(root: Path, payload: Path, stubs: Path, digest: str) -> Path:
    """What Spark leaves in an executor's folder: the archive unpacked, the stub zip copied."""
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(payload) as archive:
        archive.extractall(root / archive_name(digest))
    shutil.copyfile(stubs, root / stubs.name)
    return root


def _served_wheels(wheels: list[Path], tmp_path: Path) -> tuple[Path, Path, str, Path]:
    """An executor folder served a wheelhouse of ``wheels``: (root, stub zip, digest, the
    driver's install folder)."""
    installed = installed_on_the_driver(
        make_wheelhouse(tmp_path / "runs", wheels), tmp_path / "cache"
    )
    root, stubs, digest = _served(installed, tmp_path)
    return root, stubs, digest, installed[1]


def _served(installed: tuple[Path, Path, str], tmp_path: Path) -> tuple[Path, Path, str]:
    """An executor folder served the wheelhouse of ``installed``: (root, stub zip, digest)."""
    wheelhouse, folder, digest = installed
    payload = wheelhouse_payload(wheelhouse, digest, tmp_path / "payloads")
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    return _executor(tmp_path / "executor", payload, stubs, digest), stubs, digest


def _worker(root: Path, stubs: str, names: list[str]) -> dict[str, object]:
    code = _WORKER.format(paths=[str(root / stubs)], names=names, tag=TAG)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(done.stdout))


def test_stubs_cover_every_top_level_name(installed: tuple[Path, Path, str]) -> None:
    _wheelhouse, folder, _digest = installed
    assert set(module_names(TAG)) <= set(top_level_names(folder))
    assert "bin" not in top_level_names(folder)


def test_worker_extracts_once_and_imports_from_the_distributed_folder(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    wheelhouse, folder, digest = installed
    payload = wheelhouse_payload(wheelhouse, digest, tmp_path / "payloads")
    assert payload.stat().st_ino == wheelhouse.stat().st_ino, "a hard link: no bytes copied"
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    root = _executor(tmp_path / "executor", payload, stubs, digest)
    first = _worker(root, stubs.name, module_names(TAG))
    site = root / archive_name(digest) / "site"
    for name in module_names(TAG):
        outcome = first[name]
        assert isinstance(outcome, dict) and outcome["ok"], (name, outcome)
        assert str(outcome["file"]).startswith(f"{site}{os.sep}"), outcome
    assert first["cext"] == 5
    marker = (site / f"sdload_pure{TAG}" / "__init__.py").stat().st_mtime_ns
    again = _worker(root, stubs.name, module_names(TAG))
    assert all(isinstance(again[name], dict) and again[name]["ok"] for name in module_names(TAG))
    assert (site / f"sdload_pure{TAG}" / "__init__.py").stat().st_mtime_ns == marker
    assert not list((root / archive_name(digest)).glob(".site.*.partial"))


def test_concurrent_workers_share_one_extraction(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _served(installed, tmp_path)
    code = _WORKER.format(paths=[str(root / stubs.name)], names=module_names(TAG), tag=TAG)
    workers = [
        subprocess.Popen(
            [sys.executable, "-I", "-c", code], cwd=root, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    assert all(out["cext"] == 5 for out in outputs), outputs
    archive = root / archive_name(digest)
    assert sorted(path.name for path in archive.iterdir() if path.name.startswith(".site")) == [
        ".site.lock",
        ".site.state",
    ]
    wheels = sorted(path.name for path in (archive / "wheels").iterdir())
    done = sorted(path.name[: -len(".done")] for path in (archive / ".site.state").glob("*.done"))
    assert done == wheels, "every wheel extracted once, none left half-way"
    assert not list((archive / ".site.state").glob("*.partial"))


def test_a_changed_wheel_is_refused_with_the_fix(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    wheelhouse, folder, digest = installed
    copy = tmp_path / "copy.zip"
    shutil.copyfile(wheelhouse, copy)
    payload = wheelhouse_payload(copy, digest, tmp_path / "payloads")
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    root = _executor(tmp_path / "executor", payload, stubs, digest)
    victim = next((root / archive_name(digest) / "wheels").glob("sdload_pure*.whl"))
    victim.write_bytes(victim.read_bytes() + b"tampered")
    out = _worker(root, stubs.name, [f"sdload_single{TAG}"])
    outcome = out[f"sdload_single{TAG}"]
    assert isinstance(outcome, dict) and not outcome["ok"]
    assert "changed after load()" in str(outcome["error"]) and victim.name in str(outcome["error"])
    assert not (root / archive_name(digest) / "site").exists(), "nothing half-extracted"


def test_shared_stubs_point_at_the_shared_folder(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _wheelhouse, folder, digest = installed
    stubs = boot_zip(folder, digest, tmp_path / "payloads", site=folder)
    root = tmp_path / "executor"
    root.mkdir()
    shutil.copyfile(stubs, root / stubs.name)
    out = _worker(root, stubs.name, module_names(TAG))
    for name in module_names(TAG):
        outcome = out[name]
        assert isinstance(outcome, dict) and outcome["ok"], (name, outcome)
        assert str(outcome["file"]).startswith(f"{folder}{os.sep}"), outcome
    assert not (root / archive_name(digest)).exists(), "nothing travels with shared"


def test_missing_archive_names_the_fix(installed: tuple[Path, Path, str], tmp_path: Path) -> None:
    _wheelhouse, folder, digest = installed
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    root = tmp_path / "executor"
    root.mkdir()
    shutil.copyfile(stubs, root / stubs.name)
    outcome = _worker(root, stubs.name, [f"sdload_pure{TAG}"])[f"sdload_pure{TAG}"]
    assert isinstance(outcome, dict) and not outcome["ok"]
    assert "sparkdeps.load(" in str(outcome["error"]) and archive_name(digest) in str(
        outcome["error"]
    )


def test_payload_links_the_very_file_load_opened(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # load() reads a wheelhouse through /proc/self/fd/N of the file it opened once; the
    # payload must be that inode, not whatever the path names by then.
    wheelhouse, _folder, digest = installed
    with wheelhouse.open("rb") as handle:
        pinned = Path(f"/proc/self/fd/{handle.fileno()}")
        if not pinned.exists():
            pytest.skip("no /proc/self/fd on this system")
        payload = wheelhouse_payload(pinned, digest, tmp_path / "payloads", symlink_to=wheelhouse)
    assert not payload.is_symlink()
    assert payload.stat().st_ino == wheelhouse.stat().st_ino


def test_a_killed_workers_partial_extraction_is_swept(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    # issue 21: a worker SIGKILLed mid-extraction left .site.<pid>.partial (26 MB) forever
    root, stubs, digest = _served(installed, tmp_path)
    archive = root / archive_name(digest)
    stale = archive / ".site.4242.partial"  # what the killed worker (pid 4242) left
    (stale / f"sdload_pure{TAG}").mkdir(parents=True)
    (stale / f"sdload_pure{TAG}" / "__init__.py").write_text("half = True\n")
    out = _worker(root, stubs.name, [f"sdload_pure{TAG}"])
    outcome = out[f"sdload_pure{TAG}"]
    assert isinstance(outcome, dict) and outcome["ok"], outcome
    assert not list(archive.glob(".site.*.partial")), "swept under the lock"
    assert (archive / "site").is_dir()


# ----------------------------------------------- the configuration beside the module (issue 24)

_READ_CONFIG = """
import json, sys
sys.path.insert(0, {zip!r})
module = __import__({module!r})
print(json.dumps({{"file": module.__file__, "config": module.CONFIG}}))
"""


def test_bootstrap_reads_its_configuration_from_the_stub_zip(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _wheelhouse, folder, digest = installed
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    module = f"{archive_name(digest)}_boot"
    with zipfile.ZipFile(stubs) as archive:
        shipped = archive.read(f"{module}.py")
        assert f"{module}.json" in archive.namelist()
    # the module travels as it is: no source rewritten on the driver
    assert shipped == Path(bootstrap.__file__).read_bytes()
    assert bootstrap.CONFIG == {}, "sparkdeps' own copy has no configuration beside it"
    code = _READ_CONFIG.format(zip=str(stubs), module=module)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(done.stdout)
    # from the zip, its bytecode compiled on the driver (no compile in each fresh worker)
    assert seen["file"] == os.path.join(str(stubs), f"{module}.pyc")
    manifest = json.loads((folder / MANIFEST_NAME).read_text("utf-8"))
    assert seen["config"] == {
        "digest": digest,
        "archive": archive_name(digest),
        "site": None,
        "site_marker": None,  # only a shared folder's stubs wait for its install marker
        "wheels": [[wheel["filename"], wheel["sha256"]] for wheel in manifest["wheels"]],
        "bytecode": None,  # a wheelhouse made without bytecode
    }


def test_a_stub_zip_without_its_configuration_names_the_fix(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _wheelhouse, folder, digest = installed
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    module = f"{archive_name(digest)}_boot"
    root = tmp_path / "executor"
    root.mkdir()
    with zipfile.ZipFile(stubs) as source, zipfile.ZipFile(root / stubs.name, "w") as copy:
        for name in source.namelist():
            if name != f"{module}.json":
                copy.writestr(name, source.read(name))
    outcome = _worker(root, stubs.name, [f"sdload_pure{TAG}"])[f"sdload_pure{TAG}"]
    assert isinstance(outcome, dict) and not outcome["ok"]
    assert f"no {module}.json" in str(outcome["error"]), outcome


def _stub_zip_with(stubs: Path, into: Path, module: str, pyc: bytes | None) -> Path:
    """A copy of ``stubs`` whose ``<module>.pyc`` is ``pyc`` (None: left out)."""
    into.mkdir()
    copied = into / stubs.name
    with zipfile.ZipFile(stubs) as source, zipfile.ZipFile(copied, "w") as copy:
        for name in source.namelist():
            if name != f"{module}.pyc":
                copy.writestr(source.getinfo(name), source.read(name))
        if pyc is not None:
            copy.writestr(f"{module}.pyc", pyc)
    return copied


@pytest.mark.parametrize(
    "case",
    ["another-python", "another-source", "no-bytecode"],
    ids=["another-magic-number", "source-changed-beside-it", "bytecode-left-out"],
)
def test_the_bootstrap_falls_back_to_its_source_when_its_bytecode_does_not_fit(
    installed: tuple[Path, Path, str], tmp_path: Path, case: str
) -> None:
    """An executor on another Python (or a .pyc that is not this source's) compiles the
    source beside it, as before the .pyc was shipped: never the wrong code."""
    _wheelhouse, folder, digest = installed
    stubs = boot_zip(folder, digest, tmp_path / "payloads")
    module = f"{archive_name(digest)}_boot"
    with zipfile.ZipFile(stubs) as archive:
        pyc = archive.read(f"{module}.pyc")
    if case == "another-python":
        pyc = (int.from_bytes(pyc[:2], "little") ^ 0x0F0F).to_bytes(2, "little") + pyc[2:]
    elif case == "another-source":  # the code of another module under the same hash
        other = compile("raise SystemExit('the stale bytecode ran')", "x.py", "exec")
        pyc = pyc[:8] + importlib.util.source_hash(b"print('other')") + marshal.dumps(other)
    copied = _stub_zip_with(
        stubs, tmp_path / "executor", module, None if case == "no-bytecode" else pyc
    )
    code = _READ_CONFIG.format(zip=str(copied), module=module)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    if case == "another-source":
        # a checked hash-based .pyc whose hash is not the source's: the import refuses it
        # or recompiles; either way the stale code does not run
        assert "the stale bytecode ran" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"] == os.path.join(str(copied), f"{module}.py"), "compiled from its source"
    assert seen["config"]["digest"] == digest


# ----------------------------------------------- per wheel, at its first import (issue 25)

_PARTIAL_USE = """
import importlib, importlib.metadata, json, os, sys
sys.path[1:1] = {paths!r}
module = importlib.import_module({name!r})
print(json.dumps({{
    "file": module.__file__,
    "versions": {{dist: importlib.metadata.version(dist) for dist in {dists!r}}},
}}))
"""


def _state(root: Path, digest: str) -> Path:
    return root / archive_name(digest) / ".site.state"


def _done(root: Path, digest: str) -> set[str]:
    return {path.name[: -len(".done")] for path in _state(root, digest).glob("*.done")}


def test_an_import_extracts_only_the_wheels_that_hold_the_name(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _served(installed, tmp_path)
    dists = [f"sdload-{kind}{TAG}".replace("_", "-") for kind in ("pure", "cext", "data")]
    code = _PARTIAL_USE.format(
        paths=[str(root / stubs.name)], name=f"sdload_single{TAG}", dists=dists
    )
    out = run_worker(root, code)
    site = root / archive_name(digest) / "site"
    assert out["file"] == str(site / f"sdload_single{TAG}.py")
    # every wheel's metadata is there from the start: importlib.metadata sees the whole house
    assert set(out["versions"].values()) == {"1.0"}, out
    assert [name for name in _done(root, digest) if "single" in name] == list(_done(root, digest))
    assert len(_done(root, digest)) == 1
    assert not (site / f"sdload_pure{TAG}").exists(), "a package nothing imported stays zipped"
    assert not (site / f"sdload_cext{TAG}").exists()
    # the next import in another worker extracts what it needs beside it
    again = _worker(root, stubs.name, module_names(TAG))
    assert all(isinstance(again[n], dict) and again[n]["ok"] for n in module_names(TAG)), again
    assert again["cext"] == 5
    assert len(_done(root, digest)) == len(list((root / archive_name(digest) / "wheels").iterdir()))


def test_a_wheel_left_half_extracted_is_extracted_again(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """A worker killed inside a wheel: its files are there, its ``.done`` is not."""
    root, stubs, digest = _served(installed, tmp_path)
    _worker(root, stubs.name, [f"sdload_single{TAG}"])  # prepares: metadata and index
    package = root / archive_name(digest) / "site" / f"sdload_pure{TAG}"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('half-written')\n")
    out = _worker(root, stubs.name, [f"sdload_pure{TAG}"])[f"sdload_pure{TAG}"]
    assert isinstance(out, dict) and out["ok"], out
    assert (package / "__init__.py").read_text() == "from .sub import VALUE\n"


_WARM = """
import fcntl, importlib, json, os, sys, time
sys.path[1:1] = {paths!r}
boot = importlib.import_module({module!r})
held = open(os.path.join({state!r}, {wheel!r} + ".lock"), "a+b")
fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as if another worker were extracting it
folder = boot.warm()
returned_while_held = not os.path.exists(os.path.join({state!r}, {wheel!r} + ".done"))
held.close()
deadline = time.monotonic() + 60
want = len(os.listdir(os.path.join(os.path.dirname(folder), "wheels")))
while time.monotonic() < deadline:
    done = [n for n in os.listdir({state!r}) if n.endswith(".done")]
    if len(done) == want + 1:  # every wheel, then the bytecode
        break
    time.sleep(0.05)
print(json.dumps({{"returned_while_held": returned_while_held,
                   "imported": [n for n in {names!r} if n in sys.modules]}}))
"""


def test_warm_returns_at_once_and_extracts_every_wheel_behind_it(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, stubs, digest = _served(installed, tmp_path)
    state = _state(root, digest)
    state.mkdir()
    wheel = next(path.name for path in (root / archive_name(digest) / "wheels").iterdir())
    code = _WARM.format(
        paths=[str(root / stubs.name)],
        module=f"{archive_name(digest)}_boot",
        state=str(state),
        wheel=wheel,
        names=module_names(TAG),
    )
    out = run_worker(root, code)
    assert out == {"returned_while_held": True, "imported": []}, out
    wheels = {path.name for path in (root / archive_name(digest) / "wheels").iterdir()}
    assert _done(root, digest) == wheels | {"bytecode"}
    tests_done = {path.name[: -len(".later-done")] for path in state.glob("*.later-done")}
    assert tests_done == wheels, "the warm-up extracts every wheel's tests folders too"
    site = root / archive_name(digest) / "site"
    sources = sorted(site.rglob("*.py"))
    assert sources, "the test wheels have modules"
    for source in sources:  # compiled behind the warm-up, nothing imported
        cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        assert cached.is_file(), source


_TESTS_LATER = """
import importlib, json, os, sys, time
sys.path[1:1] = {paths!r}
site = {site!r}
package = importlib.import_module({name!r})
before = os.path.exists(os.path.join(site, {name!r}, "tests"))
data = os.path.exists(os.path.join(site, {name!r}, "helpers", "data.txt"))
suite = importlib.import_module({name!r} + ".tests.test_it")
print(json.dumps({{"before": before, "data": data, "suite": suite.__file__,
                   "value": suite.VALUE, "nested": os.path.exists(os.path.join(
                       site, {name!r}, "tests", "data", "sample.txt"))}}))
"""


def test_a_packages_tests_are_extracted_at_their_own_first_import(tmp_path: Path) -> None:
    """A package's ``tests`` folder (numpy's: half its files) waits for its own import or
    the warm-up; everything else the package holds, data included, comes with it."""
    name = "sdload_tested_boot"
    wheel = make_wheel(
        tmp_path / "wheels",
        "sdload-tested-boot",
        "1.0",
        {
            f"{name}/__init__.py": "VALUE = 'tested'\n",
            f"{name}/helpers/__init__.py": "",
            f"{name}/helpers/data.txt": "kept with the package\n",
            f"{name}/tests/__init__.py": "",
            f"{name}/tests/test_it.py": "from .. import VALUE\n",
            f"{name}/tests/data/sample.txt": "later\n",
        },
    )
    root, stubs, digest, folder = _served_wheels([wheel], tmp_path)
    site = root / archive_name(digest) / "site"
    code = _TESTS_LATER.format(paths=[str(root / stubs.name)], site=str(site), name=name)
    out = run_worker(root, code)
    assert out["before"] is False, "the tests folder came with the package"
    assert out["data"] is True
    assert out["suite"] == str(site / name / "tests" / "test_it.py")
    assert out["value"] == "tested" and out["nested"] is True
    state = _state(root, digest)
    assert (state / f"{wheel.name}.done").is_file()
    assert (state / f"{wheel.name}.later-done").is_file()
    # the driver's install is whole from the start: only executors defer
    assert (folder / name / "tests" / "data" / "sample.txt").is_file()


_YIELDS = """
import importlib, json, os, sys, threading, time
sys.path[1:1] = {paths!r}
boot = importlib.import_module({module!r})
boot.site_folder()  # prepared: metadata and index
executor = boot._executor
state = executor.state
wheel = {wheel!r}
done = os.path.join(state, wheel + ".done")

copies = []
_copy = boot.shutil.copyfileobj
def copy(*args, **kwargs):  # one per member written
    copies.append(1)
    if len(copies) == 100:
        boot._last_import[0] = time.monotonic() + 3600  # an import comes, mid-wheel
    return _copy(*args, **kwargs)
boot.shutil.copyfileobj = copy
try:
    executor.ensure([wheel], yielding=True)
    stopped = None
except boot._Yielded as exc:
    stopped = str(exc)
marker_after_stop = os.path.exists(done)
kept = len(executor._whole[(wheel, "code")])
boot._last_import[0] = time.monotonic()  # this worker's imports go on from now

seen = []
def warm():
    boot._warm_thread.append(threading.get_ident())
    executor._yielding(wheel, "code", wait=True)
thread = threading.Thread(target=warm)
importing_until = time.monotonic() + 1.0
thread.start()
while time.monotonic() < importing_until:  # this worker's UDF importing, every 50 ms
    boot._LazyWheels(executor).find_spec("sdbusy_not_a_name")  # as every import does
    seen.append(os.path.exists(done))
    time.sleep(0.05)
thread.join(timeout=60)
files = sorted(
    os.path.relpath(os.path.join(d, f), executor.site)
    for d, _, fs in os.walk(os.path.join(executor.site, {package!r})) for f in fs)
print(json.dumps({{"stopped": stopped, "marker_after_stop": marker_after_stop, "kept": kept,
                   "written_after": len(copies) - 100,
                   "done_while_importing": any(seen), "done": os.path.exists(done),
                   "files": len(files)}}))
"""


def test_the_warm_up_leaves_a_wheel_for_the_workers_imports_and_ends_it_after(
    tmp_path: Path,
) -> None:
    # the warm-up's thread shares the worker with the UDF: a wheel it is extracting when
    # an import comes is left half-way (no marker) and done again once imports pause
    name = "sdload_many_boot"
    files = {f"{name}/__init__.py": "", **{f"{name}/m{i}.py": f"I = {i}\n" for i in range(300)}}
    wheel = make_wheel(tmp_path / "wheels", "sdload-many-boot", "1.0", files)
    root, stubs, digest, _folder = _served_wheels([wheel], tmp_path)
    code = _YIELDS.format(
        paths=[str(root / stubs.name)],
        module=f"{archive_name(digest)}_boot",
        wheel=wheel.name,
        package=name,
    )
    out = run_worker(root, code)
    assert out["stopped"] == wheel.name and out["marker_after_stop"] is False, out
    assert out["kept"] == 100, "what it wrote before it gave way is kept"
    assert out["written_after"] == 201, "and the next pass writes only the rest"
    assert out["done_while_importing"] is False, "the warm-up waited for the imports"
    assert out["done"] is True and out["files"] == 301, out


def test_type_stubs_are_extracted_later(tmp_path: Path) -> None:
    name = "sdload_stubbed_boot"
    wheel = make_wheel(
        tmp_path / "wheels",
        "sdload-stubbed-boot",
        "1.0",
        {f"{name}/__init__.py": "VALUE = 1\n", f"{name}/__init__.pyi": "VALUE: int\n"},
    )
    root, stubs, digest, _folder = _served_wheels([wheel], tmp_path)
    site = root / archive_name(digest) / "site"
    code = f"""
import importlib, json, os, sys
sys.path[1:1] = [{str(root / stubs.name)!r}]
importlib.import_module({name!r})
boot = importlib.import_module({f"{archive_name(digest)}_boot"!r})
before = os.path.exists(os.path.join({str(site)!r}, {name!r}, "__init__.pyi"))
boot._executor.extract_rest()
print(json.dumps([before, os.path.exists(os.path.join({str(site)!r}, {name!r}, "__init__.pyi"))]))
"""
    assert run_worker(root, code) == [False, True]
