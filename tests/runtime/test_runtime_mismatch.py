"""Load checks the runtime it lands in (docs/runtime-aware.md).

The "runtime" is a folder of ``.dist-info`` metadata put first on ``sys.path`` of a
fresh interpreter, so ``importlib.metadata`` sees a numpy 1.23.5 (or 2.1.3) and a
library at chosen versions, exactly as it sees a cluster's site-packages. The
wheelhouses are built runtime-aware from wheels made here, with ``--find-links``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"

LOAD = """
import json, logging, sys
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
import sparkdeps
strict = {"none": None, "true": True, "false": False}[sys.argv[4]]
try:
    result = sparkdeps.load(sys.argv[2], cache_dir=sys.argv[3], strict=strict)
except sparkdeps.RuntimeMismatchError as exc:
    print("ERROR " + json.dumps(str(exc)))
    raise SystemExit(3)
print("LOADED " + json.dumps({"reused": result.reused, "wheels": list(result.wheels)}))
"""

CHECK = """
import json, logging, sys
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
from sparkdeps._runtime.runtime_mismatch import check_runtime
from sparkdeps import RuntimeMismatchError
section = json.loads(sys.argv[2])
strict = {"none": None, "true": True, "false": False}[sys.argv[3]]
try:
    found = check_runtime(section, strict=strict, fresh=True)
except RuntimeMismatchError as exc:
    print("ERROR " + json.dumps(str(exc)))
    raise SystemExit(3)
print("OK " + json.dumps([d.name for d in found]))
"""


def fake_runtime(
    folder: Path, packages: dict[str, str], requires: dict[str, list[str]] | None = None
) -> Path:
    """A site folder holding only metadata: what importlib.metadata reads of an install."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in packages.items():
        info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in (requires or {}).get(name, [])]
        (info / "METADATA").write_text("\n".join(lines) + "\n", "utf-8")
    return folder


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
    )


SECTION = {
    "name": "dbr-test",
    "digest": "0" * 64,
    "relied_on": [
        {"name": "numpy", "version": "1.23.5", "protected": True, "requires": ">=1.16"},
        {"name": "sdrt-lib", "version": "1.0", "protected": False, "requires": ">=1.0"},
    ],
    "shadows": [],
    "overrides": [],
}


@pytest.mark.parametrize(
    ("installed", "strict", "code", "expected"),
    [
        ({"numpy": "1.23.5", "sdrt-lib": "1.0"}, "none", 0, "OK []"),
        ({"numpy": "2.1.3", "sdrt-lib": "1.0"}, "none", 3, "numpy: built against 1.23.5, this Python has 2.1.3"),
        ({"numpy": "2.1.3", "sdrt-lib": "1.0"}, "false", 0, 'OK ["numpy"]'),
        ({"numpy": "1.23.5", "sdrt-lib": "1.1"}, "none", 0, 'OK ["sdrt-lib"]'),
        ({"numpy": "1.23.5", "sdrt-lib": "1.1"}, "true", 3, "sdrt-lib: built against 1.0, this Python has 1.1"),
        ({"numpy": "1.23.5"}, "none", 3, "sdrt-lib: built against 1.0, this Python lacks it"),
    ],
    ids=["same", "protected-differs", "protected-differs-lenient", "other-differs-warns",
         "other-differs-strict", "missing"],
)  # fmt: skip
def test_check_runtime_against_installed_metadata(
    tmp_path: Path, installed: dict[str, str], strict: str, code: int, expected: str
) -> None:
    site = fake_runtime(tmp_path / "site", installed)
    done = _run(CHECK, str(site), json.dumps(SECTION), strict)
    assert done.returncode == code, done.stderr
    assert expected in done.stdout.replace("\\n", "\n")
    if code == 0 and expected != "OK []":
        assert "differs from the runtime the wheelhouse was built for (dbr-test)" in done.stderr


def test_mismatch_error_names_the_fix(tmp_path: Path) -> None:
    site = fake_runtime(tmp_path / "site", {"numpy": "2.1.3", "sdrt-lib": "1.0"})
    done = _run(CHECK, str(site), json.dumps(SECTION), "none")
    message = json.loads(done.stdout.split("ERROR ", 1)[1])
    assert "built for dbr-test" in message and "(protected" in message
    assert "sparkdeps runtime-freeze" in message and "strict=False" in message


def test_shadowing_upgrade_that_breaks_a_runtime_dependent_is_reported(tmp_path: Path) -> None:
    site = fake_runtime(
        tmp_path / "site",
        {"numpy": "1.23.5", "sdrt-lib": "1.0", "sdrt-arrowlike": "8.0"},
        {"sdrt-arrowlike": ["sdrt-lib<2", "numpy>=1.16"]},
    )
    section = dict(SECTION, shadows=[
        {"name": "sdrt-lib", "version": "2.0", "runtime_version": "1.0", "protected": False},
    ], relied_on=SECTION["relied_on"][:1])  # fmt: skip
    warned = _run(CHECK, str(site), json.dumps(section), "none")
    assert warned.returncode == 0, warned.stderr
    assert (
        "sdrt-arrowlike 8.0 (runtime) requires sdrt-lib<2, but the wheelhouse ships sdrt-lib 2.0"
        in warned.stderr
    )
    refused = _run(CHECK, str(site), json.dumps(section), "true")
    assert (
        refused.returncode == 3
        and "sdrt-arrowlike 8.0 (runtime) requires sdrt-lib<2" in refused.stdout
    )


def test_protected_override_warns_at_load(tmp_path: Path) -> None:
    site = fake_runtime(tmp_path / "site", {"numpy": "1.23.5", "sdrt-lib": "1.0"})
    section = dict(SECTION, shadows=[
        {"name": "numpy", "version": "2.1.3", "runtime_version": "1.23.5", "protected": True},
    ], relied_on=SECTION["relied_on"][1:], overrides=["numpy"])  # fmt: skip
    done = _run(CHECK, str(site), json.dumps(section), "none")
    assert done.returncode == 0, done.stderr
    assert (
        "ships numpy 2.1.3 over the runtime's 1.23.5 (built for dbr-test with --override-runtime)"
        in done.stderr
    )
    assert "pyspark imports the runtime's numpy before user code" in done.stderr


@pytest.fixture
def runtime_wheelhouse(tmp_path: Path) -> str:
    """Built for a freeze file with numpy 1.23.5 and sdrt-lib 1.0: ships sdrt-app only."""
    links = tmp_path / "links"
    make_wheel(links, "numpy", "1.23.5", {"numpy/__init__.py": "V = '1.23.5'\n"})
    make_wheel(links, "sdrt-lib", "1.0", {"sdrt_lib/__init__.py": "V = 1\n"})
    make_wheel(links, "sdrt-app", "1.0", {"sdrt_app/__init__.py": "import sdrt_lib\n"},
               requires=["sdrt-lib>=1.0", "numpy>=1.20"])  # fmt: skip
    freeze = tmp_path / "runtime.txt"
    freeze.write_text(f"# python {HOST}\nnumpy==1.23.5\nsdrt-lib==1.0\n", "utf-8")
    source = tmp_path / "requirements.txt"
    source.write_text("sdrt-app\n", "utf-8")
    result = build(
        source, dest=tmp_path / "dest", no_index=True, find_links=[links], python_version=HOST,
        runtime_packages=freeze, use_cache=False, task_value_key=None,
    )  # fmt: skip
    assert [w.name for w in result.wheels] == ["sdrt-app"]
    return result.uri


def test_load_refuses_a_runtime_with_another_protected_version_before_installing(
    tmp_path: Path, runtime_wheelhouse: str
) -> None:
    cache = tmp_path / "node-cache"
    other = fake_runtime(tmp_path / "other", {"numpy": "2.1.3", "sdrt-lib": "1.0"})
    done = _run(LOAD, str(other), runtime_wheelhouse, str(cache), "none")
    assert done.returncode == 3, done.stderr
    assert "numpy: built against 1.23.5, this Python has 2.1.3" in json.loads(
        done.stdout.split("ERROR ", 1)[1]
    )
    assert not (cache / "node" / "install.log").exists()


def test_load_checks_the_runtime_on_the_warm_path_too(
    tmp_path: Path, runtime_wheelhouse: str
) -> None:
    cache = tmp_path / "node-cache"
    same = fake_runtime(tmp_path / "same", {"numpy": "1.23.5", "sdrt-lib": "1.0"})
    first = _run(LOAD, str(same), runtime_wheelhouse, str(cache), "none")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.split("LOADED ", 1)[1])["reused"] is False
    assert "WARNING" not in first.stderr
    newer = fake_runtime(tmp_path / "newer", {"numpy": "1.23.5", "sdrt-lib": "1.4"})
    warm = _run(LOAD, str(newer), runtime_wheelhouse, str(cache), "none")
    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stdout.split("LOADED ", 1)[1])["reused"] is True
    assert "sdrt-lib: built against 1.0, this Python has 1.4" in warm.stderr
    changed = fake_runtime(tmp_path / "changed", {"numpy": "2.1.3", "sdrt-lib": "1.0"})
    refused = _run(LOAD, str(changed), runtime_wheelhouse, str(cache), "none")
    assert refused.returncode == 3 and "numpy: built against 1.23.5" in refused.stdout
    lenient = _run(LOAD, str(changed), runtime_wheelhouse, str(cache), "false")
    assert lenient.returncode == 0 and "numpy: built against 1.23.5" in lenient.stderr


SPARK_CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pyspark  # the runtime's own Spark, imported before load() as on a cluster
from sparkdeps._runtime.runtime_mismatch import runtime_differences
found = runtime_differences(json.loads(sys.argv[2]))
print(json.dumps([[d.name, d.found] for d in found]))
"""


@pytest.mark.parametrize(
    ("relied", "differs"),
    [
        ({"pyspark": "3.5.0", "delta-spark": "3.2.0"}, []),
        ({"pyspark": "3.5.2"}, [["pyspark", "3.5.0"]]),
    ],
    ids=["imported-spark-matches", "imported-spark-differs"],
)
def test_the_runtime_spark_is_read_from_the_imported_module(
    tmp_path: Path, relied: dict[str, str], differs: list[list[str]]
) -> None:
    # dbr-15.4-ml's pip lists a pyspark 4.0.1, but PYTHONPATH's Spark 3.5.0 is what imports;
    # Delta is built in without metadata: nothing to compare, so no difference
    site = fake_runtime(tmp_path / "site", {"pyspark": "4.0.1"})
    (site / "pyspark").mkdir()
    (site / "pyspark" / "__init__.py").write_text("__version__ = '3.5.0'\n", "utf-8")
    section = {
        "relied_on": [
            {"name": name, "version": version, "protected": True, "requires": ""}
            for name, version in relied.items()
        ]
    }
    out = subprocess.run(
        [sys.executable, "-c", SPARK_CHECK, str(site), json.dumps(section)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == differs
