"""README's two set-up commands exist, and CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).parent.parent


def _commands() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    found = dict(
        re.findall(
            r"<!-- (main-job|test)-command -->\s*```(?:sh|bash|console)?\n(.+?)\n```", text, re.S
        )
    )
    return {key: value.strip() for key, value in found.items()}


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _commands()
    assert set(commands) == {"main-job", "test"}
    for command in commands.values():
        assert "\n" not in command, "each set-up command is one line"
        assert "pip install" in command, "each command installs what it needs"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert _commands()["test"] in ci.splitlines()


def test_readme_is_short_and_its_links_resolve() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150, "README.md: at most 150 lines; move the rest to docs/"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "README links to the documentation"
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, missing


def test_constraints_pin_one_pyspark_for_every_supported_python() -> None:
    """README's commands run on every Python sparkdeps supports (issue 21: pyspark 4.3.0,
    the pin for 3.11+, requires 3.11, and the commands failed on 3.10)."""
    declared = re.search(
        r'^requires-python = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M
    )
    assert declared is not None
    supported = SpecifierSet(declared.group(1))
    lines = (REPO / "ci" / "constraints.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    spark = [pin for pin in pins if pin.name == "pyspark"]
    for minor in range(8, 20):
        python = f"3.{minor}"
        if python not in supported:
            continue
        chosen = [
            str(pin.specifier)
            for pin in spark
            if pin.marker is None or pin.marker.evaluate({"python_version": python})
        ]
        assert len(chosen) == 1, f"Python {python}: pyspark pins {chosen}"
    assert any(
        pin.marker is not None
        and pin.marker.evaluate({"python_version": "3.10"})
        and "4.3" not in str(pin.specifier)
        for pin in spark
    ), "3.10 gets a pyspark that supports it"
