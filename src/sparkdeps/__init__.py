"""sparkdeps: build a wheelhouse for a Spark cluster and load it on the driver and executors.

Public API::

    result = sparkdeps.build("requirements.txt", dest="/Volumes/main/default/deps")
    sparkdeps.load(result.uri, spark=spark)     # in the job
    sparkdeps.verify(spark)                     # imports on every executor
    sparkdeps.cleanup(result.run_uri)           # last task
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core.errors import (
    BuildError,
    CommandError,
    DeliveryError,
    IncompatibleWheelError,
    InputError,
    IntegrityError,
    LockError,
    ResolutionError,
    RuntimeConflictError,
    RuntimeMismatchError,
    SessionConflictError,
    SparkdepsError,
    StorageError,
    TargetError,
    UnsafeArchiveError,
    VerificationError,
    WheelhouseNotFoundError,
)
from ._core.results import BuildResult, CleanupResult, LoadResult, ModuleImport, VerifyResult
from ._version import __version__

if TYPE_CHECKING:
    from ._build.preflight import CheckResult, check
    from ._build.publish import build
    from ._core.manifest import Manifest, WheelInfo
    from ._core.options import BuildOptions
    from ._core.target import PROFILES, Target
    from ._jobs.doctor import DoctorReport, doctor
    from ._jobs.graph import UserTask, three_task_job
    from ._runtime.cleanup import cleanup, cleanup_older_than
    from ._runtime.freeze import runtime_freeze
    from ._runtime.inspect import inspect, requirement_lines
    from ._runtime.load import load, wheelhouse_arg
    from ._runtime.session_conf import session_conf
    from ._runtime.verify import verify

# The functions load lazily: a driver calling ``load`` never imports the build machinery.
_LAZY = {
    # packaging's requirement and tag machinery stays off a warm load's import path
    "Manifest": "._core.manifest",
    "WheelInfo": "._core.manifest",
    "PROFILES": "._core.target",
    "Target": "._core.target",
    "BuildOptions": "._core.options",
    "build": "._build.publish",
    "check": "._build.preflight",
    "CheckResult": "._build.preflight",
    "runtime_freeze": "._runtime.freeze",
    "cleanup": "._runtime.cleanup",
    "cleanup_older_than": "._runtime.cleanup",
    "inspect": "._runtime.inspect",
    "requirement_lines": "._runtime.inspect",
    "load": "._runtime.load",
    "wheelhouse_arg": "._runtime.load",
    "session_conf": "._runtime.session_conf",
    "verify": "._runtime.verify",
    "three_task_job": "._jobs.graph",
    "doctor": "._jobs.doctor",
    "DoctorReport": "._jobs.doctor",
    "UserTask": "._jobs.graph",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sparkdeps' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "PROFILES",
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "CheckResult",
    "CleanupResult",
    "CommandError",
    "DeliveryError",
    "DoctorReport",
    "IncompatibleWheelError",
    "InputError",
    "IntegrityError",
    "LoadResult",
    "LockError",
    "Manifest",
    "ModuleImport",
    "ResolutionError",
    "RuntimeConflictError",
    "RuntimeMismatchError",
    "SessionConflictError",
    "SparkdepsError",
    "StorageError",
    "Target",
    "TargetError",
    "UnsafeArchiveError",
    "UserTask",
    "VerificationError",
    "VerifyResult",
    "WheelInfo",
    "WheelhouseNotFoundError",
    "__version__",
    "build",
    "check",
    "cleanup",
    "cleanup_older_than",
    "doctor",
    "inspect",
    "load",
    "requirement_lines",
    "runtime_freeze",
    "session_conf",
    "three_task_job",
    "verify",
    "wheelhouse_arg",
]
