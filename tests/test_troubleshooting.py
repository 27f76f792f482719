"""The troubleshooting guide's tables (docs/how-to/troubleshooting.md) quote what
sparkdeps really prints.

Each quoted message, cut at its ``...`` placeholders, must appear in the source
(string literals joined across lines), so the table cannot drift from the code.
The behaviour behind each row is tested where it lives (tests/build/test_first_hour.py,
tests/runtime/test_first_hour_runtime.py, tests/runtime/test_session_env.py, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


def _rows() -> list[str]:
    text = (REPO / "docs" / "how-to" / "troubleshooting.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [row.split(" | ")[0].lstrip("| ") for row in rows]
    return [cell for cell in cells if cell != "you see"]  # each table's header row


def _source() -> str:
    text = "\n".join(p.read_text() for p in sorted((REPO / "src" / "sparkdeps").rglob("*.py")))
    # "one " "literal" split over lines reads as one string
    return re.sub(r"\"\s*\n\s*f?\"", "", text)


SOURCE = _source()


def test_table_has_the_common_errors() -> None:
    assert len(_rows()) >= 10


@pytest.mark.parametrize("cell", _rows(), ids=lambda cell: cell[:40])
def test_quoted_message_is_printed_by_the_code(cell: str) -> None:
    quoted = re.findall(r"`([^`]+)`", cell)
    assert quoted, f"no quoted message in {cell!r}"
    message = quoted[0]
    pieces = [piece.strip() for piece in message.split("...")]
    for piece in (p for p in pieces if len(p) >= 5):
        assert piece in SOURCE, f"the guide quotes {piece!r}, which sparkdeps never prints"
