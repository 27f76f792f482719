"""A new user's first hour with ``load`` and ``verify``: messages that say what happened.

Real wheels made by the tests, unpacked the way the node cache holds them; the
failure texts are the ones numpy and the dynamic loader print.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.wheelhouses import restored_imports
from tests.support.wheels import make_wheel

from sparkdeps._runtime.hints import failure_hint
from sparkdeps._runtime.preloaded import explain_preloaded


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    with restored_imports("sdpre"):
        yield


def _installed(tmp_path: Path, name: str, version: str, module: str) -> Path:
    """A folder as the node cache holds it: the wheel's files and its dist-info."""
    wheel = make_wheel(
        tmp_path / "wheels",
        name,
        version,
        {f"{module}/__init__.py": f"__version__ = '{version}'\n"},
    )
    folder = tmp_path / "install"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return folder


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_user_import_before_load_says_what_each_side_gets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sdpre_user").mkdir(parents=True)
    (elsewhere / "sdpre_user" / "__init__.py").write_text("__version__ = '1.0'\n")
    sys.path.insert(0, str(elsewhere))
    import sdpre_user  # noqa: F401

    folder = _installed(tmp_path, "sdpre-user", "2.0", "sdpre_user")
    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        warned = explain_preloaded(["sdpre_user"], folder)
    assert warned == ["sdpre_user"]
    [warning] = _messages(caplog, logging.WARNING)
    assert "this driver process keeps sdpre_user 1.0" in warning
    assert "executors import sdpre_user 2.0 from the wheelhouse" in warning
    assert "call sparkdeps.load() before anything imports sdpre_user" in warning


def test_no_warning_for_what_sparkdeps_imports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import packaging

    folder = _installed(tmp_path, "packaging", "99.0", "packaging")
    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        assert explain_preloaded(["packaging"], folder) == []
    assert _messages(caplog, logging.WARNING) == []
    [info] = [m for m in _messages(caplog, logging.INFO) if "packaging" in m]
    assert f"the driver keeps packaging {packaging.__version__}" in info
    assert "sparkdeps imports it" in info and "executors get packaging 99.0" in info


@pytest.mark.parametrize("with_pyspark", [True, False], ids=["pyspark-loaded", "no-pyspark"])
def test_modules_pyspark_imports(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    with_pyspark: bool,
) -> None:
    import dateutil  # pyspark's driver imports it (through pandas) when a session starts

    if with_pyspark:
        import pyspark  # noqa: F401
    else:
        monkeypatch.delitem(sys.modules, "pyspark", raising=False)
    folder = _installed(tmp_path, "python-dateutil", "9.9", "dateutil")
    with caplog.at_level(logging.INFO, logger="sparkdeps"):
        warned = explain_preloaded(["dateutil"], folder)
    if with_pyspark:
        assert warned == [] and _messages(caplog, logging.WARNING) == []
        assert any("pyspark imports it before load()" in m for m in _messages(caplog, logging.INFO))
    else:  # imported by the user's own code: then the advice is one they can follow
        assert warned == ["dateutil"]
    assert dateutil.__file__ is not None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            "ImportError: numpy.core.multiarray failed to import",
            "compiled against a different NumPy major",
        ),
        (
            "ImportError: A module that was compiled using NumPy 1.x cannot be run in NumPy "
            "2.1.3 as it may crash.",
            "compiled against a different NumPy major",
        ),
        ("AttributeError: _ARRAY_API not found", "compiled against a different NumPy major"),
        (
            "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found",
            "does not fit the executors' platform",
        ),
        ("ModuleNotFoundError: No module named 'sdx'", "call sparkdeps.load(..., spark=spark)"),
        ("ValueError: boom", "read the error above"),
    ],
    ids=["multiarray", "numpy-1x-2x", "array-api", "glibc", "missing", "other"],
)
def test_verify_hint_names_the_cause(error: str, expected: str) -> None:
    cause, fix = failure_hint([("sdx", error)])
    assert expected in cause + fix
    assert fix and "fix:" not in fix  # the fix alone: the error adds "fix:" when it shows it
    if "NumPy" in expected:
        assert "load order" not in cause and "fact 13" in cause


def test_load_reports_install_progress(tmp_path: Path) -> None:
    from tests.support.wheelhouses import load_test_wheels, make_wheelhouse

    from sparkdeps._core.progress import Step, listening
    from sparkdeps._runtime.load import load

    wheels = load_test_wheels(tmp_path / "wheels")
    wheelhouse = make_wheelhouse(tmp_path / "runs", wheels)
    steps: list[Step] = []
    try:
        with listening(steps.append):
            result = load(wheelhouse, cache_dir=tmp_path / "cache", delivery="driver-only")
    finally:
        for name in [name for name in sys.modules if name.startswith("sdload")]:
            del sys.modules[name]
    installs = [step for step in steps if step.phase == "install"]
    [end] = [step for step in installs if step.finished]
    assert end.done == end.total == len(result.wheels) == len(wheels)
    assert end.bytes_done == end.bytes_total == sum(path.stat().st_size for path in wheels)
    assert {step.current for step in installs if not step.finished} >= {p.name for p in wheels}


def test_load_result_renders_in_a_notebook(tmp_path: Path) -> None:
    from html.parser import HTMLParser

    from sparkdeps._core.results import LoadResult

    result = LoadResult(
        uri="/Volumes/c/s/v/run/wheelhouse.zip",
        digest="d" * 64,
        wheels=("sdpre_a-1.0-py3-none-any.whl", "sdpre_b-2.1-py3-none-any.whl"),
        folder=tmp_path / "node" / "installs" / "d",
        delivery="classic",
        top_level=("sdpre_a", "sdpre_b"),
        reused=False,
        payload="/tmp/payloads/<d>.zip",
    )
    page = result._repr_html_()
    cells: list[str] = []

    class Cells(HTMLParser):
        def handle_data(self, data: str) -> None:
            cells.append(data)

    Cells().feed(page)
    assert "2 wheels installed" in "".join(cells)
    assert cells[cells.index("sdpre-a") : cells.index("sdpre-a") + 2] == ["sdpre-a", "1.0"]
    assert "2.1" in cells and str(result.folder) in cells
    assert "/tmp/payloads/<d>.zip" in cells  # escaped in the page, intact as text
    assert "<d>" not in page


def test_shadowing_is_rendered_when_the_manifest_has_it(tmp_path: Path) -> None:
    from sparkdeps._core.html import load_html
    from sparkdeps._core.results import LoadResult

    result = LoadResult("u", "d", ("sdpre_a-1.0-py3-none-any.whl",), tmp_path, "classic",
                        ("sdpre_a",), True)  # fmt: skip
    assert "Shadows" not in result._repr_html_()
    shadowing = dataclasses.replace(result, shadows={"requests": ("2.28.1", "2.32.3")})
    page = shadowing._repr_html_()
    assert "Shadows the runtime" in page and "2.28.1 -&gt; 2.32.3" in page
    assert shadowing.to_dict()["shadows"] == {"requests": ["2.28.1", "2.32.3"]}
    assert load_html(result, ["requests"]).count("requests") == 1  # a plain list renders too


def test_verify_result_renders_in_a_notebook() -> None:
    from sparkdeps._core.results import ModuleImport, VerifyResult

    result = VerifyResult(
        imports=(
            ModuleImport("sdpre_a", "host:/work/1", True, file="/work/1/sdpre_a/__init__.py"),
            ModuleImport("sdpre_a", "host:/work/2", False, error="ImportError: <boom>"),
        )
    )
    page = result._repr_html_()
    assert "1 module on 2 executors: 1 failed" in page
    assert "/work/1/sdpre_a/__init__.py" in page and "ImportError: &lt;boom&gt;" in page


def test_load_result_carries_what_shadows_the_runtime(tmp_path: Path) -> None:
    # a runtime-aware manifest marks a wheel that takes the place of the runtime's copy
    from sparkdeps._core.manifest import Manifest, inspect_wheel
    from sparkdeps._core.target import host_target
    from sparkdeps._core.wheelhouse import write_wheelhouse
    from sparkdeps._runtime.load import load

    wheel = make_wheel(tmp_path / "w", "sdpre-shadow", "2.0", {"sdpre_shadow/__init__.py": ""})
    info = dataclasses.replace(inspect_wheel(wheel), runtime="shadows", shadows="1.5")
    manifest = Manifest(format="existing_wheels", target=host_target().to_dict(), wheels=(info,),
                        input_digest="test", inputs={})  # fmt: skip
    (tmp_path / "run").mkdir()
    out = tmp_path / "run" / "wheelhouse.zip"
    write_wheelhouse([wheel], manifest, out)
    for attempt in ("cold", "warm", "older marker"):
        result = load(out, cache_dir=tmp_path / "cache", delivery="driver-only")
        assert result.reused is (attempt != "cold")
        assert result.shadows == {"sdpre-shadow": ("1.5", "2.0")}, attempt
        # the warm load reads the marker; an install whose marker predates the shadows
        # falls back to the manifest kept in the install folder
        marker = result.folder / ".sparkdeps-install.json"
        kept = json.loads(marker.read_text())
        kept.pop("shadows", None)
        marker.write_text(json.dumps(kept))
    assert "1.5 -&gt; 2.0" in result._repr_html_()
