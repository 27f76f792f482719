"""``sparkdeps.testing.localspark``: the local-cluster session a test or a job starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

_SESSION = """
import os, sys
from sparkdeps.testing.localspark import local_cluster_session
spark = local_cluster_session(1, 1, 1024, python=sys.executable)
assert spark.range(2).count() == 2
print(os.environ["SPARK_HOME"])
"""


def _run_alone(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh Python process (its own JVM), without this run's SPARK_HOME."""
    environment = {k: v for k, v in os.environ.items() if k != "SPARK_HOME"} | env
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_temporary_spark_home_is_removed_when_the_process_exits(tmp_path: Path) -> None:
    """Every session without ``work_dir`` left a folder of 30 MB or more in the temporary
    folder (35 of them on the development machine in a day)."""
    done = _run_alone(_SESSION, TMPDIR=str(tmp_path))
    home = Path(done.stdout.strip().splitlines()[-1])
    assert home.parent == tmp_path and home.name.startswith("sparkdeps-spark-home-"), home
    assert not home.exists(), "the Spark home outlived its process"
    assert list(tmp_path.iterdir()) == [], "nothing left behind"


_AFTER_CONNECT = """
import os, sys
from pathlib import Path
from sparkdeps.testing.localspark import connect_session, end_jvm, local_cluster_session

connect = connect_session(python=sys.executable)
assert connect.range(2).count() == 2
connect.stop()
os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)  # as the pytest plugin does
print("ended:", end_jvm())
work = Path(sys.argv[1])
spark = local_cluster_session(1, 1, 1024, python=sys.executable, work_dir=work)
module = work / "added" / "sdjvm_probe.py"
module.parent.mkdir()
module.write_text("VALUE = 7\\n")
spark.sparkContext.addPyFile(str(module))
from pyspark.sql.functions import udf

def probe(_row):
    import sdjvm_probe
    return f"{sdjvm_probe.VALUE} {sdjvm_probe.__file__}"

print("answer:", spark.range(1).select(udf(probe)("id")).first()[0])
spark.stop()
"""


@pytest.mark.connect
def test_a_classic_session_after_a_connect_server_starts_on_a_fresh_jvm(tmp_path: Path) -> None:
    """pyspark keeps one JVM per process. A local-cluster session started in the JVM a
    local Connect server ran in had its executors work inside pyspark's own package (the
    server's ``SPARK_HOME``), and its jobs ran under the server's session state, in an
    artifact folder without the session's files: ``No module named`` for a file it added
    (seen as two test-order failures). ``end_jvm`` ends that JVM; the next session starts
    its own, with this run's Spark home."""
    pytest.importorskip("pyspark.sql.connect.session")
    done = _run_alone(_AFTER_CONNECT, str(tmp_path))
    lines = done.stdout.splitlines()
    assert "ended: True" in lines, done.stdout
    (answer,) = (line.removeprefix("answer: ") for line in lines if line.startswith("answer: "))
    value, origin = answer.split(" ", 1)
    assert value == "7"  # the file the session added
    # imported from the copy the executor fetched, in its work folder under this run's
    # Spark home (not the file added, nor pyspark's own package folder)
    assert Path(origin).resolve().is_relative_to((tmp_path / "work").resolve()), origin
