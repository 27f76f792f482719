"""An S3-compatible server on 127.0.0.1: moto in server mode, in its own process.

Real HTTP speaking the S3 REST API, so s3fs (and executors fetching a presigned URL)
talk to it exactly as to S3. Writes (PUT, POST, DELETE) are served one at a time,
which makes a conditional put (``If-None-Match: *``) atomic as it is on S3: moto
alone checks and writes in two steps, and two racing writers could both pass the
check. Run as ``python -m tests.support.s3server`` it prints its port and serves
until killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIASPARKDEPSTEST000"
SECRET_KEY = "s3cr3t-moto-key-sparkdeps-d0-not-print"
REGION = "us-east-1"


class S3Server:
    """moto's S3 at ``http://127.0.0.1:<port>``; ``env()`` gives the AWS variables to reach it."""

    def __init__(self, log: Path | None = None) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.log = log
        """Where the server writes one line per request (method, path?query, user agent)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What s3fs/boto read: the endpoint, a region and (test) credentials."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def start(self) -> S3Server:
        env = {**os.environ, "PYTHONPATH": os.fspath(REPO)}
        if self.log is not None:
            env["SPARKDEPS_TEST_S3_LOG"] = os.fspath(self.log)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3server"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"moto server did not start (said {line!r})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """A boto3 client for setting the scene (buckets, listing): not the code under test."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def requests(self) -> list[tuple[str, str, str]]:
        """(method, path?query, user agent) of every request so far (needs ``log``)."""
        assert self.log is not None
        if not self.log.exists():
            return []
        lines = self.log.read_text("utf-8").splitlines()
        return [tuple(line.split("\t", 2)) for line in lines]  # type: ignore[misc]


def _serialising(app: Any) -> Any:
    """``app`` with writes served one at a time (see the module's notes)."""
    lock = threading.Lock()
    log = os.environ.get("SPARKDEPS_TEST_S3_LOG")

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if log:
            query = environ.get("QUERY_STRING", "")
            line = f"{environ.get('REQUEST_METHOD')}\t{environ.get('PATH_INFO')}"
            line += f"{'?' + query if query else ''}\t{environ.get('HTTP_USER_AGENT', '')}\n"
            with lock, open(log, "a", encoding="utf-8") as out:
                out.write(line)
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return serve


def _main() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", 0, _serialising(app), threaded=True, request_handler=MotoRequestHandler
    )
    print(server.server_port, flush=True)
    server.serve_forever()


def running() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


if __name__ == "__main__":
    _main()
