"""Unit conversions, handed to sparkdeps as an already built wheel."""

from __future__ import annotations

_TO_METRES = {"m": 1.0, "km": 1000.0, "cm": 0.01, "mi": 1609.344, "ft": 0.3048, "in": 0.0254}


def convert(value: float, source: str, target: str) -> float:
    """Convert a length between units, rounded to 6 decimals."""
    return round(value * _TO_METRES[source] / _TO_METRES[target], 6)


def label(value: float, unit: str) -> str:
    return f"{value:g} {unit}"
