"""Concurrency: 16 build -> load -> verify -> cleanup pipelines at once, and 8 processes
loading one wheelhouse on one node at once.

The 16 pipelines cannot be 16 Spark applications on this 2-core machine, so each uses
``load`` without a Spark session (driver-only) and checks its imports in a fresh
interpreter whose ``sys.path`` starts with its install folder; the executor side is
covered by one extra pipeline on a real local-cluster
(``test_faults.py::test_executor_killed_after_load_is_replaced_and_imports``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hardening.corpus import Resources
from tests.hardening.runs import loaders, pipelines, same_run_id, shared_wheelhouse

pytestmark = pytest.mark.network  # find-links only: no HTTP, but uv and pip run


def test_sixteen_pipelines_at_once(tmp_path: Path, hardening_resources: Resources) -> None:
    outcome = pipelines(tmp_path, hardening_resources, count=16)
    assert outcome.ok, "\n".join(outcome.failures)
    assert outcome.succeeded == 16
    # every run had its own run folder, wheelhouse and install folder
    assert len({d["run_uri"] for d in outcome.details}) == 16
    assert len({d["folder"] for d in outcome.details}) == 16
    assert not any(d["reused"] for d in outcome.details)


def test_eight_loaders_of_one_wheelhouse_install_once(
    tmp_path: Path, hardening_resources: Resources
) -> None:
    wheelhouse = shared_wheelhouse(tmp_path, hardening_resources)
    outcome = loaders(tmp_path / "node", wheelhouse, ["sdpipe_shared", "sdhard_dep"], count=8)
    assert outcome.ok, "\n".join(outcome.failures)
    assert sorted(bool(d["reused"]) for d in outcome.details) == [False] + [True] * 7
    folder = outcome.details[0]["folder"]
    assert all(path.startswith(folder) for d in outcome.details for path in d["files"].values())


def test_builds_racing_for_one_run_id_have_one_winner(tmp_path: Path) -> None:
    """Issue 10, section 4: the run.json claim is an exclusive create, not os.replace."""
    outcome = same_run_id(tmp_path, count=4)
    assert outcome.ok, "\n".join(outcome.failures)
