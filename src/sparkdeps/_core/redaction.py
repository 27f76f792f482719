"""The one function that takes credentials out of text sparkdeps shows.

Every :class:`~sparkdeps._core.errors.SparkdepsError` passes its message through
:func:`redact` when it is created, so an error raised anywhere (the Python API
included, not only the command line) never carries a password; logs and
commands go through it too.

What goes: URL user-info (``https://user:password@host``), the values of
secret-named settings (``password=``, ``token=``, ``secret...=``, ``api_key=``), the
signing parameters of presigned URLs (S3 ``X-Amz-Signature``, ``X-Amz-Credential``,
``X-Amz-Security-Token``, ``Signature``, ``AWSAccessKeyId``; GCS ``X-Goog-Signature``,
``X-Goog-Credential``; an Azure SAS ``sig``), ``Authorization`` header values,
Databricks personal access tokens (``dapi...``) and AWS access key ids.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")
"""Greedy up to the last ``@`` before the host: a password may hold ``@`` itself."""
_SECRET_SETTING = re.compile(
    r"(?P<key>\b[A-Za-z0-9-]*?_?(?:password|passwd|pwd|token|secret|api[_-]?key|client[_-]?secret"
    r"|access[_-]?key[_-]?id|session[_-]?token)[A-Za-z0-9_-]*=)"
    r"(?P<value>[^\s,;&\"'@]+)",
    re.IGNORECASE,
)
"""``--config-settings=password=...``, ``token=...``: the value goes, the key stays."""
_SIGNED_QUERY = re.compile(
    r"(?P<key>[?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature"
    r"|AWSAccessKeyId|X-Goog-Signature|X-Goog-Credential|sig|x-amz-security-token)=)"
    r"(?P<value>[^\s&#\"']+)",
    re.IGNORECASE,
)
"""A presigned URL's query string: whoever holds these can read the object."""
_AUTHORIZATION = re.compile(
    r"(?P<key>\bAuthorization[\"']?\s*[:=]\s*[\"']?(?:Bearer\s+|Basic\s+|AWS4-HMAC-SHA256\s+)?)"
    r"(?P<value>[^\s\"',}]+)",
    re.IGNORECASE,
)
_TOKENS = re.compile(r"\b(?:dapi[0-9a-f]{32}(?:-\d+)?|(?:AKIA|ASIA)[0-9A-Z]{16})\b")
"""Databricks personal access tokens; AWS access key ids (long-lived and session)."""


def redact(text: str) -> str:
    """``text`` with every credential the module's notes list replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    text = _SECRET_SETTING.sub(lambda m: f"{m.group('key')}***", text)
    text = _SIGNED_QUERY.sub(lambda m: f"{m.group('key')}***", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group('key')}***", text)
    return _TOKENS.sub("***", text)
