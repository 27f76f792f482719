"""``_core/errors``: one root, builtins a caller would catch, and what a failed command keeps."""

from __future__ import annotations

import pytest
from tests.support.errors import made_error

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


# ------------------------------------------------------------------ the structured fix


@pytest.mark.parametrize("name", errors.__all__, ids=str)
def test_every_error_keeps_its_fix_apart_and_shows_it(name: str) -> None:
    error = made_error(name, "  hand in a folder  ")
    assert error.fix == "hand in a folder"  # kept apart, trimmed
    assert str(error).endswith("fix: hand in a folder")  # a traceback still shows it
    assert str(error).count("hand in a folder") == 1
    assert made_error(name, None).fix is None and "fix:" not in str(made_error(name, None))


def test_a_fix_follows_a_one_line_message_and_ends_a_longer_one() -> None:
    one = errors.InputError("the input is empty", fix="hand in a folder")
    assert str(one) == "the input is empty; fix: hand in a folder"
    longer = errors.ResolutionError("missing:\n  sdx", fix="check the spelling")
    assert str(longer) == "missing:\n  sdx\nfix: check the spelling"
    assert errors.InputError("nothing to do", fix="   ").fix is None


def test_a_fix_is_redacted_like_the_message() -> None:
    error = errors.StorageError(
        "cannot reach https://user:hunter2@example.invalid/simple",
        fix="retry with --index-url https://user:hunter2@example.invalid/simple",
    )
    assert "hunter2" not in str(error) and error.fix is not None and "hunter2" not in error.fix


@pytest.mark.parametrize("name", errors.__all__, ids=str)
@pytest.mark.parametrize("way", ["pickle", "copy", "deepcopy"], ids=str)
def test_every_error_survives_pickling_and_copying(name: str, way: str) -> None:
    """Errors cross process boundaries (multiprocessing, pytest-xdist) and get copied;
    a class whose ``__init__`` takes other arguments than its message must survive too."""
    import copy
    import pickle

    error = made_error(name, "hand in a folder")
    again = {
        "pickle": lambda e: pickle.loads(pickle.dumps(e)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }[way](error)
    assert type(again) is type(error)
    assert str(again) == str(error) and again.args == error.args
    assert again.fix == "hand in a folder"
    assert vars(again) == vars(error)
    assert str(again).count("fix: hand in a folder") == 1  # not appended a second time


def test_a_pickled_command_error_keeps_what_it_ran() -> None:
    import pickle

    error = ResolveCommandError(
        "resolving", ["uv", "pip", "compile"], None, "out", hint="see above", fix="retry"
    )
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, ResolutionError)
    assert (again.what, again.command, again.returncode, again.output, again.hint) == (
        "resolving",
        ("uv", "pip", "compile"),
        None,
        "out",
        "see above",
    )
    assert str(again).endswith("\nsee above\nfix: retry")
