"""What a failed delivery probe says (no Spark: the probe's reports are built here).

The probe itself runs on real Spark in test_spark_connect.py, test_spark_classic.py
and, where the workers cannot see the artifacts, tests/apps/sandbox_cases.py.
"""

from __future__ import annotations

import sys

import pytest

from sparkdeps._core.errors import DeliveryError
from sparkdeps._core.results import ModuleImport
from sparkdeps._runtime.probe import ProbeResult, WorkerReport
from sparkdeps._runtime.routes import _failure

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _result(error: str, *, version: str = HERE, missing: tuple[str, ...] = ()) -> ProbeResult:
    worker = WorkerReport(
        executor="host:/work/session",
        python="/usr/bin/python3",
        version=version,
        prefix="/usr",
        cwd="/work/session",
        sys_path=("/work/session", "/work/session/stubs.zip"),
        missing=missing,
        imports=(ModuleImport("pkg", "host:/work/session", ok=False, error=error),),
    )
    return ProbeResult(("pkg",), ("sparkdeps_0123",), (worker,), 0.1)


@pytest.mark.parametrize(
    ("error", "missing", "invisible"),
    [
        ("ModuleNotFoundError: No module named 'pkg'", ("/work/session/stubs.zip",), True),
        ("ModuleNotFoundError: No module named 'pkg'", (), True),
        ("ImportError: GLIBC_2.38 not found", (), False),
    ],
    ids=["missing-folder", "not-found", "platform"],
)
def test_a_failed_probe_says_what_the_workers_saw(
    error: str, missing: tuple[str, ...], invisible: bool
) -> None:
    failure = _failure("connect", _result(error, missing=missing))
    text = str(failure)
    assert isinstance(failure, DeliveryError) and failure.invisible is invisible
    assert f"Python {HERE} (/usr/bin/python3)" in text and "/work/session/stubs.zip" in text
    assert error in text
    if missing:
        assert "not there on the worker: /work/session/stubs.zip" in text
    if invisible:
        assert "delivery='environment'" in text and "%pip install -r" in text
    else:
        assert "--target dbr-X.Y" in text  # the platform hint, not the environment route


def test_workers_on_another_python_are_named() -> None:
    text = str(_failure("connect", _result("No module named 'pkg'", version="3.9")))
    assert f"the workers run Python 3.9 and this driver {HERE}" in text


def test_the_environment_route_failing_does_not_point_at_itself() -> None:
    failure = _failure("environment", _result("ModuleNotFoundError: No module named 'pkg'"))
    assert not failure.invisible


def test_a_probe_job_that_could_not_run() -> None:
    result = ProbeResult(("pkg",), (), (), 0.2, error="Python worker exited unexpectedly")
    assert not result.ok
    assert "the probe job failed: Python worker exited unexpectedly" in str(
        _failure("connect", result)
    )
