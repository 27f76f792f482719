"""Poetry's version constraints (``^3.10``, ``~2.1``, ``>=3.8,<4.0 || >=4.1``) as a test.

Poetry writes these in ``poetry.lock`` (``python-versions``) and in ``pyproject.toml``
(``[tool.poetry.dependencies]``); PEP 440 has no ``^``, ``~`` or ``||``, so each is
turned into PEP 440 specifiers before asking whether a version is allowed.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .._core.errors import InputError

__all__ = ["poetry_allows", "poetry_specifier"]

_TOKEN = re.compile(r"(\^|~=|~|==|!=|<=|>=|<|>|=)?\s*([0-9][0-9A-Za-z.*+-]*)")


def _bump(parts: list[int], index: int) -> str:
    head = [*parts[:index], parts[index] + 1]
    return ".".join(str(p) for p in head)


def _caret(version: str) -> str:
    parts = [int(p) for p in version.split(".") if p.isdigit()] or [0]
    first = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
    return f">={version},<{_bump(parts, first)}"


def _tilde(version: str) -> str:
    parts = [int(p) for p in version.split(".") if p.isdigit()] or [0]
    index = 0 if len(parts) == 1 else 1
    return f">={version},<{_bump(parts, index)}"


def poetry_specifier(text: str) -> list[SpecifierSet]:
    """One SpecifierSet per ``||`` alternative (empty list: anything goes)."""
    text = text.strip()
    if text in ("", "*"):
        return []
    alternatives: list[SpecifierSet] = []
    for alternative in text.split("||"):
        specs: list[str] = []
        for operator, version in _TOKEN.findall(alternative):
            if operator == "^":
                specs.append(_caret(version))
            elif operator == "~":
                specs.append(_tilde(version))
            elif operator in ("", "="):
                specs.append(f"=={version}")
            else:
                specs.append(f"{operator}{version}")
        try:
            alternatives.append(SpecifierSet(",".join(specs)))
        except InvalidSpecifier as exc:
            raise InputError(
                f"cannot read the Poetry constraint {text!r} ({exc})", fix="regenerate the lock"
            ) from exc
    return alternatives


def poetry_allows(constraint: str, version: str) -> bool:
    """True when ``version`` satisfies the Poetry ``constraint``."""
    alternatives = poetry_specifier(constraint)
    if not alternatives:
        return True
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return any(spec.contains(parsed, prereleases=True) for spec in alternatives)
