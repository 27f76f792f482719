"""scripts/matrix.py: a cell passes only when nothing failed or skipped; red cells say why.

Drives the script's real ``record`` on junit XML written the way pytest writes it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).parent.parent


@pytest.fixture
def matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("matrix_under_test", REPO / "scripts/matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "matrix_under_test", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "matrix.json")
    monkeypatch.setattr(module, "TABLE", tmp_path / "matrix.md")
    monkeypatch.setattr(module, "_python_found", lambda version: True)  # no interpreter hunt
    return module


def _junit(path: Path, passed: int, failed: int, skipped: int) -> Path:
    total = passed + failed + skipped
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"'
        f' errors="0" failures="{failed}" skipped="{skipped}" tests="{total}"/></testsuites>'
    )
    return path


@pytest.mark.parametrize(
    ("passed", "failed", "skipped", "expected"),
    [(5, 0, 0, "pass"), (4, 1, 0, "FAIL"), (4, 0, 1, "FAIL"), (0, 0, 5, "skipped")],
    ids=["all-passed", "one-failed", "one-skipped", "all-skipped"],
)
def test_a_skip_never_counts_as_a_pass(
    matrix: ModuleType, tmp_path: Path, passed: int, failed: int, skipped: int, expected: str
) -> None:
    cell = matrix.cells()[0]
    entry = matrix.record(cell, _junit(tmp_path / "j.xml", passed, failed, skipped), "9.9.9")
    assert entry["result"] == expected
    assert json.loads(matrix.RESULTS.read_text())[cell.id]["result"] == expected


def test_a_red_cell_shows_its_reason(
    matrix: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known, unknown = matrix.cells()[:2]
    monkeypatch.setitem(matrix.KNOWN_RED, known.id, "pyspark X cannot Y on Python Z")
    for cell in (known, unknown):
        matrix.record(cell, _junit(tmp_path / "j.xml", 3, 2, 0), "9.9.9")
    table = matrix.TABLE.read_text()
    assert "| FAIL: pyspark X cannot Y on Python Z | 3 passed, 2 failed, 0 skipped |" in table
    assert "| FAIL: reason not yet found |" in table
    assert "Not cells, and why:" in table


def test_the_committed_results_name_only_cells_and_red_ones_say_why(matrix: ModuleType) -> None:
    ids = {cell.id for cell in matrix.cells()}
    results = json.loads((REPO / "docs" / "matrix.json").read_text())
    assert set(results) <= ids, f"stale cells in docs/matrix.json: {set(results) - ids}"
    assert set(matrix.KNOWN_RED) <= ids
    for cell_id, entry in results.items():
        if entry["result"] != "pass":
            assert cell_id in matrix.KNOWN_RED, f"{cell_id} is red without a reason"
