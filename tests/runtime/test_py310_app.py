"""A wheelhouse for Python 3.10, built on the default interpreter, loads into a 3.10 Spark app.

docs/facts.md, fact 9: pyenv's 3.10 runs both the driver and the executors. The wheelhouse
is built by ``sparkdeps.build(python_version="3.10")`` on the default interpreter from
the test index: it holds the cp310 build of a C extension and keeps the
``python_version < "3.11"`` dependency, so this interpreter (3.11) refuses it and only
the 3.10 app can load it. The app runs
as a subprocess whose driver is a 3.10 venv with nothing installed and a PYTHONPATH
of symlinks to just pyspark, py4j, packaging and sparkdeps' source (no network).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.wheels import find_python

from sparkdeps import build
from sparkdeps._core.errors import IncompatibleWheelError
from sparkdeps._runtime.load import load
from sparkdeps.testing.localspark import clean_python

pytestmark = [pytest.mark.spark, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "apps" / "py310_app.py"
MODULES = ("sdtest_cext", "sdtest_marker", "sdtest_oldpy")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def python310() -> Path:
    found = find_python("3.10")
    if found is None:
        pytest.skip("no Python 3.10 on this machine (pyenv install 3.10 to run this test)")
    return found


@pytest.fixture(scope="module")
def wheelhouse310(
    python310: Path, tmp_path_factory: pytest.TempPathFactory, index_url: str
) -> Path:
    root = tmp_path_factory.mktemp("py310")
    requirements = root / "requirements.txt"
    requirements.write_text("sdtest-cext\nsdtest-marker\n")
    result = build(
        requirements,
        dest=root / "runs",
        python_version="3.10",
        index_url=index_url,
        cache_dir=root / "cache",
        task_value_key=None,
    )
    assert {wheel.name for wheel in result.wheels} == {
        "sdtest-cext",
        "sdtest-marker",
        "sdtest-oldpy",
    }
    cext = next(wheel for wheel in result.wheels if wheel.name == "sdtest-cext")
    assert cext.tags == ("cp310-cp310-manylinux_2_17_x86_64",)
    return Path(result.uri)


def test_a_310_wheelhouse_is_refused_by_this_interpreter(
    wheelhouse310: Path, tmp_path: Path
) -> None:
    if sys.version_info[:2] == (3, 10):
        pytest.skip("the default interpreter is 3.10 itself")
    with pytest.raises(IncompatibleWheelError) as caught:
        load(wheelhouse310, cache_dir=tmp_path / "cache")
    assert "3.10" in str(caught.value) and f"{sys.version_info[0]}.{sys.version_info[1]}" in str(
        caught.value
    )


def test_310_app_loads_on_driver_and_executors(
    python310: Path, wheelhouse310: Path, tmp_path: Path
) -> None:
    links = tmp_path / "pythonpath"
    links.mkdir()
    for name in ("pyspark", "py4j", "packaging"):
        (links / name).symlink_to(_package_dir(name))
    (links / "sparkdeps").symlink_to(REPO / "src" / "sparkdeps")
    driver = clean_python(tmp_path / "driver-venv", python=python310)
    executors = clean_python(tmp_path / "executor-venv", python=python310)
    out = tmp_path / "out.json"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "PYSPARK_", "SPARK_"))
        and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PYTHONPATH=str(links),
        SPARKDEPS_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONNOUSERSITE="1",
    )
    modules = list(MODULES)
    completed = subprocess.run(
        [str(driver), str(APP), str(wheelhouse310), str(out), str(executors), *modules],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    seen = json.loads(out.read_text())
    assert seen["driver_version"] == "3.10"
    assert seen["result"]["delivery"] == "classic"
    cache = str(tmp_path / "cache")
    for name in modules:
        assert seen["driver_files"][name].startswith(cache), seen["driver_files"][name]
    workers = {report["cwd"] for report in seen["reports"]}
    assert len(workers) == 2, workers
    for report in seen["reports"]:
        assert report["version"] == "3.10" and report["python"] == str(executors)
        for name, outcome in report["imports"].items():
            assert outcome["ok"], (name, outcome)
            # the application's folder above the executor's own, shared by the node's two
            node = os.path.dirname(report["spark_files"])
            assert outcome["file"].startswith(node + os.sep), outcome
            assert "site-packages" not in outcome["file"]
    assert seen["values"] == [index + 100 for index in range(4)]
    assert len(seen["verified_executors"]) == 2


def test_a_warm_load_checks_tags_when_another_interpreter_installed(
    python310: Path, wheelhouse310: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm load skips the tag check only for the interpreter that checked the install.

    A 3.10 process installs the 3.10 wheelhouse into a node cache; this interpreter then
    finds the install complete and its ref file current (the warm path, nothing hashed),
    and must still refuse it: the install marker says a 3.10 interpreter checked it.
    """
    if sys.version_info[:2] == (3, 10):
        pytest.skip("needs a host interpreter other than 3.10 (this one fits the wheelhouse)")
    links = tmp_path / "pythonpath"
    links.mkdir()
    for name in ("packaging",):
        (links / name).symlink_to(_package_dir(name))
    (links / "sparkdeps").symlink_to(REPO / "src" / "sparkdeps")
    cache = tmp_path / "cache"
    installed = subprocess.run(
        [
            str(python310),
            "-c",
            "import sys, sparkdeps; r = sparkdeps.load(sys.argv[1], cache_dir=sys.argv[2], "
            "delivery='driver-only'); print(r.reused, r.folder)",
            str(wheelhouse310),
            str(cache),
        ],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(links), "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert installed[0] == "False" and Path(installed[1]).is_dir()
    marker = json.loads((Path(installed[1]) / ".sparkdeps-install.json").read_text())
    assert marker["checked_for"].startswith("cpython-310|")

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"the warm path hashes nothing, but {path} was hashed")

    monkeypatch.setattr("sparkdeps._runtime.fetch.sha256_file", no_hashing)
    with pytest.raises(IncompatibleWheelError, match=r"Python 3\.10"):
        load(wheelhouse310, cache_dir=cache, delivery="driver-only")
