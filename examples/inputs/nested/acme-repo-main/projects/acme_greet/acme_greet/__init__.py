"""A project found in a subfolder of a wrapped repository archive."""

from __future__ import annotations


def greet(name: str, *, excited: bool = False) -> str:
    return f"Hello, {name.strip().title()}{'!' if excited else '.'}"
