"""Where an executor's first task spends its time, read from the executor's own log.

``peer.py --trace`` points ``SPARK_CONF_DIR`` at a folder whose ``log4j2.properties``
stamps every line with milliseconds. Before the session stops, the child reads each
executor's ``stderr`` (``<spark home>/work/app-*/<executor id>/stderr``) and cuts the
first task into the phases Spark logs:

- ``fetch_s``: the files and archives ``addFile``/``addArchive`` added, fetched from the
  driver (the first ``Fetching`` line to the unpack, or to the next line);
- ``unpack_s``: ``addArchive``'s unpack, in the JVM;
- ``jvm_s``: from there to the Python runner's start (broadcast, task deserialization,
  code generation: a cold JVM's first query);
- ``boot_s``, ``init_s``, ``python_s``: the Python runner's own ``Times:`` line (worker
  start, reading the function, running it);
- ``task_s``: ``Running task`` to ``Finished task``.

The peer fetches and unpacks its archive when the executor starts, inside the session's
start, so its first task has no ``fetch_s`` or ``unpack_s``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["executor_phases", "phase_table", "trace_conf"]

PHASES = ("task_s", "fetch_s", "unpack_s", "jvm_s", "boot_s", "init_s", "python_s")

_LOG4J = """\
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
"""

_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \w+ \w+: (.*)$")
_TIMES = re.compile(r"Times: total = \d+, boot = (-?\d+), init = (\d+), finish = (\d+)")


def trace_conf(folder: Path) -> Path:
    """A Spark conf folder whose log lines carry milliseconds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log4j2.properties").write_text(_LOG4J)
    return folder


def executor_phases(spark_home: Path) -> dict[str, dict[str, float | None]]:
    """Executor id -> its first task's phases in seconds (None: the phase did not occur)."""
    out = {}
    for stderr in sorted(spark_home.glob("work/app-*/*/stderr")):
        out[stderr.parent.name] = _first_task(_timed_lines(stderr))
    return out


def _timed_lines(stderr: Path) -> list[tuple[float, str]]:
    lines = []
    for raw in stderr.read_text(errors="replace").splitlines():
        match = _LINE.match(raw)
        if match:
            stamp = datetime.strptime(match.group(1), "%H:%M:%S.%f")
            seconds = stamp.hour * 3600 + stamp.minute * 60 + stamp.second
            lines.append((seconds + stamp.microsecond / 1e6, match.group(2)))
    return lines


def _first_task(lines: Sequence[tuple[float, str]]) -> dict[str, float | None]:
    phases: dict[str, float | None] = dict.fromkeys(PHASES)
    start = next((i for i, (_, m) in enumerate(lines) if m.startswith("Running task")), None)
    if start is None:
        return phases
    end = next((i for i in range(start, len(lines)) if "Finished task" in lines[i][1]), None)
    task = lines[start : (end + 1 if end is not None else len(lines))]
    t0 = task[0][0]
    if end is not None:
        phases["task_s"] = task[-1][0] - t0
    fetch = _index(task, "Fetching spark://")
    unpack = _index(task, "Unpacking an archive")
    python = _index(task, "Starting Python task execution")
    after_fetch = unpack if unpack is not None else _after(task, fetch, "Fetching")
    if fetch is not None and after_fetch is not None:
        phases["fetch_s"] = task[after_fetch][0] - task[fetch][0]
    if unpack is not None and unpack + 1 < len(task):
        phases["unpack_s"] = task[unpack + 1][0] - task[unpack][0]
    jvm_from = unpack + 1 if unpack is not None else after_fetch if fetch is not None else 0
    if python is not None and jvm_from is not None:
        phases["jvm_s"] = task[python][0] - task[jvm_from][0]
    times = next((_TIMES.search(m) for _, m in task if _TIMES.search(m)), None)
    if times:
        boot, init, finish = (int(g) / 1000 for g in times.groups())
        phases.update(boot_s=max(boot, 0.0), init_s=init, python_s=finish)
    return phases


def _index(lines: Sequence[tuple[float, str]], prefix: str) -> int | None:
    return next((i for i, (_, m) in enumerate(lines) if m.startswith(prefix)), None)


def _after(lines: Sequence[tuple[float, str]], first: int | None, prefix: str) -> int | None:
    """The first line after the run of lines mentioning ``prefix`` that starts at ``first``."""
    if first is None:
        return None
    i = first
    while i < len(lines) and prefix in lines[i][1]:
        i += 1
    return i if i < len(lines) else None


def phase_table(samples: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Median of each phase over every sample's executors, one line per variant."""
    rows = [("variant", *PHASES)]
    for variant, records in samples.items():
        per_executor = [
            phases for record in records for phases in (record.get("phases") or {}).values()
        ]
        cells = []
        for phase in PHASES:
            values = [p[phase] for p in per_executor if p.get(phase) is not None]
            cells.append(f"{statistics.median(values):.2f}" if values else "-")
        rows.append((variant[:52], *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = "first task on each executor, median seconds by phase (from its log)"
    return "\n".join([title, *lines])
