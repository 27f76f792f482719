"""`sparkdeps check`'s table: every column starts where its header does (issue 21: with
short package names the header ran together as ``packageversion``)."""

from __future__ import annotations

import pytest

from sparkdeps._build.preflight import CheckResult, format_check
from sparkdeps._build.runtime_plan import Placement
from sparkdeps._core.target import choose_target

SHORT = (Placement("six", "1.16.0", "runtime", "1.16.0"), Placement("a", "1", "new"))
OVERRIDE = (
    Placement("numpy", "2.2.6", "shadows", "1.23.5", protected=True),
    Placement("sdtest-a-rather-long-name", "10.20.30.post4", "new"),
)


@pytest.mark.parametrize("placements", [SHORT, OVERRIDE], ids=["short-names", "override"])
def test_columns_line_up_with_their_headers(placements: tuple[Placement, ...]) -> None:
    result = CheckResult(target=choose_target("dbr-14.3"), placements=placements)
    lines = format_check(result)
    header = next(line for line in lines if line.startswith("package"))
    rows = lines[lines.index(header) + 1 : lines.index(header) + 1 + len(placements)]
    starts = [header.index(title) for title in ("version", "status", "runtime has")]
    assert header[starts[0] - 1] == " " and header[starts[1] - 1] == " ", header
    for row, item in zip(rows, placements, strict=True):
        assert row.startswith(item.name + " ")
        assert row[starts[0] :].startswith(item.version + " "), (header, row)
        assert row[starts[1] :].startswith(("ship", "runtime")), (header, row)
        assert row[starts[2] :] == (item.runtime_version or "-"), (header, row)
