"""The one function that takes credentials out of text sparkdeps shows.

Every :class:`~sparkdeps._core.errors.SparkdepsError` passes its message through
:func:`redact` when it is created, so an error raised anywhere (the Python API
included, not only the command line) never carries a password; logs and
commands go through it too.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")
"""Greedy up to the last ``@`` before the host: a password may hold ``@`` itself."""
_SECRET_SETTING = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret|api[_-]?key)[A-Za-z0-9_-]*=)"
    r"(?P<value>[^\s,;&\"'@]+)",
    re.IGNORECASE,
)
"""``--config-settings=password=...``, ``token=...``: the value goes, the key stays."""


def redact(text: str) -> str:
    """``text`` with URL user-info and the values of secret-named settings replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _SECRET_SETTING.sub(lambda m: f"{m.group('key')}***", text)
