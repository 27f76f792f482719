"""``sparkdeps doctor`` on the shared sessions: local-cluster (classic) and Spark Connect.

Real parts throughout: the doctor builds its wheelhouses with the real pipeline and no
index (a generated pure wheel and a wheel compiled here with the machine's C compiler),
loads them through each route into the shared session, whose executors run a clean
interpreter that has none of the doctor's modules, and imports them there.
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import pytest

import sparkdeps
from sparkdeps._cli import main
from sparkdeps._jobs.doctor import ROUTES, DoctorReport, doctor

pytestmark = [pytest.mark.spark, pytest.mark.slow]

HAS_COMPILER = shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is not None


@pytest.fixture(scope="module")
def reports() -> dict[str, DoctorReport]:
    return {}


def test_doctor_reports_every_route(
    sparkdeps_session: Any,
    sparkdeps_session_kind: str,
    tmp_path: Path,
    reports: dict[str, DoctorReport],
) -> None:
    report = doctor(sparkdeps_session, cache_dir=tmp_path / "cache")
    reports[sparkdeps_session_kind] = report
    checks = {check.route: check for check in report.checks}
    assert tuple(checks) == ROUTES
    assert report.session == sparkdeps_session_kind
    assert report.compiled == ("compiled" if HAS_COMPILER else report.compiled)

    own, other = (
        ("classic", "connect") if sparkdeps_session_kind == "classic" else ("connect", "classic")
    )
    assert checks[other].status == "n/a"
    for route in ("auto", own, "shared"):
        check = checks[route]
        assert check.status == "ok", (route, check.failure)
        assert check.driver == "ok"
        done, total = check.executors.split("/")
        assert done == total and int(total) >= 1, check.executors
        assert len(check.files) == (2 if HAS_COMPILER else 1)
        # each route's modules are its own, installed by this load on the driver (shared:
        # once beside the wheelhouse, for the driver and every executor)
        home = "/.sparkdeps/installs/" if route == "shared" else str(tmp_path / "cache")
        for module, file in check.files.items():
            assert f"_{route}_" in module
            assert home in file, file
    assert checks["auto"].delivery == own
    assert set(report.working) >= {"auto", own, "shared"}

    table = report.table()
    print(table)  # the CLI's view, in the test log
    assert table.splitlines()[0].startswith(f"sparkdeps doctor: {sparkdeps_session_kind} session")
    for route in ROUTES:
        assert any(line.startswith(route) for line in table.splitlines()[2:]), table
    payload = json.loads(json.dumps(report.to_dict()))
    assert [row["route"] for row in payload["checks"]] == list(ROUTES)
    assert "auto" in payload["working"]


def test_doctor_cli_json_on_the_running_session(
    sparkdeps_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line uses the running session (as on a cluster's driver)."""
    code = main(["doctor", "--json", "--route", "auto", "--no-compiled"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0, payload
    assert [row["route"] for row in payload["checks"]] == ["auto"]
    assert payload["checks"][0]["status"] == "ok"
    assert payload["compiled"] == "not asked for"


def test_doctor_is_public_and_refuses_an_unknown_route(sparkdeps_session: Any) -> None:
    assert sparkdeps.doctor is doctor
    with pytest.raises(sparkdeps.InputError, match="unknown route"):
        doctor(sparkdeps_session, routes=["teleport"])
