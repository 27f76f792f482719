"""One environment per Spark session: merge what agrees, refuse what changes a version.

On the shared ``local-cluster[2,1,1024]`` session (executors on a clean venv,
``spark.python.worker.reuse=true`` as on Databricks): wheelhouses made by the
tests with unique package names (``sdsess_*``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheelhouses import make_wheelhouse
from tests.support.wheels import make_wheel

from sparkdeps._core.errors import SessionConflictError
from sparkdeps._core.results import ModuleImport
from sparkdeps._runtime.session_env import (
    Package,
    check_second_load,
    expected_archives,
    mark_stale,
    record_load,
)
from sparkdeps._runtime.session_state import STATE


def _house(root: Path, packages: dict[str, str]) -> Path:
    wheels = [
        make_wheel(root / "wheels" / f"{name}-{version}", name, version,
                   {f"{name.replace('-', '_')}/__init__.py": f"VERSION = '{version}'\n"})
        for name, version in packages.items()
    ]  # fmt: skip
    return make_wheelhouse(root / "runs", wheels)


# ------------------------------------------------------------ the rules, no Spark


def _pkgs(**versions: str) -> dict[str, Package]:
    return {n: Package(n, v, (n.replace("-", "_"),)) for n, v in versions.items()}


def test_rules_merge_refuse_replace() -> None:
    key = "classic:test-rules"
    STATE.forget(key)
    try:
        assert check_second_load(key, _pkgs(a="1"), "u1", replace=False, spark=None,
                                 kind="classic") == []  # fmt: skip
        record_load(key, _pkgs(a="1"), "u1", "sparkdeps_" + "1" * 16)
        # agreeing (same version) and new packages: merged
        assert check_second_load(key, _pkgs(a="1", b="1"), "u2", replace=False, spark=None,
                                 kind="classic") == ["a"]  # fmt: skip
        record_load(key, _pkgs(a="1", b="1"), "u2", "sparkdeps_" + "2" * 16)
        assert expected_archives(key, ["a", "b"]) == {
            "a": {"sparkdeps_" + "1" * 16, "sparkdeps_" + "2" * 16},
            "b": {"sparkdeps_" + "2" * 16},
        }
        # a changed version: refused, naming the package, both versions and both sources
        with pytest.raises(SessionConflictError) as caught:
            check_second_load(key, _pkgs(a="2"), "u3", replace=False, spark=None, kind="classic")
        message = str(caught.value)
        assert "a: 1 delivered by u1; 2 in u3" in message and "fix:" in message
        # replace=True without a readable worker.reuse=false: still refused, saying why
        with pytest.raises(SessionConflictError, match=r"spark\.python\.worker\.reuse=false"):
            check_second_load(key, _pkgs(a="2"), "u3", replace=True, spark=None, kind="classic")
        with pytest.raises(SessionConflictError, match="classic session"):
            check_second_load(key, _pkgs(a="2"), "u3", replace=True, spark=None, kind="connect")
        # after a replace, only the new archive is right for the module
        record_load(key, _pkgs(a="2"), "u3", "sparkdeps_" + "3" * 16)
        assert expected_archives(key, ["a"]) == {"a": {"sparkdeps_" + "3" * 16}}
    finally:
        STATE.forget(key)


def test_verify_marks_imports_from_an_earlier_wheelhouse() -> None:
    old, new = "sparkdeps_" + "a" * 16, "sparkdeps_" + "b" * 16
    imports = [
        ModuleImport("m", "e1", True, file=f"/w/1/{new}/m/__init__.py"),
        ModuleImport("m", "e2", True, file=f"/w/2/{old}/m/__init__.py"),
        ModuleImport("m", "e3", True, file="/usr/lib/python3/m/__init__.py"),  # the runtime's
        ModuleImport("other", "e2", True, file=f"/w/2/{old}/other.py"),  # not expected: as is
    ]
    marked = mark_stale(imports, {"m": frozenset({new})})
    assert [item.ok for item in marked] == [True, False, True, True]
    assert marked[1].error is not None and "an earlier wheelhouse" in marked[1].error


# ------------------------------------------------------------ on a real session


@pytest.mark.spark
@pytest.mark.slow
def test_second_load_into_a_session(tmp_path: Path, sparkdeps_spark_manager: Any) -> None:
    from sparkdeps._runtime.load import load
    from sparkdeps._runtime.pending import finish_driver_install
    from sparkdeps._runtime.verify import verify

    spark = sparkdeps_spark_manager.classic()
    cache = tmp_path / "cache"
    first = _house(tmp_path / "one", {"sdsess-a": "1.0"})
    agreeing = _house(tmp_path / "two", {"sdsess-a": "1.0", "sdsess-b": "1.0"})
    changing = _house(tmp_path / "three", {"sdsess-a": "2.0"})
    load(first, spark=spark, cache_dir=cache)
    merged = load(agreeing, spark=spark, cache_dir=cache)
    assert merged.delivery == "classic"
    result = verify(spark, ["sdsess_a", "sdsess_b"])
    assert result.ok and len(result.executors) == 2

    finish_driver_install()  # the agreeing load's install, finishing behind it: now whole
    path_before = list(sys.path)
    for replace in (False, True):  # the shared session reuses workers: replace is refused too
        with pytest.raises(SessionConflictError) as caught:
            load(changing, spark=spark, cache_dir=cache, replace=replace)
        assert f"sdsess-a: 1.0 delivered by {first}; 2.0 in {changing}" in str(caught.value)
    assert sys.path == path_before  # the refused load changed nothing on the driver
    assert verify(spark, ["sdsess_a"]).ok
