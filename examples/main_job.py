"""The main job: every example input, built, loaded and checked on a local multi-executor Spark.

For each input under ``examples/inputs/<format>/`` (described by its
``example.json``): build the wheelhouse with ``sparkdeps.build``, load it into ONE
``local-cluster`` session whose executors run a clean interpreter (nothing
installed), run the example's own functions on the driver and in a UDF on every
executor, and check the answers and where the modules came from. Prints a table
and exits non-zero if any row fails.

    python examples/main_job.py                    # every format, packages from PyPI
    python examples/main_job.py --only packaged    # one format
    python examples/main_job.py --index-url http://127.0.0.1:8080/simple --json out.json

Needs Java 17 and ``pip install -e '.[build,spark]'``; the ``mixed`` input holds a
C extension, so a C compiler and the Python headers too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
FORMATS = ("requirements", "pure_python", "packaged", "existing_wheels", "mixed", "nested")
PYPI = "https://pypi.org/simple"


# ----------------------------------------------------------------- the checks
# Evaluated on the driver and, pickled by value (this is __main__), inside a UDF
# on every executor. Only the standard library here: executors have nothing else.


def evaluate(modules: list[str], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Import ``modules``, evaluate each check's expression, compare with ``expect``."""
    import importlib
    import json as _json
    import sys as _sys

    namespace: dict[str, Any] = {}
    files: dict[str, str | None] = {}
    errors: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            errors.append(f"import {name}: {type(exc).__name__}: {exc}")
            continue
        top = name.partition(".")[0]
        namespace[top] = _sys.modules[top]
        files[name] = getattr(module, "__file__", None)
    results: list[dict[str, Any]] = []
    for check in checks:
        try:
            # JSON round trip: tuples become lists, as in example.json
            value = _json.loads(_json.dumps(eval(check["expr"], dict(namespace))))
        except Exception as exc:
            results.append({"ok": False, "error": f"{check['expr']}: {type(exc).__name__}: {exc}"})
            continue
        ok = value == check["expect"]
        entry: dict[str, Any] = {"ok": ok, "value": value}
        if not ok:
            entry["error"] = f"{check['expr']} -> {value!r}, expected {check['expect']!r}"
        results.append(entry)
    return {"files": files, "import_errors": errors, "results": results}


def executor_probe(modules: list[str], checks: list[dict[str, Any]]) -> Any:
    """A UDF body: the checks plus who ran them and what Spark distributed there."""

    # No type hints on a UDF body: pyspark 4 would try to infer a pandas UDF from them
    # and warn that it cannot.
    def probe(_row_id):  # type: ignore[no-untyped-def]
        import json as _json
        import os as _os
        import socket
        import sys as _sys

        from pyspark import SparkFiles

        out = evaluate(modules, checks)
        out["executor"] = f"{socket.gethostname()}:{_os.getcwd()}"
        here = _os.path.abspath(SparkFiles.getRootDirectory())
        # and the application's folder above it, where sparkdeps splits the shipped
        # wheelhouse once for the node's executors
        out["roots"] = sorted({_os.getcwd(), here, _os.path.dirname(here)})
        out["prefix"] = _sys.prefix
        return _json.dumps(out)

    return probe


# ----------------------------------------------------------------- inputs


@dataclass
class Example:
    format: str
    folder: Path
    spec: dict[str, Any]

    @property
    def modules(self) -> list[str]:
        return list(self.spec["modules"])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.spec["checks"])


@dataclass
class Row:
    format: str
    wheels: int = 0
    driver: str = "-"
    executors: str = "-"
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    uri: str | None = None
    cached: bool = False
    built_format: str | None = None

    @property
    def passed(self) -> bool:
        return (
            not self.problems and self.driver.startswith("ok") and self.executors.startswith("ok")
        )


def find_examples(only: list[str] | None, inputs: Path = INPUTS) -> list[Example]:
    examples = []
    for name in FORMATS:
        if only and name not in only:
            continue
        folder = inputs / name
        spec = json.loads((folder / "example.json").read_text(encoding="utf-8"))
        examples.append(Example(name, folder, spec))
    return examples


def compiler_problem() -> str | None:
    """Why a C extension cannot be built here, or None."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("cc") is None:
        return f"no C compiler ({cc}) on PATH: install gcc (e.g. apt install build-essential)"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"no Python headers ({include}): install python3-dev (or your Python's headers)"
    return None


def prepare(example: Example, work: Path) -> Path:
    """Copy the input to ``work`` and turn it into what a user would hand in."""
    copy = work / "inputs" / example.format
    shutil.copytree(
        example.folder, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    step = example.spec.get("prepare")
    if step == "build-wheels":
        # existing_wheels: the wheels are built here, from wheel-sources/, so no
        # binary sits in the repository.
        wheels = copy / example.spec["source"]
        wheels.mkdir(parents=True, exist_ok=True)
        for project in sorted((copy / "wheel-sources").iterdir()):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "build",
                    "--wheel",
                    "--no-isolation",
                    "--outdir",
                    str(wheels),
                    str(project),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        shutil.rmtree(copy / "wheel-sources")
        return wheels
    if step == "zip":
        # nested: what GitHub's "Download ZIP" gives, one wrapper folder at the root.
        root = copy / example.spec["source"]
        archive = copy / f"{root.name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(root.rglob("*")):
                out.write(path, path.relative_to(copy).as_posix())
        return archive
    return copy / example.spec["source"]


# ----------------------------------------------------------------- the job


def build_all(examples: list[Example], work: Path, args: argparse.Namespace) -> dict[str, Row]:
    import sparkdeps

    rows: dict[str, Row] = {}
    for example in examples:
        row = rows[example.format] = Row(example.format)
        if example.spec.get("needs_compiler") and (problem := compiler_problem()):
            row.problems.append(problem)
            continue
        started = time.perf_counter()
        try:
            source = prepare(example, work)
            result = sparkdeps.build(
                source,
                dest=str(work / "runs"),
                index_url=args.index_url,
                use_cache=not args.no_cache,
            )
        except Exception as exc:
            row.problems.append(f"build: {type(exc).__name__}: {exc}")
            continue
        finally:
            row.timings["build"] = time.perf_counter() - started
        row.uri = result.uri
        row.wheels = len(result.wheels)
        row.cached = result.cached
        row.built_format = result.format
        if row.wheels < int(example.spec.get("min_wheels", 1)):
            row.problems.append(
                f"{row.wheels} wheels, expected at least {example.spec['min_wheels']}"
            )
        if result.format != example.format:
            row.problems.append(f"detected format {result.format!r}, expected {example.format!r}")
        print(
            f"  built {example.format:<16} {row.wheels} wheels in {row.timings['build']:5.1f}s"
            f"{' (cached)' if result.cached else ''}",
            flush=True,
        )
    return rows


def check_driver(example: Example, row: Row, folders: list[Path], before: set[str]) -> None:
    out = evaluate(example.modules, example.checks)
    passed = sum(1 for item in out["results"] if item["ok"])
    problems = list(out["import_errors"])
    problems += [item["error"] for item in out["results"] if not item["ok"]]
    preimported = []
    for module, file in out["files"].items():
        # The driver's copy must come from a sparkdeps install folder, not site-packages,
        # unless the process had imported it before load() (pyspark 4 imports pandas,
        # hence dateutil, when the session starts): Python keeps that copy.
        if file is not None and any(
            Path(file).resolve().is_relative_to(f.resolve()) for f in folders
        ):
            continue
        if module.partition(".")[0] in before:
            preimported.append(module.partition(".")[0])
            continue
        problems.append(f"driver imported {module} from {file}, not from a sparkdeps folder")
    total = len(example.checks)
    row.driver = f"ok {passed}/{total}" if not problems else f"FAIL {passed}/{total}"
    for name in dict.fromkeys(preimported):
        row.notes.append(
            f"driver: {name} was imported before load() (by pyspark); the driver kept that copy"
        )
    row.problems += [f"driver: {p}" for p in problems]


def check_executors(spark: Any, example: Example, row: Row, executors: int) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    # A plain Python UDF, said explicitly: it returns one JSON string per row, so Arrow
    # buys nothing, and pyspark then neither guesses the kind nor checks pandas (which
    # warns about pandas 3 on pyspark 4).
    probe = F.udf(executor_probe(example.modules, example.checks), StringType(), useArrow=False)
    answers: list[dict[str, Any]] = []
    partitions = executors * 4
    for _attempt in range(3):
        frame = spark.range(0, partitions, 1, partitions).select(probe(F.col("id")).alias("out"))
        answers = [json.loads(row_.out) for row_ in frame.collect()]
        if len({a["executor"] for a in answers}) >= executors:
            break
        partitions *= 2  # one executor took every task: give the other a chance
    seen = sorted({a["executor"] for a in answers})
    problems: list[str] = []
    if len(seen) < executors:
        problems.append(f"only {len(seen)} of {executors} executors answered")
    for answer in answers:
        problems += answer["import_errors"]
        problems += [item["error"] for item in answer["results"] if not item["ok"]]
        for module, file in answer["files"].items():
            if file is None or not any(
                file.startswith(root.rstrip("/") + "/") for root in answer["roots"]
            ):
                problems.append(
                    f"executor imported {module} from {file}, not from what Spark distributed"
                )
    problems = list(dict.fromkeys(problems))
    checks_ok = all(item["ok"] for a in answers for item in a["results"]) and answers
    per = len(example.checks)
    row.executors = (
        f"ok {per}/{per} x{len(seen)}"
        if not problems and checks_ok
        else f"FAIL on {len(seen)} exec"
    )
    row.problems += [f"executors: {p}" for p in problems]


def run(args: argparse.Namespace) -> int:
    import sparkdeps
    from sparkdeps.testing.localspark import clean_python, local_cluster_session

    examples = find_examples(args.only, Path(args.inputs))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sparkdeps-main-job-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"sparkdeps {sparkdeps.__version__}: {len(examples)} example inputs, work folder {work}")
    print(f"building (index {args.index_url}) ...", flush=True)
    rows = build_all(examples, work, args)

    spark = None
    started = time.perf_counter()
    if any(row.uri for row in rows.values()):
        print(
            f"starting local-cluster[{args.executors},1,1024], executors on a clean venv ...",
            flush=True,
        )
        python = clean_python(work / "clean-venv")
        spark = local_cluster_session(
            args.executors, 1, 1024, python=python, app_name="sparkdeps-main-job"
        )
        spark.sparkContext.setLogLevel("ERROR")
    session_seconds = time.perf_counter() - started
    folders: list[Path] = []
    try:
        for example in examples:
            row = rows[example.format]
            if row.uri is None:
                continue
            before = set(sys.modules)
            started = time.perf_counter()
            try:
                loaded = sparkdeps.load(row.uri, spark=spark, cache_dir=work / "node-cache")
                folders.append(loaded.folder)
            except Exception as exc:
                row.problems.append(f"load: {type(exc).__name__}: {exc}")
                continue
            finally:
                row.timings["load"] = time.perf_counter() - started
            check_driver(example, row, folders, before)
            started = time.perf_counter()
            try:
                check_executors(spark, example, row, args.executors)
            except Exception as exc:
                row.executors = "FAIL"
                row.problems.append(f"executors: {type(exc).__name__}: {str(exc)[:2000]}")
            row.timings["executors"] = time.perf_counter() - started
    finally:
        if spark is not None:
            spark.stop()

    print_table(list(rows.values()), session_seconds)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "session_seconds": round(session_seconds, 3),
                    "rows": [
                        {
                            "format": r.format,
                            "passed": r.passed,
                            "wheels": r.wheels,
                            "built_format": r.built_format,
                            "cached": r.cached,
                            "driver": r.driver,
                            "executors": r.executors,
                            "timings": {k: round(v, 3) for k, v in r.timings.items()},
                            "problems": r.problems,
                            "notes": r.notes,
                            "uri": r.uri,
                        }
                        for r in rows.values()
                    ],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if rows and all(r.passed for r in rows.values()) else 1


def print_table(rows: list[Row], session_seconds: float) -> None:
    def secs(row: Row, key: str) -> str:
        return f"{row.timings[key]:.1f}s" if key in row.timings else "-"

    header = ("format", "wheels", "driver", "executors", "build", "load", "exec", "result")
    lines = [header] + [
        (
            r.format,
            str(r.wheels),
            r.driver,
            r.executors,
            secs(r, "build") + ("*" if r.cached else ""),
            secs(r, "load"),
            secs(r, "executors"),
            "PASS" if r.passed else "FAIL",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for index, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(widths[i]) if i in (0, 2, 3) else cell.rjust(widths[i])
                for i, cell in enumerate(line)
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
    passed = sum(r.passed for r in rows)
    print(f"\n{passed}/{len(rows)} PASS")
    print(f"(Spark session start {session_seconds:.1f}s; * = build from the build cache)")
    for r in rows:
        for problem in r.problems[:5]:
            print(f"  {r.format}: {problem}")
        for note in r.notes:
            print(f"  {r.format} (note): {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-url", default=PYPI, help=f"package index (default {PYPI})")
    parser.add_argument(
        "--only", action="append", choices=FORMATS, help="run only this format (repeatable)"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--inputs", default=str(INPUTS), help="folder of <format>/example.json inputs"
    )
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--workdir", help="keep inputs, run folders and caches here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # pyspark 4.3 warns about pandas 3 wherever it checks pandas (importing
    # pyspark.testing.utils does): a local pip install resolves pyspark's pandas to 3.x,
    # clusters ship pandas < 3. Not our warning: this one message is filtered, nothing else.
    warnings.filterwarnings(
        "ignore",
        message=r"PySpark does not yet fully support pandas >= 3",
        category=FutureWarning,
    )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
