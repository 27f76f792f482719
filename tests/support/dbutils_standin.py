"""A stand-in for Databricks ``dbutils`` (fs and jobs.taskValues), for tests.

It is NOT Databricks: it follows the documented behaviour closely enough to test
our glue. ``fs`` works over a temporary folder that stands for DBFS
(``dbfs:/x`` -> ``<root>/x``; ``file:/x`` is the local file system).
``jobs.taskValues``:

* ``set(key, value)``: value must be JSON-serialisable, at most 48 KiB of JSON;
  recorded for the current task (``task_key``).
* ``get(taskKey, key, default=None, debugValue=None)``: in a job run returns the
  value set by task ``taskKey``, or ``default`` when that key is missing; outside a
  job run returns ``debugValue``, raising TypeError when debugValue is None.

Subprocesses get one through ``SPARKDEPS_DBUTILS=tests.support.dbutils_standin:from_env``
with ``SPARKDEPS_TEST_DBFS_ROOT`` (the folder), ``SPARKDEPS_TEST_TASK`` (current task
key; unset = outside a job run) and ``SPARKDEPS_TEST_TASK_VALUES`` (a JSON file
``{task: {key: value}}`` shared by the "tasks" of one "run").
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIMIT = 48 * 1024


@dataclass(frozen=True)
class FileInfo:
    path: str
    name: str
    size: int
    modificationTime: int


class StandinFs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _local(self, uri: str) -> Path:
        if uri.startswith("dbfs:"):
            return self.root / uri[len("dbfs:") :].lstrip("/")
        if uri.startswith("file:"):
            return Path(
                uri[len("file:") :].replace("//", "/", 1) if uri.startswith("file://") else uri[5:]
            )
        return self.root / uri.lstrip("/")

    def cp(self, source: str, destination: str, recurse: bool = False) -> bool:
        src, dst = self._local(source), self._local(destination)
        if not src.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: {source}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if not recurse:
                raise OSError(f"{source} is a directory (use recurse=True)")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst)
        return True

    def mv(self, source: str, destination: str, recurse: bool = False) -> bool:
        src, dst = self._local(source), self._local(destination)
        if not src.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: {source}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        local = self._local(path)
        if not local.exists():
            return False
        if local.is_dir():
            if not recurse and any(local.iterdir()):
                raise OSError(f"{path} is a non-empty directory (use recurse=True)")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True

    def ls(self, path: str) -> list[FileInfo]:
        local = self._local(path)
        if not local.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {path} does not exist.")
        base = path.rstrip("/")
        out = []
        for child in sorted(local.iterdir()):
            suffix = "/" if child.is_dir() else ""
            info = child.stat()
            out.append(
                FileInfo(
                    f"{base}/{child.name}{suffix}",
                    child.name + suffix,
                    0 if child.is_dir() else info.st_size,
                    int(info.st_mtime * 1000),
                )
            )
        return out

    def mkdirs(self, path: str) -> bool:
        self._local(path).mkdir(parents=True, exist_ok=True)
        return True


class StandinTaskValues:
    def __init__(self, store: Path, task_key: str | None) -> None:
        self.store = store
        self.task_key = task_key

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.store.exists():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(self.store.read_text())
        return data

    def set(self, key: str, value: Any) -> None:
        text = json.dumps(value)  # TypeError for non-JSON values, as documented
        if len(text.encode("utf-8")) > LIMIT:
            raise ValueError(f"task value {key!r} exceeds 48 KiB")
        if self.task_key is None:
            return  # outside a job run, set does nothing
        data = self._read()
        data.setdefault(self.task_key, {})[key] = value
        self.store.parent.mkdir(parents=True, exist_ok=True)
        self.store.write_text(json.dumps(data))

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        if self.task_key is None:
            if debugValue is None:
                raise TypeError("Must pass debugValue when calling get outside of a job context")
            return debugValue
        values = self._read().get(taskKey)
        if values is None:
            raise ValueError(f"Task key {taskKey!r} not found in this job run")
        return values.get(key, default)


class StandinJobs:
    def __init__(self, task_values: StandinTaskValues) -> None:
        self.taskValues = task_values


class StandinDbutils:
    """``dbutils.fs`` + ``dbutils.jobs.taskValues`` over local folders."""

    def __init__(
        self, root: Path, *, task_key: str | None = None, store: Path | None = None
    ) -> None:
        self.fs = StandinFs(root)
        self.jobs = StandinJobs(StandinTaskValues(store or root / ".task-values.json", task_key))


def from_env() -> StandinDbutils:
    root = Path(os.environ["SPARKDEPS_TEST_DBFS_ROOT"])
    store = os.environ.get("SPARKDEPS_TEST_TASK_VALUES")
    return StandinDbutils(
        root,
        task_key=os.environ.get("SPARKDEPS_TEST_TASK") or None,
        store=Path(store) if store else None,
    )
