"""The pyspark matrix's cells, and docs/matrix.md written from the cells' results.

Used by noxfile.py (each cell records its own result right after it runs) and
runnable alone: ``python scripts/matrix.py`` rewrites docs/matrix.md from
docs/matrix.json, writing every cell that has not run as "not run" with why, every
red cell with the reason found for it, and the combinations that are not cells.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "matrix.json"
TABLE = REPO / "docs" / "matrix.md"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# pyspark line -> (pip spec, Pythons it supports). pyspark 3.5 declares Python 3.8 to
# 3.11 (3.12 came with 4.0); 3.5.0 is what DBR 14.3 and 15.4 run, and the latest 3.5
# also runs on 3.12 because DBR 16.4 pairs Spark 3.5.2 with Python 3.12
# (docs/facts.md, fact 11). pyspark 4.3.0 requires Python >= 3.11.
LINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "3.5.0": ("==3.5.0", ("3.10", "3.11")),
    "3.5.x": ("==3.5.*", ("3.10", "3.11", "3.12")),
    "4.0.x": ("==4.0.*", PYTHONS),
    "4.1.x": ("==4.1.*", PYTHONS),
    "4.3.0": ("==4.3.0", ("3.11", "3.12", "3.13")),
}
TESTS = {
    "classic": ("tests/runtime/test_spark_classic.py",),
    "connect": ("tests/runtime/test_spark_connect.py",),
}
# Cell id -> why it fails, found by reading its output. Written into the table when
# the cell fails; a cell listed here that passes shows as a pass.
KNOWN_RED: dict[str, str] = {}
# Combinations that are not cells, and why (written under the table).
NOT_CELLS = (
    "pyspark 3.5.0 and 3.5.x with Spark Connect: pyspark 3.5's package holds no Connect"
    " server (`spark-connect_2.12` comes from Maven through `--packages`, a download the"
    " tests never make; from 4.0 the jar ships in the package). Connect delivery is tested"
    " on 4.x.",
    "pyspark 3.5.0 on Python 3.12, and 3.5.0 and 3.5.x on 3.13: pyspark 3.5 declares Python"
    " 3.8 to 3.11 (its classifiers; 3.12 support came with Spark 4.0). 3.5.x on 3.12 is a"
    " cell all the same: DBR 16.4 runs Spark 3.5.2 on Python 3.12. On 3.13 it cannot"
    " install from wheels: its `sql` and `connect` extras require numpy < 2, and numpy"
    " 1.26.4 has no wheel for 3.13 (tried: the install starts compiling numpy from source).",
    "pyspark 4.3.0 on Python 3.10: 4.3.0 requires Python >= 3.11 (its `Requires-Python`;"
    ' the install refuses: "the current Python version (3.10.13) does not satisfy'
    ' Python>=3.11").',
)


@dataclass(frozen=True)
class Cell:
    line: str
    python: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.line}-py{self.python}-{self.mode}"

    @property
    def requirement(self) -> str:
        return f"pyspark[connect]{LINES[self.line][0]}"


def cells() -> list[Cell]:
    found: list[Cell] = []
    for line, (_spec, pythons) in LINES.items():
        modes = ("classic",) if line.startswith("3.") else ("classic", "connect")
        found += [Cell(line, python, mode) for python in pythons for mode in modes]
    return found


def load_results() -> dict[str, dict[str, object]]:
    if RESULTS.is_file():
        loaded: dict[str, dict[str, object]] = json.loads(RESULTS.read_text())
        return loaded
    return {}


def outcome(passed: int, failed: int, skipped: int) -> str:
    """pass only when something passed and nothing failed or skipped."""
    if failed == 0 and passed == 0:
        return "skipped"
    return "pass" if failed == 0 and skipped == 0 else "FAIL"


def record(cell: Cell, junit: Path, pyspark_version: str) -> dict[str, object]:
    """Store one cell's outcome (from pytest's junit XML) and rewrite the table."""
    suite = ET.parse(junit).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    passed = tests - skipped - failed
    entry: dict[str, object] = {
        "result": outcome(passed, failed, skipped),
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "pyspark": pyspark_version,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
    }
    results = load_results()
    results[cell.id] = entry
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    write_table(results)
    return entry


@functools.cache
def _python_found(version: str) -> bool:
    sys.path.insert(0, str(REPO / "src"))
    from sparkdeps.testing._interpreters import InterpreterNotFoundError, find_interpreter

    try:
        find_interpreter(version)
    except InterpreterNotFoundError:
        return False
    return True


def _not_run_reason(cell: Cell) -> str:
    if not _python_found(cell.python):
        return f"not run: no Python {cell.python} on the machine that wrote this table"
    return f'not run yet; `nox -s "spark({cell.id})"`'


def _result(cell: Cell, entry: dict[str, object]) -> str:
    result = str(entry["result"])
    if result == "pass":
        return result
    return f"{result}: {KNOWN_RED.get(cell.id, 'reason not yet found')}"


def _header() -> list[str]:
    return [
        "# pyspark matrix",
        "",
        'Written by `nox -t matrix` (every cell) or `nox -s "spark(<cell>)"` (one cell;',
        "about a minute each on 2 cores); `python scripts/matrix.py` rewrites it from",
        "`docs/matrix.json`. A cell runs `tests/runtime/test_spark_classic.py` (classic",
        "delivery on `local-cluster[2,1,1024]`) or `tests/runtime/test_spark_connect.py`",
        '(Spark Connect, `remote("local[2]")`) in a fresh venv with that pyspark; executors',
        "on a venv holding only pyspark's runtime dependencies. A cell passes only when no",
        "test failed or skipped; a red cell says why. CI runs the whole suite on the pinned",
        "pyspark (`ci/constraints.txt`, 4.3.0 on the CI Python), and through the runtime",
        "twins pyspark 3.5.0 on Python 3.10 (classic, the dbr-14.3 twin) and 4.0.0 on",
        "Python 3.12 (Connect, the dbr-17.3 twin): `tests/runtime/test_twin_spark.py`.",
        "",
        "| pyspark | installed | Python | delivery | result | tests | date |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]


def write_table(results: dict[str, dict[str, object]] | None = None) -> None:
    results = load_results() if results is None else results
    lines = _header()
    for cell in cells():
        entry = results.get(cell.id)
        if entry is None:
            row = [cell.line, "-", cell.python, cell.mode, _not_run_reason(cell), "-", "-"]
        else:
            counts = (
                f"{entry['passed']} passed, {entry['failed']} failed, {entry['skipped']} skipped"
            )
            row = [cell.line, str(entry["pyspark"]), cell.python, cell.mode]
            row += [_result(cell, entry), counts, str(entry["date"])]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Not cells, and why:", ""] + [f"- {reason}" for reason in NOT_CELLS]
    TABLE.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write_table()
