"""The pyspark matrix: ``nox -t matrix`` runs every cell and writes docs/matrix.md.

Cells (scripts/matrix.py): pyspark 3.5.0, the latest 3.5, 4.0.x, 4.1.x and 4.3.0, each
with classic delivery and, on 4.x, Spark Connect, on every Python from 3.10 to 3.13
that the pyspark line supports. A cell whose Python is not on this machine is
skipped by nox and written down as not run, with that reason. Interpreters are
found as the twins find them (PATH, pyenv, uv-managed), never downloaded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

REPO = Path(__file__).resolve().parent
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "src")]

import matrix  # noqa: E402

from sparkdeps.testing._interpreters import (  # noqa: E402
    InterpreterNotFoundError,
    find_interpreter,
)

nox.options.error_on_missing_interpreters = False
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["matrix_table"]

for _version in matrix.PYTHONS:
    try:  # pyenv's interpreters are not always on PATH: put the ones found there
        _found = find_interpreter(_version)
    except InterpreterNotFoundError:
        continue
    os.environ["PATH"] = f"{_found.parent}{os.pathsep}{os.environ['PATH']}"

CELLS = matrix.cells()


@nox.session(tags=["matrix"])
@nox.parametrize(
    ("python", "line", "mode"),
    [(cell.python, cell.line, cell.mode) for cell in CELLS],
    ids=[cell.id for cell in CELLS],
)
def spark(session: nox.Session, line: str, mode: str) -> None:
    """One cell: install that pyspark, run the delivery tests, record the result."""
    cell = matrix.Cell(line, str(session.python), mode)
    session.install("-e", ".[build,test]", cell.requirement)
    junit = Path(session.create_tmp()) / "junit.xml"
    code = session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *matrix.TESTS[mode],
        env={"SPARK_LOCAL_IP": "127.0.0.1"},
        success_codes=[0, 1],
    )
    del code
    version = session.run("python", "-c", "import pyspark; print(pyspark.__version__)", silent=True)
    entry = matrix.record(cell, junit, str(version).strip())
    session.log(f"{cell.id}: {entry}")
    if entry["result"] != "pass":
        session.error(f"{cell.id}: {entry['result']}")


@nox.session(python=False)
def matrix_table(session: nox.Session) -> None:
    """Rewrite docs/matrix.md from docs/matrix.json (cells not run say why)."""
    matrix.write_table()
    session.log(f"wrote {matrix.TABLE}")
