"""README's two set-up commands exist, and CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

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
