"""cleanup(): run folders and payloads go, idempotently; never a folder without run.json."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import InputError
from sparkdeps._runtime.cleanup import cleanup, cleanup_older_than
from sparkdeps._runtime.install import node_cache_dir


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheel(
        tmp_path_factory.mktemp("cleanup-wheel"),
        "sdload-tiny",
        "1.0",
        {"sdload_tiny.py": "X = 1\n"},
    )


def _run(base: Path, wheel: Path, run_id: str, created: float | None = None) -> Path:
    return make_wheelhouse(base, [wheel], run_id=run_id, created=created).parent


@pytest.mark.parametrize(
    "by", ["run-folder", "wheelhouse-uri", "file-uri"], ids=["run-folder", "wheelhouse", "file-uri"]
)
def test_cleanup_is_idempotent(by: str, wheel: Path, tmp_path: Path) -> None:
    folder = _run(tmp_path / "base", wheel, "r1")
    uri = {
        "run-folder": str(folder),
        "wheelhouse-uri": str(folder / "wheelhouse.zip"),
        "file-uri": (folder / "wheelhouse.zip").as_uri(),
    }[by]
    first = cleanup(uri)
    assert not folder.exists()
    assert first.removed and first.removed[0].endswith("r1")
    second = cleanup(uri)
    assert second.removed == ()
    assert (tmp_path / "base").is_dir(), "only the run folder goes, not its base"


def test_cleanup_removes_node_payloads(wheel: Path, tmp_path: Path) -> None:
    folder = _run(tmp_path / "base", wheel, "r1")
    digest = json.loads((folder / "run.json").read_text())["digest"]
    payloads = node_cache_dir() / "payloads"
    (payloads / f"{digest}.connect" / "archives").mkdir(parents=True)
    (payloads / f"{digest}.zip").write_bytes(b"zip")
    (payloads / f"{digest}.wheels").mkdir()
    (payloads / f"{digest}.wheels" / "sparkdeps_x_boot.zip").write_bytes(b"stubs")
    (payloads / "other.zip").write_bytes(b"keep")
    (folder / "executors").mkdir()
    (folder / "executors" / f"{digest}.zip").write_bytes(b"zip")
    result = cleanup(str(folder))
    for gone in (f"{digest}.zip", f"{digest}.connect", f"{digest}.wheels"):
        assert not (payloads / gone).exists(), gone
    assert (payloads / "other.zip").exists()
    assert not folder.exists()
    assert len(result.removed) == 4


def test_cleanup_refuses_a_folder_without_marker(tmp_path: Path) -> None:
    folder = tmp_path / "important"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n")
    with pytest.raises(InputError, match=r"run\.json"):
        cleanup(str(folder))
    assert (folder / "data.csv").exists()


def test_cleanup_older_than(wheel: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    now = time.time()
    old = _run(base, wheel, "old", created=now - 3 * 86400)
    new = _run(base, wheel, "new", created=now - 60)
    iso = _run(base, wheel, "iso")
    # The builder may write `created` as ISO 8601: both forms count.
    marker = json.loads((iso / "run.json").read_text())
    marker["created"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).isoformat()
    (iso / "run.json").write_text(json.dumps(marker))
    unmarked = base / "not-a-run"
    unmarked.mkdir()

    preview = cleanup_older_than(str(base), dt.timedelta(days=1), dry_run=True)
    assert preview.dry_run and sorted(Path(p).name for p in preview.removed) == ["iso", "old"]
    assert old.exists() and iso.exists()

    result = cleanup_older_than(str(base), 86400)
    assert sorted(Path(p).name for p in result.removed) == ["iso", "old"]
    assert sorted(Path(p).name for p in result.kept) == ["new", "not-a-run"]
    assert not old.exists() and not iso.exists() and new.exists() and unmarked.exists()
    assert cleanup_older_than(str(base), 86400).removed == ()


def test_cleanup_older_than_missing_base(tmp_path: Path) -> None:
    assert cleanup_older_than(str(tmp_path / "nowhere"), 1).removed == ()


def test_cli_cleanup(wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sparkdeps._cli import main

    folder = _run(tmp_path / "base", wheel, "r1")
    assert main(["cleanup", str(folder)]) == 0
    assert not folder.exists()
    assert main(["cleanup", str(folder)]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_cli_cleanup_older_than(
    wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkdeps._cli import main

    base = tmp_path / "base"
    now = time.time()
    old = _run(base, wheel, "old", created=now - 8 * 86400)
    new = _run(base, wheel, "new", created=now - 3600)
    assert main(["cleanup", "--base", str(base), "--older-than", "7d", "--dry-run"]) == 0
    assert f"would remove {old}" in capsys.readouterr().out
    assert old.exists()
    assert main(["cleanup", "--base", str(base), "--older-than", "7d"]) == 0
    assert not old.exists() and new.exists()
    assert main(["cleanup", "--base", str(base), "--older-than", "a week"]) != 0
    assert "not an age" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600.0), ("30m", 1800.0), ("12h", 43200.0), ("7d", 604800.0), ("1.5w", 907200.0)],
    ids=["bare", "minutes", "hours", "days", "weeks"],
)
def test_parse_age(text: str, seconds: float) -> None:
    from sparkdeps._jobs.tasks import parse_age

    assert parse_age(text) == seconds
