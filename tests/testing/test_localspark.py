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


def test_a_temporary_spark_home_is_removed_when_the_process_exits(tmp_path: Path) -> None:
    """Every session without ``work_dir`` left a folder of 30 MB or more in the temporary
    folder (35 of them on the development machine in a day)."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_HOME"}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _SESSION],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    home = Path(done.stdout.strip().splitlines()[-1])
    assert home.parent == tmp_path and home.name.startswith("sparkdeps-spark-home-"), home
    assert not home.exists(), "the Spark home outlived its process"
    assert list(tmp_path.iterdir()) == [], "nothing left behind"
