"""The notebook's ``%pip`` glue (``_core/databricks.py``), against a stand-in IPython shell.

IPython is not installed here and a Databricks notebook cannot run here: the stand-in
follows IPython's documented behaviour (``get_ipython()`` returns the running shell;
``run_line_magic("pip", line)`` runs pip and, for a shell command, leaves its exit code
in the user namespace's ``_exit_code``). A Databricks notebook is a shell with
``dbutils`` in that namespace. Whether Databricks' own ``%pip`` raises on failure needs
a workspace (docs/delivery.md); the probe after it catches either way.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from sparkdeps._core.databricks import notebook_pip, set_notebook_pip
from sparkdeps._core.errors import DeliveryError, SparkdepsError
from sparkdeps._runtime.environment import require_channel


class StandInShell:
    def __init__(self, user_ns: dict[str, Any], exit_code: int = 0) -> None:
        self.user_ns = user_ns
        self.exit_code = exit_code
        self.lines: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.lines.append((name, line))
        self.user_ns["_exit_code"] = self.exit_code


@pytest.fixture
def ipython(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A stand-in ``IPython`` module whose ``get_ipython()`` returns ``holder["shell"]``."""
    holder: dict[str, Any] = {"shell": None}
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: holder["shell"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)
    set_notebook_pip(None)
    yield holder
    set_notebook_pip(None)


def test_a_databricks_notebook_pip_runs_the_magic(ipython: dict[str, Any]) -> None:
    shell = StandInShell({"dbutils": object()})
    ipython["shell"] = shell
    channel = notebook_pip()
    assert channel is not None and "%pip" in channel.where
    channel.pip("install -r /Volumes/x/run/requirements.txt")
    assert shell.lines == [("pip", "install -r /Volumes/x/run/requirements.txt")]


def test_a_failing_pip_raises(ipython: dict[str, Any]) -> None:
    ipython["shell"] = StandInShell({"dbutils": object()}, exit_code=1)
    channel = notebook_pip()
    assert channel is not None
    with pytest.raises(SparkdepsError, match="exited with code 1"):
        channel.pip("install -r /nowhere/requirements.txt")


@pytest.mark.parametrize(
    "shell",
    [None, StandInShell({})],
    ids=["no-shell", "a-plain-ipython-shell"],
)
def test_no_channel_outside_a_databricks_notebook(
    ipython: dict[str, Any], shell: StandInShell | None
) -> None:
    ipython["shell"] = shell
    assert notebook_pip() is None
    with pytest.raises(DeliveryError, match="needs a Databricks notebook") as caught:
        require_channel()
    assert "withDependencies" in str(caught.value) and "-r <run folder>/requirements.txt" in str(
        caught.value
    )
