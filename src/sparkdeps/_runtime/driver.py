"""The driver's side of ``load()``: check the wheels, install them, put them on ``sys.path``.

Cold (a manifest was read: the wheelhouse is new to this node cache): every wheel's
tags, sha256 and contents are checked, and the runtime it was built for, before
:func:`.install.install` writes anything. Warm (the install is complete and its ref
file current: no manifest read): the install marker carries what a check needs (the
interpreter that checked the tags, the runtime section), so only a different
interpreter checks the tags again. ``mode="pip"`` pip-installs into this
environment instead (:mod:`.pipmode`). A Spark Connect client installs only the
wheels that fit it (docs/delivery.md).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal, TypeVar

from .._core.results import Delivery
from .._core.timing import timed
from .fetch import Prepared, installed_marker
from .install import (
    InstallResult,
    activate,
    bytecode_marker,
    install,
    interpreter_key,
    planned_install,
)
from .preloaded import explain_preloaded
from .runtime_mismatch import check_runtime
from .session_state import SessionKind

__all__ = ["driver_install", "install_beside", "installs_beside_shipping"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


def driver_install(
    prepared: Prepared,
    node_cache: Path,
    mode: Literal["cache", "pip"],
    kind: Delivery,
    timings: dict[str, float],
    *,
    strict: bool | None = None,
    client: bool = False,
) -> tuple[Path, InstallResult | None]:
    """Check, then install into the node cache and/or with pip; activate the cache folder.

    ``client``: this driver is a Spark Connect client, which installs only the wheels
    that fit it (the cluster gets them all, docs/delivery.md)."""
    timings.update(prepared.timings)
    leave_out = _check_fresh(prepared, timings, strict=strict, client=client)
    installed: InstallResult | None = None
    if mode == "cache" or kind != "driver-only":
        # The cache folder is the driver's install (mode="cache") and what executors get.
        # a shared folder is imported by every executor: it gets the shipped bytecode,
        # while a local install leaves compiling to the imports (fewer files to create)
        installed = install(prepared, node_cache, leave_out=leave_out, bytecode=kind == "shared")
        timings.update(
            {name: value for name, value in installed.timings.items() if name not in timings}
        )
        if (installed.reused and installed.checked_for != interpreter_key()) or (
            installed.left_out and not client
        ):
            from .integrity import check_interpreter_tags  # noqa: PLC0415

            check_interpreter_tags(
                prepared.uri, installed.wheels + (() if client else installed.left_out),
                installed.target,
            )  # fmt: skip
        if prepared.manifest is None:  # the warm path: the install marker has the section
            with timed(timings, "runtime_check"):
                check_runtime(installed.runtime, strict=strict)
        if kind == "shared":  # in place and checked: executors may import it meanwhile
            _compile_shared(installed.folder, node_cache)
    if mode == "pip":
        if prepared.manifest is not None and prepared.manifest.wheels:  # else nothing to do
            from .pipmode import pip_install  # noqa: PLC0415

            with timed(timings, "pip"):
                pip_install(prepared, leave_out=leave_out)
            importlib.invalidate_caches()
        return Path(sysconfig.get_paths()["purelib"]), installed
    assert installed is not None
    activate(installed.folder)
    explain_preloaded(installed.top_level, installed.folder)
    return installed.folder, installed


def _compile_shared(folder: Path, install_cache: Path) -> None:
    """A shared install is compiled once, in the background, after it is in place; a warm
    load of a compiled one starts nothing and imports nothing more (:mod:`.bytecode`)."""
    marker = bytecode_marker(folder)
    if marker is None or marker.exists():
        return
    from .bytecode import compile_in_background  # noqa: PLC0415

    compile_in_background(folder, install_cache / "locks")


def _check_fresh(
    prepared: Prepared, timings: dict[str, float], *, strict: bool | None, client: bool
) -> tuple[str, ...]:
    """A cold load's checks, before anything is installed or shipped; the wheels a
    Connect client leaves out."""
    if prepared.manifest is None:
        return ()
    from .integrity import check_wheels  # noqa: PLC0415

    with timed(timings, "check"):
        leave_out = _client_misfits(prepared, client)
        check_wheels(prepared, leave_out=leave_out)
        # a client's runtime is not the cluster's: differences warn (the probe decides)
        lenient = False if leave_out and strict is None else strict
        check_runtime(prepared.manifest.runtime, strict=lenient, fresh=True)
    return leave_out


def installs_beside_shipping(
    prepared: Prepared, node_cache: Path, plan_kind: Delivery, ship: SessionKind | None
) -> bool:
    """A fresh classic load: the executors need only the checked manifest (``wheels``) or
    the shared folder's name (``shared``, whose stub waits for it there), so they are
    served while the driver installs."""
    manifest = prepared.manifest
    if ship != "classic" or manifest is None or not manifest.wheels:
        return False
    if installed_marker(node_cache / "installs" / prepared.digest) is not None:
        return False
    if plan_kind == "shared":
        return True
    from .wheelpayload import StubContents  # noqa: PLC0415

    return plan_kind == "classic" and StubContents.of_manifest(manifest) is not None


def install_beside(
    prepared: Prepared,
    node_cache: Path,
    timings: dict[str, float],
    ship: Callable[[InstallResult], T],
    *,
    strict: bool | None = None,
    shared: bool = False,
) -> tuple[Path, InstallResult, T]:
    """Check, then install on a helper thread while ``ship`` serves the executors from
    the install as planned (:func:`.install.planned_install`), and return without waiting
    for the install: the first import of one of its packages on the driver waits for it
    (:mod:`.pending`). The helper releases ``prepared`` when it is done. On this node both
    compete for the cores; on a cluster the executors' unpacking runs on their own
    (benchmarks/RESULTS.md, issue 25).

    ``shared``: the install is the shared folder itself, with its bytecode; an executor's
    first import waits until it is whole, or stops at the note a failed install leaves
    beside it (docs/delivery.md, "A `shared` install, behind `load`")."""
    timings.update(prepared.timings)
    _check_fresh(prepared, timings, strict=strict, client=False)
    planned = planned_install(prepared, node_cache)
    note = _Note(planned.folder) if shared else None

    served = threading.Event()

    def work() -> InstallResult:
        try:
            installed = install(prepared, node_cache, bytecode=shared)
        except BaseException as exc:
            if note is not None:  # the executors waiting for the folder stop, with it
                note.fail(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            served.wait()  # shipping reads the wheelhouse through the same open file
            prepared.discard()
        if note is not None:  # whole: the executors import it
            note.done()
            _compile_shared(installed.folder, node_cache)
        return installed

    from . import unpack  # noqa: F401, PLC0415 - imported here: an import at exit fails
    from .pending import pending_install  # noqa: PLC0415

    # a shared install too runs below the job's own work: an executor waiting for it
    # sleeps and leaves it the cores (benchmarks/RESULTS.md, issue 25, round 8)
    pending = pending_install(prepared.uri, planned.folder, planned.top_level, work)
    try:
        shipped = ship(planned)
    except BaseException:
        served.set()
        pending.abandon()  # the shipping error is the one to raise; nothing made active
        raise
    served.set()
    # now, not once installed: a module imported before load() never asks for the install
    manifest = prepared.manifest
    assert manifest is not None
    versions = {name: wheel.version for wheel in manifest.wheels for name in wheel.top_level}
    explain_preloaded(planned.top_level, planned.folder, versions)
    return planned.folder, planned, shipped


class _Note:
    """The note beside a shared install while this driver writes it
    (:func:`.bootstrap.installing_note`), as a file of its own: a failure written into it
    reaches the executors only while no other driver's load of the same wheelhouse has
    put its own note there since. Else that load's outcome is the one its executors read:
    its own install makes the folder, or its failure names why."""

    def __init__(self, folder: Path) -> None:
        from .bootstrap import installing_note  # noqa: PLC0415 - a cold shared load only

        self.path = Path(installing_note(os.fspath(folder)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = None
        fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        handle = None
        try:
            handle = fresh.open("w", encoding="utf-8")
            os.replace(fresh, self.path)  # a new file: an earlier load's failure is gone
        except OSError:  # the executors then stop waiting after a while, and say why
            logger.warning("cannot write %s for the executors", self.path, exc_info=True)
            if handle is not None:
                handle.close()
            fresh.unlink(missing_ok=True)
            return
        self._handle = handle

    def fail(self, text: str) -> None:
        """Write the failure for the executors waiting on this note (none if replaced)."""
        if self._handle is None:
            return
        try:
            self._handle.write(text)
            self._handle.flush()
        except OSError:
            logger.warning("cannot write %s for the executors", self.path, exc_info=True)
        finally:
            self._close()

    def done(self) -> None:
        """The folder is whole: the executors import it, whoever's note is there."""
        self._close()
        self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None


def _client_misfits(prepared: Prepared, client: bool) -> tuple[str, ...]:
    """On a Connect client: the wheels whose tags do not fit it, to ship but not install."""
    if not client or prepared.manifest is None:
        return ()
    from .client import describe_client, fitting  # noqa: PLC0415

    _fit, left = fitting(wheel.filename for wheel in prepared.manifest.wheels)
    if left:
        logger.warning(
            "this Spark Connect client is %s: installing here only the wheels that fit it; "
            "left out (the cluster gets them, the probe proves it): %s",
            describe_client(),
            ", ".join(left),
        )
    return tuple(left)
