"""The sandboxed Connect cases (tests/apps/sandbox_cases.py), in a pytest process of their own.

The stand-in's JVM keeps its sandboxed workers and local folders for the life of
the process that started it, so it cannot share a process with the suite's other
Spark sessions (docs/delivery.md). This test runs the cases in a child pytest and
asserts that every one of them passed: none skipped, none missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sparkdeps.testing.localspark import sandbox_missing
from sparkdeps.testing.pytest_plugin import _connect_missing

pytestmark = [pytest.mark.spark, pytest.mark.connect, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "apps" / "sandbox_cases.py"
EXPECTED = (
    "test_plain_udfs_run_and_artifacts_are_invisible",
    "test_default_delivery_fails_at_load_or_works_in_udfs",
    "test_auto_without_a_pip_channel_raises_saying_what_to_configure",
    "test_auto_takes_the_environment_route_where_artifacts_are_invisible",
    "test_auto_ships_nothing_where_the_environment_has_every_wheel",
    "test_a_driver_that_has_every_wheel_still_ships_when_the_workers_have_not",
    "test_connect_asked_for_fails_naming_the_route_that_fits",
    "test_environment_route_udfs_import_from_the_synced_environment",
    "test_probe_false_opts_out",
    "test_the_sandbox_option_makes_every_connect_fixture_sandboxed",
    "test_doctor_table_on_the_sandbox_without_a_pip_channel",
    "test_doctor_table_on_the_sandbox_with_the_pip_stand_in",
)


def _child_env() -> dict[str, str]:
    """This environment without what a Spark session of this process left in it."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SPARK_", "PYSPARK_"))
    }


def test_every_sandbox_case_passes(tmp_path: Path) -> None:
    reason = _connect_missing() or sandbox_missing()
    if reason:
        pytest.skip(reason)
    report = tmp_path / "cases.xml"
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", os.fspath(CASES), "-q", "-rA",
            "-p", "no:cacheprovider", "--sparkdeps-sandbox", f"--junitxml={report}", f"--basetemp={tmp_path / 'base'}",
        ],
        cwd=REPO, env=_child_env(), capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = completed.stdout[-6000:] + completed.stderr[-2000:]
    assert report.is_file(), output
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name", "?")] = kinds[0] if kinds else "passed"
    assert outcomes == dict.fromkeys(EXPECTED, "passed"), output
    assert completed.returncode == 0, output
