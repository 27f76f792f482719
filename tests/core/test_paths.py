"""``_core/paths``: the digest pin on a URI, the cache root, the run folder of a URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkdeps._core.errors import InputError
from sparkdeps._core.paths import (
    cache_root,
    node_cache_dir,
    pin_uri,
    run_folder_of,
    split_pin,
)

DIGEST = "ab" * 32


@pytest.mark.parametrize(
    "uri",
    ["/dbfs/deps/r1/wheelhouse.zip", "dbfs:/deps/r1/wheelhouse.zip", "file:///tmp/r1"],
    ids=["posix", "dbfs", "file-uri"],
)
def test_pin_round_trips(uri: str) -> None:
    assert split_pin(pin_uri(uri, DIGEST)) == (uri, DIGEST)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/r/wheelhouse.zip", ("/r/wheelhouse.zip", None)),
        (f"/r/wheelhouse.zip#sha256= {DIGEST.upper()} ", ("/r/wheelhouse.zip", DIGEST)),
        ("/r/wheelhouse.zip#sha256=", ("/r/wheelhouse.zip", "")),
        ("/a#sha256=x/wheelhouse.zip#sha256=yy", ("/a#sha256=x/wheelhouse.zip", "yy")),
    ],
    ids=["unpinned", "upper-and-spaces", "empty-digest", "last-fragment-wins"],
)
def test_split_pin(uri: str, expected: tuple[str, str | None]) -> None:
    assert split_pin(uri) == expected


def test_cache_root_prefers_the_argument_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKDEPS_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root() == tmp_path / "env"
    assert node_cache_dir() == tmp_path / "env" / "node"
    monkeypatch.delenv("SPARKDEPS_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "sparkdeps"


def test_cache_root_is_absolute_and_expands_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert cache_root("~/c") == tmp_path / "c"
    assert cache_root("rel") == tmp_path / "rel"


@pytest.mark.parametrize(
    ("uri", "folder"),
    [
        ("/base/run1", "/base/run1"),
        ("/base/run1/", "/base/run1"),
        ("/base/run1/wheelhouse.zip", "/base/run1"),
        (f"/base/run1/wheelhouse.zip#sha256={DIGEST}", "/base/run1"),
        ("dbfs:/deps/run1/wheelhouse.zip", "dbfs:/deps/run1"),
        ("  /base/run1  ", "/base/run1"),
    ],
    ids=["folder", "trailing-slash", "wheelhouse", "pinned", "dbfs", "spaces"],
)
def test_run_folder_of(uri: str, folder: str) -> None:
    assert run_folder_of(uri) == folder


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("/base/run1/other.zip", "is not a wheelhouse.zip"),
        ("/base/run1/WHEELS.ZIP", "is not a wheelhouse.zip"),
        ("/", "does not name a run folder"),
        ("/base/..", "does not name a run folder"),
        ("dbfs:", "does not name a run folder"),
        ("/wheelhouse.zip", "does not name a run folder"),
    ],
    ids=["other-zip", "upper-zip", "root", "dotdot", "scheme-only", "zip-at-root"],
)
def test_run_folder_of_refuses_what_is_not_a_run_folder(uri: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        run_folder_of(uri)
