"""process-deps --per-job-run reuses a repaired run's wheelhouse only once it is checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sparkdeps._build.publish import build
from sparkdeps._core.errors import InputError
from sparkdeps._core.paths import split_pin
from sparkdeps._jobs.tasks import _reusable


def _built(tmp_path: Path, module: str) -> tuple[Path, Path]:
    source = tmp_path / f"in-{module}"
    source.mkdir()
    (source / f"{module}.py").write_text("X = 1\n")
    result = build(
        source,
        dest=tmp_path / "base",
        run_id=f"job-{module}",
        no_index=True,
        task_value_key=None,
        cache_dir=tmp_path / "cache",
    )
    return source, Path(result.uri)


def test_the_same_input_reuses_with_the_digest(tmp_path: Path) -> None:
    source, wheelhouse = _built(tmp_path, "sdreuse_a")
    pinned = _reusable(str(wheelhouse.parent), str(wheelhouse), str(source))
    uri, digest = split_pin(pinned)
    assert uri == str(wheelhouse)
    assert digest == json.loads((wheelhouse.parent / "run.json").read_text())["digest"]


def test_another_input_is_refused(tmp_path: Path) -> None:
    _source, wheelhouse = _built(tmp_path, "sdreuse_a")
    other = tmp_path / "other"
    other.mkdir()
    (other / "sdreuse_b.py").write_text("Y = 2\n")
    with pytest.raises(InputError, match="built from another input"):
        _reusable(str(wheelhouse.parent), str(wheelhouse), str(other))


@pytest.mark.parametrize("swap", ["not-a-zip", "other-wheelhouse"], ids=["not-a-zip", "swapped"])
def test_a_replaced_wheelhouse_is_refused(tmp_path: Path, swap: str) -> None:
    source, wheelhouse = _built(tmp_path, "sdreuse_a")
    if swap == "not-a-zip":
        wheelhouse.write_bytes(b"<html>403</html>\n")
    else:
        _other_source, other = _built(tmp_path, "sdreuse_b")
        shutil.copyfile(other, wheelhouse)
    with pytest.raises(InputError, match=r"not the wheelhouse its run\.json names"):
        _reusable(str(wheelhouse.parent), str(wheelhouse), str(source))
