from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from dateutil import parser


def process_data(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Sum ``amount`` per ``YYYY-MM`` month; dates may be in any format dateutil reads."""
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        month = parser.parse(str(row["date"])).strftime("%Y-%m")
        totals[month] += float(row["amount"])
    return dict(sorted(totals.items()))
