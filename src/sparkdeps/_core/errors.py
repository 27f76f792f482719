"""The one error root and its family.

Every error sparkdeps raises derives from :class:`SparkdepsError`; most also
derive from the builtin a caller would naturally catch (``ValueError`` for bad
input, ``OSError`` for storage, ``LookupError`` for a path that cannot be
found), so ``except ValueError`` keeps working for people who do not know us.

An error that knows what to do about it carries that as ``fix`` (a short sentence,
or None), kept apart from the message: the command line's ``--json`` reports it as a
field, and ``str(error)`` still ends with it (``; fix: ...``, or ``fix: ...`` on a
line of its own after a message of several lines), so a traceback shows it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .redaction import redact

__all__ = [
    "BuildCommandError",
    "BuildError",
    "CommandError",
    "DeliveryError",
    "IncompatibleWheelError",
    "InputError",
    "IntegrityError",
    "LockError",
    "ResolutionError",
    "ResolveCommandError",
    "RuntimeConflictError",
    "RuntimeMismatchError",
    "SessionConflictError",
    "SparkdepsError",
    "StorageError",
    "TargetError",
    "UnsafeArchiveError",
    "VerificationError",
    "WheelhouseNotFoundError",
]


class SparkdepsError(Exception):
    """Root of every error raised by sparkdeps.

    Its message is redacted when it is created (``_core/redaction.py``): no
    password in a URL or a secret-named setting survives into ``str(error)``.
    ``fix`` is what to do about it, redacted too; it is appended to the message
    (the first argument) and kept as the attribute.
    """

    fix: str | None = None
    """What to do about it (a short sentence), or None; ``str(error)`` ends with it."""

    def __init__(self, *args: object, fix: str | None = None) -> None:
        self.fix = redact(fix.strip()) if fix and fix.strip() else None
        shown = [redact(arg) if isinstance(arg, str) else arg for arg in args]
        if self.fix is not None and shown and isinstance(shown[0], str):
            shown[0] = _with_fix(shown[0], self.fix)
        super().__init__(*shown)

    def __reduce__(self) -> tuple[Any, ...]:
        # The default (``type(self)(*self.args)``, then ``__dict__``) calls ``__init__``
        # with the finished message, which a subclass taking other arguments (a
        # CommandError) refuses; so the copy is made without ``__init__``.
        return (_restored, (type(self), self.args), self.__dict__)


def _with_fix(message: str, fix: str) -> str:
    """``message`` as a person reads it with its ``fix``: after ``; fix:`` on the same
    line, or on a line of its own when the message has several."""
    return f"{message}\nfix: {fix}" if "\n" in message else f"{message}; fix: {fix}"


def _restored(kind: type[SparkdepsError], args: tuple[object, ...]) -> SparkdepsError:
    """An unpickled (or copied) error: its class and arguments; ``__dict__`` follows."""
    error = kind.__new__(kind, *args)
    error.args = args
    return error


class InputError(SparkdepsError, ValueError):
    """The input handed to ``build`` is empty, unknown, or malformed."""


class UnsafeArchiveError(InputError):
    """An archive entry would land outside the work folder, or the archive is a bomb."""


class TargetError(SparkdepsError, ValueError):
    """An unknown runtime profile, Python version or platform."""


class ResolutionError(SparkdepsError):
    """Requirements cannot be satisfied for the target, conflict, or leave the closure open."""


class LockError(ResolutionError):
    """A lock file does not fit the target, or does not cover what the input needs."""


class RuntimeConflictError(ResolutionError):
    """The input needs another version of a package the target runtime protects.

    ``conflicts`` holds one :class:`sparkdeps._build.runtime_plan.Conflict` per
    package (name, runtime version, requirement chains, profiles that would fit).
    """

    def __init__(
        self, message: str, conflicts: Sequence[object] = (), *, fix: str | None = None
    ) -> None:
        super().__init__(message, fix=fix)
        self.conflicts = tuple(conflicts)


class RuntimeMismatchError(SparkdepsError, RuntimeError):
    """The runtime a wheelhouse lands in lacks (or changed) packages the wheelhouse relies on."""


class BuildError(SparkdepsError):
    """A project or sdist could not be turned into a wheel for the target."""


class IncompatibleWheelError(SparkdepsError, ValueError):
    """A wheel's tags do not fit the target or the running interpreter."""


class IntegrityError(SparkdepsError, ValueError):
    """A wheelhouse or wheel does not match its manifest, or the manifest is malformed."""


class StorageError(SparkdepsError, OSError):
    """Reading, publishing or removing on a storage location failed."""


class WheelhouseNotFoundError(SparkdepsError, LookupError):
    """No wheelhouse path was given and none could be found."""


class DeliveryError(SparkdepsError, RuntimeError):
    """The packages could not be shipped to the executors, or the probe showed that the
    executors cannot import them.

    ``probe`` is the probe's result (``sparkdeps._runtime.probe.ProbeResult``) when one
    ran; ``invisible`` is True when the shipped files were not there for the workers
    (the case ``delivery="environment"`` is for).
    """

    def __init__(
        self,
        *args: object,
        probe: object = None,
        invisible: bool = False,
        fix: str | None = None,
    ) -> None:
        super().__init__(*args, fix=fix)
        self.probe = probe
        self.invisible = invisible


class SessionConflictError(DeliveryError):
    """A second wheelhouse would change a package version this session already delivered."""


class VerificationError(SparkdepsError, ImportError):
    """One or more modules failed to import on the executors."""


class CommandError(SparkdepsError):
    """A subprocess (pip, uv, a build backend) failed.

    Keeps the command (credentials redacted), its exit code and its output
    (trimmed to the last lines, which is where tools put the reason). ``hint`` is a
    note shown after the output (where to look); ``fix`` what to do.
    """

    def __init__(
        self,
        what: str,
        command: Sequence[str],
        returncode: int | None,
        output: str,
        *,
        hint: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.command = tuple(redact(part) for part in command)
        self.returncode = returncode
        self.output = redact(output)
        self.hint = hint
        status = "timed out" if returncode is None else f"exited with code {returncode}"
        message = f"{what} failed: {' '.join(self.command)} {status}"
        if self.output.strip():
            message += "\n--- output (last lines) ---\n" + self.output.rstrip()
        if hint:
            message += "\n" + hint
        super().__init__(message, fix=fix)


class BuildCommandError(CommandError, BuildError):
    """A build backend failed while building a project or sdist."""


class ResolveCommandError(CommandError, ResolutionError):
    """The resolver or the downloader failed."""
