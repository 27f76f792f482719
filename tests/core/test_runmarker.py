"""``_core/runmarker``: ``run.json`` as the builder writes it, and the checks that make
cleanup remove only sparkdeps' own run folders."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from sparkdeps._core.runmarker import (
    MAX_MARKER_BYTES,
    MarkerError,
    marker_json,
    parse_marker,
    read_local_marker,
)

DIGEST = "0f" * 32
NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.timezone.utc)


def _marker(**changes: object) -> str:
    data = json.loads(marker_json("run-1", DIGEST, "in" * 32, "1.2.3", now=NOW))
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_what_the_builder_writes_reads_back() -> None:
    text = marker_json("run-1", DIGEST, "in" * 32, "1.2.3", now=NOW)
    assert text.endswith("\n") and json.loads(text)["created"] == "2026-12-05T09:30:00+00:00"
    marker = parse_marker(text, "run-1")
    assert (marker.run_id, marker.digest, marker.sparkdeps_version) == ("run-1", DIGEST, "1.2.3")
    assert marker.created == NOW.timestamp()
    assert marker.input_digest == "in" * 32


@pytest.mark.parametrize(
    ("created", "seconds"),
    [
        ("2026-12-05T09:30:00Z", NOW.timestamp()),
        ("2026-12-05T09:30:00", NOW.timestamp()),  # no zone: UTC
        ("2026-12-05T10:30:00+01:00", NOW.timestamp()),
    ],
    ids=["z-suffix", "naive-is-utc", "offset"],
)
def test_created_forms(created: str, seconds: float) -> None:
    assert parse_marker(_marker(created=created), "run-1").created == seconds


@pytest.mark.parametrize(
    ("text", "folder", "match"),
    [
        ("not json", "run-1", "not JSON"),
        ("[1, 2]", "run-1", "holds a list"),
        (_marker(digest=...), "run-1", "lacks digest"),
        (_marker(run_id="run-2"), "run-1", "not the folder's name"),
        (_marker(run_id=["run-1"]), "run-1", "not the folder's name"),
        (_marker(digest=DIGEST.upper()), "run-1", "not a sha256"),
        (_marker(digest="../../etc"), "run-1", "not a sha256"),
        (_marker(sparkdeps_version=3), "run-1", "not a string"),
        (_marker(created="yesterday"), "run-1", "not an ISO 8601"),
        (_marker(created=1733390000), "run-1", "not an ISO 8601"),
        (_marker(created="2026-12-05T09:30:00" + "0" * 60), "run-1", "not an ISO 8601"),
    ],
    ids=[
        "not-json",
        "not-object",
        "missing-key",
        "other-folder",
        "run-id-not-string",
        "upper-digest",
        "path-as-digest",
        "version-not-string",
        "created-words",
        "created-number",
        "created-too-long",
    ],
)
def test_foreign_markers_are_refused(text: str, folder: str, match: str) -> None:
    with pytest.raises(MarkerError, match=match):
        parse_marker(text, folder)


def test_input_digest_other_than_a_string_is_dropped() -> None:
    assert parse_marker(_marker(input_digest=5), "run-1").input_digest is None


def test_read_local_marker(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    assert read_local_marker(path) is None
    path.write_text(_marker(), encoding="utf-8")
    assert parse_marker(read_local_marker(path) or "", "run-1").run_id == "run-1"


def test_read_local_marker_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text(_marker())
    (tmp_path / "run.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(MarkerError, match="symbolic link"):
        read_local_marker(tmp_path / "run.json")


def test_read_local_marker_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "run.json")
    with pytest.raises(MarkerError, match="not a regular file"):
        read_local_marker(tmp_path / "run.json")


def test_read_local_marker_refuses_a_huge_or_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b" " * (MAX_MARKER_BYTES + 1))
    with pytest.raises(MarkerError, match=r"more than a run\.json"):
        read_local_marker(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(MarkerError, match="not UTF-8"):
        read_local_marker(path)
