"""Executors fetch the wheelhouse from storage, not from the driver (issue 26, goal 3).

A wheelhouse on S3 (moto's server on 127.0.0.1, reached through s3fs by the driver) is
handed to ``addArchive`` as a presigned http URL: the executors (separate JVMs and clean
Python workers of ``local-cluster[2,1,1024]``) download it from the store themselves,
and the driver serves only the stub zip. The store's request log proves who fetched:
the executors' JVM (a ``Java/`` user agent) with the presigned query string.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.s3server import S3Server
from tests.support.wheelhouses import load_test_wheels, make_wheelhouse, module_names

from sparkdeps._core.results import LoadResult
from sparkdeps._core.storage import storage_for
from sparkdeps._runtime.delivery import archive_name
from sparkdeps._runtime.load import load
from sparkdeps._runtime.verify import run_probe

pytestmark = [pytest.mark.spark, pytest.mark.network, pytest.mark.slow]
TAG = "_s3fetch"
BUCKET = "sparkdeps-exec"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    import s3fs

    server = S3Server(log=tmp_path_factory.mktemp("s3log") / "requests.log").start()
    saved = {key: os.environ.get(key) for key in server.env()}
    os.environ.update(server.env())
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


@pytest.fixture(scope="module")
def loaded(
    store: S3Server, tmp_path_factory: pytest.TempPathFactory, sparkdeps_spark_manager: Any
) -> tuple[Any, LoadResult, str]:
    root = tmp_path_factory.mktemp("s3fetch")
    local = make_wheelhouse(root / "runs", load_test_wheels(root / "wheels", tag=TAG))
    run = f"s3://{BUCKET}/runs/{local.parent.name}"
    storage = storage_for(run)
    for name in ("run.json", "wheelhouse.zip"):
        storage.publish(local.parent / name, f"{run}/{name}")
    spark = sparkdeps_spark_manager.classic()
    result = load(f"{run}/wheelhouse.zip", spark=spark, cache_dir=root / "cache")
    return spark, result, f"/{BUCKET}/runs/{local.parent.name}/wheelhouse.zip"


def test_the_archive_spark_ships_is_the_presigned_url(
    loaded: tuple[Any, LoadResult, str], store: S3Server
) -> None:
    spark, result, key = loaded
    archives = list(spark.sparkContext.listArchives)
    ours = [a for a in archives if archive_name(result.digest) in a]
    assert len(ours) == 1, archives
    assert ours[0].startswith(f"{store.url}{key}?"), "an http URL of the store, not the driver"
    assert "Signature=" in ours[0]
    assert result.delivery == "classic"


def test_executors_import_from_what_they_fetched_from_the_store(
    loaded: tuple[Any, LoadResult, str], store: S3Server, sparkdeps_spark_manager: Any
) -> None:
    spark, result, key = loaded
    reports = run_probe(spark, module_names(TAG), 8)
    assert len({report["cwd"] for report in reports}) == 2, "both executors answer"
    distributed = archive_name(result.digest)
    for report in reports:
        assert report["python"] == str(sparkdeps_spark_manager.python)
        root = report["spark_files"]
        for module, outcome in report["imports"].items():
            assert outcome["ok"], f"{module} on {report['cwd']}: {outcome}"
            assert outcome["file"].startswith(os.path.join(root, distributed) + os.sep)
    fetched = [
        (method, agent)
        for method, path, agent in store.requests()
        if path.startswith(key + "?") and "Signature=" in path
    ]
    assert fetched, "the executors fetched the wheelhouse from the store"
    assert all(method == "GET" and agent.startswith("Java/") for method, agent in fetched), fetched
