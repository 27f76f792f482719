"""``_core/zipsafety``: the one rule for zip member names and the one set of size limits.

The executors' copy of the name rule (``_runtime/bootstrap.py``, stdlib only, shipped
as source) must refuse exactly the names the core rule refuses as escaping, and put
every other name where the driver's extraction puts it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparkdeps._core.zipsafety import (
    ESCAPING,
    WHEEL_LIMITS,
    ArchiveLimits,
    MemberProblem,
    member_parts,
    member_problem,
)
from sparkdeps._runtime import bootstrap
from sparkdeps._runtime.extract import _member_target

HOSTILE: list[tuple[str, MemberProblem | None]] = [
    ("pkg/__init__.py", None),
    ("./pkg/mod.py", None),
    ("pkg//mod.py", None),
    ("pkg/./mod.py", None),
    ("pkg/", None),
    ("..../x.py", None),
    ("pkg/..x.py", None),
    ("%2e%2e/x.py", None),
    ("\uff0e\uff0e/x.py", None),  # fullwidth dots are not '..'
    ("pkg/a:b.py", None),  # a colon past the first part names no drive
    ("./c:x.py", None),
    (" /x.py", None),
    ("модуль.py", None),
    ("数据/__init__.py", None),
    ("../x.py", "parent"),
    ("pkg/../../x.py", "parent"),
    ("pkg/..", "parent"),
    ("..", "parent"),
    ("/etc/passwd", "absolute"),
    ("//server/share/x.py", "absolute"),
    ("C:/Windows/x.py", "absolute"),
    ("c:x.py", "absolute"),
    ("x:", "absolute"),
    ("..\\x.py", "backslash"),
    ("pkg\\..\\..\\x.py", "backslash"),
    ("pkg\\mod.py", "backslash"),
    ("pkg/\u202egnp.py", "control"),  # right-to-left override
    ("pkg/mod\u200b.py", "control"),  # zero-width space
    ("pkg/mod\x00.py", "control"),
    ("pkg/line\nbreak.py", "control"),
    ("pkg/" + "m" * 256 + ".py", "long"),
    ("pkg/" + "é" * 128, "long"),  # 256 bytes in UTF-8
    ("", "empty"),
    ("./", "empty"),
    ("/", "absolute"),
]
IDS = [repr(name)[1:-1][:40] or "empty" for name, _ in HOSTILE]
# Names the core refuses for other reasons (control characters, over-long parts, empty)
# never reach an executor: load refuses the wheel first (``check_listing``).
SHIPPABLE_OR_ESCAPING = [
    pytest.param(name, expected, id=id_)
    for (name, expected), id_ in zip(HOSTILE, IDS, strict=True)
    if expected is None or expected in ESCAPING
]


@pytest.mark.parametrize(("name", "expected"), HOSTILE, ids=IDS)
def test_member_problem(name: str, expected: MemberProblem | None) -> None:
    assert member_problem(name) == expected


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("pkg/__init__.py", ("pkg", "__init__.py")),
        ("./pkg//mod.py", ("pkg", "mod.py")),
        ("pkg/sub/", ("pkg", "sub")),
    ],
    ids=["plain", "dot-and-double-slash", "folder"],
)
def test_member_parts_drop_empty_and_dot_parts(name: str, parts: tuple[str, ...]) -> None:
    assert member_parts(name) == parts


def _on_executor(name: str, folder: str) -> str | None:
    """Where the executor's bootstrap puts ``name`` (None: not importable, skipped)."""
    parts = bootstrap._parts(name, "w-1.0-py3-none-any.whl")
    return None if parts is None else os.path.join(folder, *parts)


@pytest.mark.parametrize(("name", "expected"), SHIPPABLE_OR_ESCAPING)
def test_bootstrap_refuses_what_the_core_rule_refuses_as_escaping(
    name: str, expected: MemberProblem | None, tmp_path: Path
) -> None:
    folder = str(tmp_path / "site")
    if expected in ESCAPING:
        with pytest.raises(ImportError, match="unsafe member"):
            _on_executor(name, folder)
        return
    on_executor = _on_executor(name, folder)
    on_driver = _member_target(name, Path(folder), "w-1.0-py3-none-any.whl")
    assert on_executor is not None and on_driver is not None
    assert os.path.normpath(on_executor) == os.path.normpath(on_driver)
    assert Path(on_driver).is_relative_to(folder)


@pytest.mark.parametrize(
    ("name", "executor", "driver"),
    [
        ("w-1.0.data/purelib/pkg/m.py", "pkg/m.py", "pkg/m.py"),
        ("w-1.0.data/platlib/pkg/m.so", "pkg/m.so", "pkg/m.so"),
        ("w-1.0.data/scripts/tool", None, "bin/tool"),  # the executor runs no scripts
        ("w-1.0.data/headers/h.h", None, None),
        ("w-1.0.data/purelib", None, None),
    ],
    ids=["purelib", "platlib", "scripts", "headers", "bare-scheme"],
)
def test_data_schemes_land_alike(
    name: str, executor: str | None, driver: str | None, tmp_path: Path
) -> None:
    on_executor = _on_executor(name, str(tmp_path))
    on_driver = _member_target(name, tmp_path, "w-1.0-py3-none-any.whl")
    assert on_executor == (None if executor is None else str(tmp_path / executor))
    assert on_driver == (None if driver is None else tmp_path / driver)


@pytest.mark.parametrize(
    ("expanded", "compressed", "dense"),
    [
        (1 << 20, 1, False),  # at the floor: a ratio there does no harm
        ((1 << 20) + 1, 1, True),
        (200 * 10_000, 10_000, False),  # exactly the ratio
        (200 * 10_000 + 1, 10_000, True),
        (64 << 20, 0, True),  # an empty file cannot divide by zero
    ],
    ids=["floor", "past-floor", "at-ratio", "past-ratio", "zero-compressed"],
)
def test_too_dense(expanded: int, compressed: int, dense: bool) -> None:
    assert ArchiveLimits().too_dense(expanded, compressed) is dense


def test_one_floor_for_input_archives_and_wheels() -> None:
    assert WHEEL_LIMITS.ratio_floor == ArchiveLimits().ratio_floor
    assert WHEEL_LIMITS.max_ratio == ArchiveLimits().max_ratio
    assert WHEEL_LIMITS.max_total_size > ArchiveLimits().max_total_size  # one wheel: 8 GiB
