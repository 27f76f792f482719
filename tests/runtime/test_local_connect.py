"""``sparkdeps.testing.connect_session``: two processes each run a local Connect server at
once, while port 15002 (pyspark's default for ``remote("local")``) is taken.

Each process starts its session, waits until the other one's is up, runs a query and
checks that its client talks to the server of its own process (the application id the
server reports is the one of the SparkContext hosting it here).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]

APP = """
import json, sys, time
from pathlib import Path

from pyspark.sql import SparkSession as ClassicSession

from sparkdeps.testing.localspark import connect_session

folder, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def meet(step):
    (folder / f"{me}.{step}").write_text("")
    deadline = time.monotonic() + 240
    while not (folder / f"{other}.{step}").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{other} never reached {step}")
        time.sleep(0.2)


spark = connect_session(python=sys.executable, master="local[1]")
meet("up")  # both servers are running now
total = spark.range(10).groupBy().sum("id").collect()[0][0]
answer = {
    "sum": total,
    "app": spark.conf.get("spark.app.id"),
    "own": ClassicSession._instantiatedSession.sparkContext.applicationId,
}
meet("queried")  # neither stops its server before the other one's query ran
spark.stop()
print(json.dumps(answer))
"""


@pytest.fixture
def default_port_taken() -> Iterator[None]:
    """Listen on 15002, as another local Connect server would (or it is taken already)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 15002))
        holder.listen()
    except OSError:
        pass  # something else holds it: the same situation
    try:
        yield
    finally:
        holder.close()


def test_two_processes_run_connect_sessions_at_once(
    tmp_path: Path, default_port_taken: None
) -> None:
    from sparkdeps.testing.pytest_plugin import _connect_missing

    reason = _connect_missing()
    if reason:
        pytest.skip(reason)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "SPARK_REMOTE")
    }
    script = tmp_path / "app.py"
    script.write_text(APP)
    processes = {
        name: subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), name, other],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, other in (("first", "second"), ("second", "first"))
    }
    answers = {}
    for name, process in processes.items():
        try:
            out, err = process.communicate(timeout=300)
        finally:
            process.kill()
        assert process.returncode == 0, f"{name}: {err[-3000:]}"
        answers[name] = json.loads(out.strip().splitlines()[-1])
    for answer in answers.values():
        assert answer["sum"] == 45
        assert answer["app"] == answer["own"]  # its own server, not the other's
    assert answers["first"]["app"] != answers["second"]["app"]
