"""``_core/redaction``: credentials never survive into text sparkdeps shows, and the
errors redact their own messages."""

from __future__ import annotations

import pytest

from sparkdeps._core.errors import CommandError, InputError
from sparkdeps._core.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:hunter2@pypi.example/simple", "https://***@pypi.example/simple"),
        ("https://token@host/x and http://a:b@c/d", "https://***@host/x and http://***@c/d"),
        ("https://u:p@ss@host/simple", "https://***@host/simple"),  # '@' in the password
        ("git+ssh://git@github.com/o/r", "git+ssh://***@github.com/o/r"),
        ("--config-settings=password=s3cret", "--config-settings=password=***"),
        ("TOKEN=abc API_KEY=def api-key=ghi", "TOKEN=*** API_KEY=*** api-key=***"),
        ("secret_value=x;next", "secret_value=***;next"),
        ("pwd=x&user=y", "pwd=***&user=y"),
        ("https://pypi.org/simple", "https://pypi.org/simple"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
        ("tokens are fine without a value", "tokens are fine without a value"),
    ],
    ids=[
        "user-password",
        "two-urls",
        "at-in-password",
        "other-scheme",
        "config-setting",
        "key-names",
        "stops-at-semicolon",
        "stops-at-ampersand",
        "no-credentials",
        "email-is-not-a-url",
        "no-setting",
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_is_idempotent() -> None:
    once = redact("https://u:p@h/simple token=abc")
    assert redact(once) == once


def test_errors_redact_their_message_when_created() -> None:
    error = InputError("cannot reach https://u:hunter2@idx/simple")
    assert "hunter2" not in str(error) and "***@idx" in str(error)


def test_command_error_redacts_command_and_output() -> None:
    error = CommandError(
        "resolving",
        ["uv", "pip", "compile", "--index-url", "https://u:hunter2@idx/simple"],
        2,
        "error: token=hunter2 rejected\n",
        hint="check the index",
    )
    assert all("hunter2" not in part for part in error.command)
    assert "hunter2" not in error.output and "hunter2" not in str(error)
    assert error.returncode == 2
    assert str(error).endswith("check the index")
