"""Business days with dateutil's rrule: a setup.cfg project in a nested archive."""

from __future__ import annotations

from dateutil import parser, rrule


def add_business_days(start: str, days: int) -> str:
    """The date ``days`` business days (Mon-Fri) after ``start``, as ISO text."""
    first = parser.isoparse(start)
    rule = rrule.rrule(rrule.DAILY, dtstart=first, byweekday=range(5), count=days + 1)
    dates = [d for d in rule if d > first] or list(rule)
    return dates[days - 1].date().isoformat() if days > 0 else first.date().isoformat()
