"""The team's pricing rules: vendored code the cluster does not have."""

from __future__ import annotations

VAT = {"DE": 0.19, "FR": 0.20, "NL": 0.21}


def gross(net: float, country: str) -> float:
    """Net price plus the country's VAT, rounded to cents."""
    return round(net * (1 + VAT[country]), 2)
