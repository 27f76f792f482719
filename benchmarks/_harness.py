"""Benchmark mechanics: timed subprocesses, alternating rounds, statistics, table, JSON.

A *group* is a set of variants measured together: one warm-up round (discarded),
then ``runs`` rounds, each running every variant once, the order reversed every
other round (A B C, C B A, ...) so drift and order effects fall on both sides
of each pair. A *pair* compares two variants of the same group: its ratio
(median A / median B) comes from samples taken in the same run.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class MeasureError(RuntimeError):
    """A variant failed; the message says which command and why."""


@dataclass(frozen=True)
class Proc:
    """A finished child process: wall seconds, its peak RSS (MB), its output."""

    seconds: float
    maxrss_mb: float
    stdout: str
    stderr: str
    cpu_s: float = 0.0
    """User + system CPU seconds of the command and the children it waited for."""

    def last_json(self) -> dict[str, Any]:
        """The JSON document the command printed last (one line, or an indented block)."""
        lines = self.stdout.splitlines()
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].startswith("{"):
                try:
                    data: dict[str, Any] = json.loads("\n".join(lines[index:]))
                    return data
                except ValueError:
                    continue
        raise MeasureError(
            f"no JSON result in the output:\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}"
        )


SPAWN = Path(__file__).resolve().parent / "_spawn.py"


def run_timed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
) -> Proc:
    """Run ``argv`` through ``_spawn.py``: wall time fork to exit, the command's own peak RSS."""
    import sys

    with tempfile.TemporaryDirectory(prefix="spawn-") as scratch:
        result = Path(scratch) / "result.json"
        out_path, err_path = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with out_path.open("w") as out, err_path.open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-S", str(SPAWN), str(result), *argv],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env else None,
                cwd=cwd,
                start_new_session=True,
            )
            timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
            timer.start()
            try:
                returncode = process.wait()
            finally:
                timer.cancel()
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        if returncode != 0 or not result.is_file():
            raise MeasureError(
                f"{' '.join(argv[:6])} ... exited with {returncode}\n"
                f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}"
            )
        measured = json.loads(result.read_text())
    return Proc(
        float(measured["seconds"]),
        measured["maxrss_kb"] / 1024,
        stdout,
        stderr,
        float(measured.get("cpu_s", 0.0)),
    )


@dataclass
class Sample:
    value: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """One thing to time. ``run`` does its own untimed setup/teardown and returns a Sample."""

    name: str
    run: Callable[[], Sample]
    unit: Literal["s", "MB"] = "s"


@dataclass
class Series:
    variant: str
    unit: str
    samples: list[Sample] = field(default_factory=list)
    warmup: list[Sample] = field(default_factory=list)
    error: str | None = None

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.samples]

    def stats(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        values = self.values
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "n": len(values),
        }


def run_group(
    variants: Sequence[Variant], *, runs: int, warmups: int = 1, log: Callable[[str], None] = print
) -> dict[str, Series]:
    """Warm-ups, then ``runs`` rounds in alternating order; a failure stops only its variant."""
    series = {v.name: Series(v.name, v.unit) for v in variants}
    for round_number in range(warmups + runs):
        warm = round_number < warmups
        order = list(variants) if round_number % 2 == 0 else list(reversed(variants))
        for variant in order:
            record = series[variant.name]
            if record.error is not None:
                continue
            try:
                sample = variant.run()
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                log(f"  ! {variant.name}: {record.error[:2000]}")
                continue
            (record.warmup if warm else record.samples).append(sample)
            label = "warm-up" if warm else f"run {round_number - warmups + 1}/{runs}"
            log(f"  {variant.name:<44} {label:<9} {sample.value:9.3f} {variant.unit}")
    return series


@dataclass(frozen=True)
class Goal:
    """A target ``<= limit`` on ``ratio`` (median A / median B), ``diff`` (A - B) or ``abs`` (A)."""

    kind: Literal["ratio", "diff", "abs"]
    limit: float
    text: str

    def met(self, value: float) -> bool:
        return value <= self.limit


@dataclass(frozen=True)
class Pair:
    measure: str
    workload: str
    a: Series
    b: Series | None
    goal: Goal | None = None

    def result(self) -> dict[str, Any]:
        a_stats = self.a.stats()
        b_stats = self.b.stats() if self.b is not None else None
        out: dict[str, Any] = {
            "measure": self.measure,
            "workload": self.workload,
            "a": {
                "variant": self.a.variant,
                "unit": self.a.unit,
                "stats": a_stats,
                "values": self.a.values,
                "error": self.a.error,
            },
            "b": None,
            "ratio": None,
            "diff": None,
            "target": self.goal.text if self.goal else None,
            "status": "INFO",
        }
        if self.b is not None:
            out["b"] = {
                "variant": self.b.variant,
                "unit": self.b.unit,
                "stats": b_stats,
                "values": self.b.values,
                "error": self.b.error,
            }
        if a_stats is None or (self.b is not None and b_stats is None):
            out["status"] = "ERROR"
            return out
        if b_stats is not None:
            out["ratio"] = a_stats["median"] / b_stats["median"] if b_stats["median"] else None
            out["diff"] = a_stats["median"] - b_stats["median"]
        if self.goal is not None:
            value = {"ratio": out["ratio"], "diff": out["diff"], "abs": a_stats["median"]}[
                self.goal.kind
            ]
            out["status"] = "PASS" if value is not None and self.goal.met(value) else "MISS"
        return out


def _fmt(stats: dict[str, float] | None, unit: str) -> str:
    if stats is None:
        return "ERROR"
    digits = 3 if unit == "s" else 1
    return (
        f"{stats['median']:.{digits}f} [{stats['min']:.{digits}f}-{stats['max']:.{digits}f}]{unit}"
    )


def table(results: Sequence[dict[str, Any]]) -> str:
    """Plain-text table: one line per pair; values are median [min-max]."""
    header = (
        "measure",
        "wl",
        "A",
        "A median [min-max]",
        "B",
        "B median [min-max]",
        "A/B",
        "A-B",
        "target",
        "status",
    )
    rows = [header]
    for r in results:
        a, b = r["a"], r["b"]
        rows.append(
            (
                r["measure"],
                r["workload"],
                a["variant"],
                _fmt(a["stats"], a["unit"]),
                b["variant"] if b else "-",
                _fmt(b["stats"], b["unit"]) if b else "-",
                f"{r['ratio']:.3f}" if r["ratio"] is not None else "-",
                f"{r['diff']:+.3f}" if r["diff"] is not None else "-",
                r["target"] or "-",
                r["status"],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    text = table(results).splitlines()
    del text[1]
    cells = [[c.strip() for c in _split(line)] for line in text]
    out = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    out += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(out)


def _split(line: str) -> list[str]:
    # Columns are separated by two or more spaces; no cell contains two spaces.
    import re

    return re.split(r" {2,}", line.strip())
