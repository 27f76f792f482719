"""Shared fixtures for remote storage tests (issue 26): moto's S3 server reached through
s3fs, and the Files API stand-in reached through databricks-sdk. Import the fixtures
into a test module to use them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.files_api import FilesApiStandIn
from tests.support.s3server import S3Server

from sparkdeps._core.storage import filesapi as _filesapi

BUCKET = "sparkdeps-runs"
VOLUME = "/Volumes/main/deps/wheelhouses"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The AWS variables point at the server; fsspec forgets its clients afterwards."""
    import s3fs

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()


def no_databricks_config(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for key in list(os.environ):
        if key.startswith("DATABRICKS_"):
            monkeypatch.delenv(key)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", os.fspath(home))  # no ~/.databrickscfg
    _filesapi._clients.clear()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FilesApiStandIn]:
    """The Files API stand-in, with DATABRICKS_HOST/TOKEN set for the real SDK."""
    if Path("/Volumes").exists():
        pytest.skip("this machine mounts /Volumes: the Files API route is for machines without")
    no_databricks_config(monkeypatch, tmp_path / "home")
    with FilesApiStandIn(tmp_path / "workspace") as stand_in:
        for key, value in stand_in.env().items():
            monkeypatch.setenv(key, value)
        stand_in.create_volume("main", "deps", "wheelhouses")
        yield stand_in
    _filesapi._clients.clear()
