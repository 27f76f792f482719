"""``_core/errors``: one root, builtins a caller would catch, and what a failed command keeps."""

from __future__ import annotations

import pytest

from sparkdeps._core import errors
from sparkdeps._core.errors import (
    BuildCommandError,
    BuildError,
    CommandError,
    ResolutionError,
    ResolveCommandError,
    SparkdepsError,
)


@pytest.mark.parametrize("name", errors.__all__, ids=str)
def test_every_error_has_the_one_root(name: str) -> None:
    assert issubclass(getattr(errors, name), SparkdepsError)


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("InputError", ValueError),
        ("UnsafeArchiveError", ValueError),
        ("TargetError", ValueError),
        ("IncompatibleWheelError", ValueError),
        ("IntegrityError", ValueError),
        ("StorageError", OSError),
        ("WheelhouseNotFoundError", LookupError),
        ("DeliveryError", RuntimeError),
        ("SessionConflictError", RuntimeError),
        ("RuntimeMismatchError", RuntimeError),
        ("VerificationError", ImportError),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_errors_are_the_builtin_a_caller_would_catch(name: str, builtin: type) -> None:
    with pytest.raises(builtin):
        raise getattr(errors, name)("message")


@pytest.mark.parametrize(
    ("kind", "family"),
    [(BuildCommandError, BuildError), (ResolveCommandError, ResolutionError)],
    ids=["build", "resolve"],
)
def test_command_errors_belong_to_their_phase(kind: type[CommandError], family: type) -> None:
    error = kind("building x", ["python", "-m", "build"], 1, "")
    assert isinstance(error, family) and isinstance(error, CommandError)


@pytest.mark.parametrize(
    ("returncode", "output", "hint", "parts", "absent"),
    [
        (3, "line 1\nthe reason\n", None, ["exited with code 3", "the reason"], ["\nNone"]),
        (None, "", None, ["timed out"], ["--- output"]),
        (
            1,
            "   \n",
            "pin an older version",
            ["exited with code 1", "pin an older"],
            ["--- output"],
        ),
    ],
    ids=["output", "timeout", "hint-without-output"],
)
def test_command_error_message(
    returncode: int | None, output: str, hint: str | None, parts: list[str], absent: list[str]
) -> None:
    error = CommandError("resolving", ["uv", "pip", "compile"], returncode, output, hint=hint)
    message = str(error)
    assert message.startswith("resolving failed: uv pip compile ")
    for part in parts:
        assert part in message
    for part in absent:
        assert part not in message
    assert (error.what, error.command, error.returncode) == (
        "resolving",
        ("uv", "pip", "compile"),
        returncode,
    )
