"""Storage beyond the local disk (issue 26): object storage through fsspec and Volumes
through the Files API, with the same promises as a local folder.

Real parts: moto's S3 in server mode on 127.0.0.1 reached through the real s3fs
(tests/support/s3server.py), and the real databricks-sdk talking to a stand-in of the
Files API that follows its documented REST endpoints (tests/support/files_api.py:
Databricks itself cannot run here, so that one is a stand-in).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.files_api import FilesApiStandIn
from tests.support.remote import BUCKET, VOLUME, no_databricks_config, s3, s3_server, workspace
from tests.support.s3server import S3Server
from tests.support.wheelhouses import restored_imports
from tests.support.wheels import make_wheel

from sparkdeps._build.publish import build
from sparkdeps._core.errors import StorageError
from sparkdeps._core.storage import PublishConflict, Storage, storage_for
from sparkdeps._core.storage.objectstore import FsspecStorage
from sparkdeps._runtime.cleanup import cleanup, cleanup_older_than
from sparkdeps._runtime.load import load

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
__all__ = ["s3", "s3_server", "workspace"]  # fixtures, shared with tests/hardening


@dataclass(frozen=True)
class Remote:
    storage: Storage
    base: str
    """A fresh folder for this test."""


@pytest.fixture(params=["s3", "s3-claims", "files-api"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    """Each backend: S3 with its conditional put, S3 through the claim protocol that other
    fsspec stores use, and a Volume through the Files API."""
    fresh = uuid.uuid4().hex[:12]
    if request.param == "files-api":
        request.getfixturevalue("workspace")
        base = f"{VOLUME}/{fresh}"
        return Remote(storage_for(base), base)
    request.getfixturevalue("s3")
    base = f"s3://{BUCKET}/{fresh}"
    storage = storage_for(base)
    if request.param == "s3-claims":
        import fsspec

        storage = FsspecStorage(fsspec.filesystem("s3"), "s3", conditional_put=False)
    return Remote(storage, base)


def _file(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_publish_stat_list_download_remove(remote: Remote, tmp_path: Path) -> None:
    storage, base = remote.storage, remote.base
    source = _file(tmp_path, "in.zip", b"wheelhouse bytes" * 100)
    uri = f"{base}/run1/wheelhouse.zip"
    assert storage.local_path(uri) is None
    assert storage.stat(uri) is None and not storage.exists(f"{base}/run1")
    storage.publish(source, uri)
    entry = storage.stat(uri)
    assert entry is not None and not entry.is_dir and entry.size == 1600
    assert entry.mtime > 0
    folder = storage.stat(f"{base}/run1")
    assert folder is not None and folder.is_dir
    assert [(e.name, e.is_dir) for e in storage.list_dir(base)] == [("run1", True)]
    names = [e.name for e in storage.list_dir(f"{base}/run1") if not e.name.endswith(".claims")]
    assert names == ["wheelhouse.zip"]
    storage.download(uri, tmp_path / "out.zip")
    assert (tmp_path / "out.zip").read_bytes() == source.read_bytes()
    assert storage.remove_tree(f"{base}/run1") is True
    assert storage.remove_tree(f"{base}/run1") is False
    assert storage.stat(uri) is None
    assert storage.list_dir(f"{base}/never") == []
    with pytest.raises(StorageError, match="does not exist"):
        storage.download(uri, tmp_path / "gone.zip")


def test_exclusive_publish_refuses_a_taken_name(remote: Remote, tmp_path: Path) -> None:
    storage, uri = remote.storage, f"{remote.base}/run1/run.json"
    storage.publish(_file(tmp_path, "a", b"first"), uri, exclusive=True)
    with pytest.raises(PublishConflict):
        storage.publish(_file(tmp_path, "b", b"second"), uri, exclusive=True)
    storage.download(uri, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"first"


@pytest.mark.parametrize("publishers", [2, 8], ids=["two", "eight"])
def test_racing_publishers_one_winner(remote: Remote, tmp_path: Path, publishers: int) -> None:
    """Publishers released together on one name: one wins (a conditional put), at most one
    (the claim protocol, where simultaneous claimers may all step back), and the file is
    the winner's, whole."""
    storage, uri = remote.storage, f"{remote.base}/race/run.json"
    sources = [
        _file(tmp_path, f"p{i}", f"publisher {i} ".encode() * 500) for i in range(publishers)
    ]
    barrier = threading.Barrier(publishers)
    outcomes: list[str] = ["not run"] * publishers

    def publish(i: int) -> None:
        barrier.wait()
        try:
            storage.publish(sources[i], uri, exclusive=True)
            outcomes[i] = "won"
        except PublishConflict:
            outcomes[i] = "lost"
        except Exception as exc:
            outcomes[i] = f"error: {exc}"

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(outcomes) <= {"won", "lost"}, outcomes
    winners = [i for i, outcome in enumerate(outcomes) if outcome == "won"]
    claims = isinstance(storage, FsspecStorage) and not storage.conditional_put
    assert len(winners) == 1 or (claims and winners == []), outcomes
    if winners:
        storage.download(uri, tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == sources[winners[0]].read_bytes()
    with pytest.raises(PublishConflict):  # a late publisher loses too
        storage.publish(sources[0], uri, exclusive=True)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("remote-wheels")
    make_wheel(folder, "sdremote-pkg", "1.0", {"sdremote_pkg/__init__.py": "WHERE = 'remote'\n"})
    return folder


def _build(wheels: Path, dest: str, run_id: str) -> str:
    return build(wheels, dest=dest, run_id=run_id, no_index=True, task_value_key=None).uri


@pytest.mark.parametrize("backend", ["s3", "files-api"])
def test_build_load_cleanup_through_remote_storage(
    backend: str, request: pytest.FixtureRequest, wheels: Path, tmp_path: Path
) -> None:
    """A wheelhouse published to a bucket or a Volume loads on a machine that only reaches
    it over the network; cleanup and garbage collection work there too."""
    request.getfixturevalue("s3" if backend == "s3" else "workspace")
    base = (f"s3://{BUCKET}" if backend == "s3" else VOLUME) + f"/{uuid.uuid4().hex[:12]}"
    uri = _build(wheels, base, "run-a")
    assert uri == f"{base}/run-a/wheelhouse.zip"
    _build(wheels, base, "run-b")
    with pytest.raises(StorageError, match="run ids must be fresh"):
        _build(wheels, base, "run-a")
    with restored_imports("sdremote"):
        result = load(f"{base}/run-a", delivery="driver-only", cache_dir=tmp_path / "cache")
        import sdremote_pkg

        assert Path(sdremote_pkg.__file__).is_relative_to(result.folder)
    storage = storage_for(base)
    assert cleanup(uri).removed[0] == f"{base}/run-a"
    assert not storage.exists(f"{base}/run-a")
    assert cleanup(uri).removed == ()
    assert storage.exists(f"{base}/run-b/run.json")
    swept = cleanup_older_than(base, 0)
    assert swept.removed[0] == f"{base}/run-b"
    assert storage.list_dir(base) == []


def test_run_folder_without_marker_is_kept(s3: S3Server, wheels: Path, tmp_path: Path) -> None:
    base = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    storage = storage_for(base)
    storage.publish(_file(tmp_path, "f", b"not ours"), f"{base}/foreign/data.bin")
    swept = cleanup_older_than(base, 0)
    assert swept.removed == () and swept.kept == (f"{base}/foreign",)
    assert storage.exists(f"{base}/foreign/data.bin")


def _cli_build(wheels: Path, dest: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sparkdeps", "build", os.fspath(wheels), "--no-index"]
    command += ["--dest", dest, "--run-id", "ci-1"]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=180, cwd=REPO, check=False
    )


def test_ci_build_to_a_volume_publishes_through_the_sdk(
    workspace: FilesApiStandIn, wheels: Path
) -> None:
    """No /Volumes mount here: the CLI publishes through the Files API and says so."""
    completed = _cli_build(wheels, f"{VOLUME}/ci", dict(os.environ))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"through the Databricks Files API at {workspace.url}" in completed.stderr
    assert completed.stdout.strip().endswith(f"{VOLUME}/ci/ci-1/wheelhouse.zip")
    run = workspace.local(f"{VOLUME}/ci/ci-1")
    assert {"run.json", "wheelhouse.zip"} <= {p.name for p in run.iterdir()}
    assert ("PUT", f"/api/2.0/fs/files{VOLUME}/ci/ci-1/wheelhouse.zip") in workspace.requests
    assert not Path("/Volumes").exists()


def test_ci_build_to_a_volume_without_credentials_is_a_clear_error(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if Path("/Volumes").exists():
        pytest.skip("this machine mounts /Volumes")
    no_databricks_config(monkeypatch, tmp_path / "home")
    completed = _cli_build(wheels, f"{VOLUME}/ci", dict(os.environ))
    assert completed.returncode != 0
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        assert name in completed.stderr, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    assert not Path("/Volumes").exists(), "never a local /Volumes folder"


def test_load_from_a_volume_without_credentials_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if Path("/Volumes").exists():
        pytest.skip("this machine mounts /Volumes")
    no_databricks_config(monkeypatch, tmp_path / "home")
    with pytest.raises(StorageError, match="DATABRICKS_HOST") as caught:
        load(f"{VOLUME}/run-a/wheelhouse.zip", delivery="driver-only")
    assert "no /Volumes mount on this machine" in str(caught.value)
    assert not Path("/Volumes").exists()


def test_a_path_outside_any_volume_is_refused(workspace: FilesApiStandIn) -> None:
    with pytest.raises(StorageError, match=r"/Volumes/<catalog>/<schema>/<volume>"):
        storage_for("/Volumes/main/deps")


def test_a_missing_volume_fails_before_any_build_work(
    workspace: FilesApiStandIn, wheels: Path
) -> None:
    with pytest.raises(StorageError, match="the Volume /Volumes/main/deps/nope does not exist"):
        _build(wheels, "/Volumes/main/deps/nope/runs", "r1")


def test_a_missing_bucket_fails_before_any_build_work(s3: S3Server, wheels: Path) -> None:
    with pytest.raises(StorageError, match="does not exist or these credentials cannot see it"):
        _build(wheels, "s3://no-such-bucket-sparkdeps/runs", "r1")


def test_credentials_in_a_storage_uri_are_refused(s3: S3Server) -> None:
    with pytest.raises(StorageError, match="credentials in a storage URI are refused") as caught:
        storage_for("s3://AKIAXXXXXXXXXXXXXXXX:hunter2secret@bucket/runs")
    assert "hunter2secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("module", "uri", "hint"),
    [
        ("fsspec", "s3://bucket/runs", "pip install 'sparkdeps[s3]'"),
        ("databricks.sdk", f"{VOLUME}/runs", "pip install 'sparkdeps[volumes]'"),
    ],
    ids=["fsspec-missing", "sdk-missing"],
)
def test_a_missing_extra_names_the_install(
    module: str, uri: str, hint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if uri.startswith("/Volumes") and Path("/Volumes").exists():
        pytest.skip("this machine mounts /Volumes")
    no_databricks_config(monkeypatch, tmp_path / "home")
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(StorageError) as caught:
        storage_for(uri)
    assert hint in str(caught.value)


def test_http_urls_are_read_only(s3: S3Server, tmp_path: Path) -> None:
    storage = storage_for(f"{s3.url}/{BUCKET}/x/wheelhouse.zip")
    with pytest.raises(StorageError, match="can be read"):
        storage.publish(_file(tmp_path, "f", b"x"), f"{s3.url}/{BUCKET}/x/wheelhouse.zip")


@pytest.mark.parametrize(
    ("setting", "presigned"),
    [(None, True), ("600", True), ("0", False)],
    ids=["default", "ten-minutes", "off"],
)
def test_s3_executor_url_is_a_presigned_url(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, setting: str | None, presigned: bool
) -> None:
    """What executors fetch themselves (issue 26, goal 3): the object through a presigned
    URL of the store, which a plain HTTP client reads without credentials."""
    import urllib.request

    if setting is not None:
        monkeypatch.setenv("SPARKDEPS_PRESIGN_SECONDS", setting)
    uri = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/wheelhouse.zip"
    storage = storage_for(uri)
    storage.publish(_file(Path(os.environ["SPARKDEPS_CACHE_DIR"]), "w.zip", b"zip bytes"), uri)
    url = storage.executor_url(uri)
    if not presigned:
        assert url is None
        return
    assert url is not None and url.startswith(f"{s3.url}/") and "Signature=" in url
    with urllib.request.urlopen(url, timeout=30) as response:  # no AWS credentials here
        assert response.read() == b"zip bytes"


def test_executor_url_elsewhere(
    workspace: FilesApiStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A zip URL is handed on as it is; local paths, Volumes through the Files API (its
    URLs need the token) and a bad setting give none."""
    url = "https://example.invalid/runs/r1/wheelhouse.zip?X-Amz-Signature=abc"
    assert storage_for(url).executor_url(url) == url
    page = "https://example.invalid/download?id=1"
    assert storage_for(page).executor_url(page) is None
    assert storage_for(os.fspath(tmp_path)).executor_url(os.fspath(tmp_path)) is None
    assert storage_for(f"{VOLUME}/r1").executor_url(f"{VOLUME}/r1/wheelhouse.zip") is None
    monkeypatch.setenv("SPARKDEPS_PRESIGN_SECONDS", "a week")
    with pytest.raises(StorageError, match="SPARKDEPS_PRESIGN_SECONDS"):
        FsspecStorage(object(), "s3").executor_url("s3://b/k.zip")
