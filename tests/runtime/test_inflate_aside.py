"""An import's extraction inflates a wheel's big members on helper threads.

On a node's disk inflating the libraries of numpy and the compiled wheels is most of an
executor's extraction (docs/facts.md, fact 28), while a fresh executor's other tasks
wait for the same wheel's lock. Real wheels (zip files made here, a big member
deflated), real threads, real files; the warm-up's extraction (which gives way to
imports) stays on its own thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheels import make_wheel

from sparkdeps._runtime import bootstrap

BIG = os.urandom(3 << 20)  # does not deflate: its compressed size stays above _BIG


def _wheel(folder: Path) -> Path:
    files: dict[str, str | bytes] = {
        "sdbig/__init__.py": "X = 1\n",
        "sdbig/libbig.so": BIG,
        "sdbig/libother.so": BIG[::-1],
    }
    files |= {f"sdbig/small{index}.py": f"N = {index}\n" for index in range(30)}
    return make_wheel(folder, "sdbig", "1.0", files)


def _recording(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Member name -> the name of the thread that wrote it."""
    seen: dict[str, str] = {}
    write = bootstrap._write_member

    def recorded(wheel: zipfile.ZipFile, info: zipfile.ZipInfo, target: str) -> None:
        seen[info.filename] = threading.current_thread().name
        write(wheel, info, target)

    monkeypatch.setattr(bootstrap, "_write_member", recorded)
    return seen


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


def _expected(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.startswith("sdbig-1.0.dist-info/")
        }


def test_big_members_are_inflated_aside_and_every_byte_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel(tmp_path / "wheels")
    monkeypatch.setattr(bootstrap, "_spare_cores", lambda: 2)
    seen = _recording(monkeypatch)
    site, written, whole = tmp_path / "site", list[str](), set[str]()
    bootstrap._extract(str(wheel), str(site), part="code", written=written, whole=whole)
    assert _digests(site) == _expected(wheel)
    main = threading.current_thread().name
    assert {seen["sdbig/libbig.so"], seen["sdbig/libother.so"]} <= {"sparkdeps-inflate"}
    assert all(seen[name] == main for name in seen if name.endswith(".py"))
    assert set(written) == {str(site / name) for name in _expected(wheel)}
    assert whole == set(_expected(wheel)), "the warm-up's record of what is whole"
    assert not [t for t in threading.enumerate() if t.name == "sparkdeps-inflate"]


@pytest.mark.parametrize(
    ("cores", "stop", "aside"),
    [(1, None, False), (2, None, True), (4, lambda: False, False)],
    ids=["one-core", "import-with-a-spare-core", "warm-up-thread"],
)
def test_who_inflates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, stop: Any, aside: bool
) -> None:
    wheel = _wheel(tmp_path / "wheels")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    seen = _recording(monkeypatch)
    site = tmp_path / "site"
    bootstrap._extract(str(wheel), str(site), part="code", written=[], stop=stop)
    assert _digests(site) == _expected(wheel)
    helper = seen["sdbig/libbig.so"] == "sparkdeps-inflate"
    assert helper is aside
    assert bootstrap._spare_cores() == min(cores - 1, 3)


def test_a_helper_that_meets_a_full_disk_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel(tmp_path / "wheels")
    monkeypatch.setattr(bootstrap, "_spare_cores", lambda: 2)
    write = bootstrap._write_member

    def full(wheel_zip: zipfile.ZipFile, info: zipfile.ZipInfo, target: str) -> None:
        if info.filename == "sdbig/libbig.so":
            with open(target, "wb") as out:
                out.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        write(wheel_zip, info, target)

    monkeypatch.setattr(bootstrap, "_write_member", full)
    monkeypatch.setattr(bootstrap, "CONFIG", {"digest": "0" * 64, "wheels": []})
    archive, site, written = tmp_path / "archive", tmp_path / "site", list[str]()
    archive.mkdir()

    def work() -> None:
        bootstrap._extract(str(wheel), str(site), part="code", written=written)

    with pytest.raises(ImportError, match="no space left"):
        bootstrap._space_checked(str(archive), written, work)
    assert [path for path in site.rglob("*") if path.is_file()] == []
    assert not [t for t in threading.enumerate() if t.name == "sparkdeps-inflate"]
