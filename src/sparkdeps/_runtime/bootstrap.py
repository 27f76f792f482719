"""The executor half of wheel delivery: shipped as source, run on executors, stdlib only.

An executor gets two things (docs/facts.md, facts 3-4): the wheelhouse itself as
an archive that Spark unpacks (``<root>/<archive>/wheels/*.whl``, about 1x the
wheelhouse's bytes), and a tiny zip on its Python path holding this module and
one stub per top-level name of the wheelhouse. The first import of any of those
names runs its stub, which calls :func:`activate`: the wheels are checked
against their sha256 and extracted once per executor folder (under a file
lock, into a temporary folder renamed into place), the folder goes first on
``sys.path``, the stub zip leaves it, and the real module is imported in the
stub's place. A ``shared`` delivery names an installed folder instead (storage
every node mounts), and nothing is extracted.

This file must not import sparkdeps: executors do not have it. The driver copies
it unchanged into the stub zip and writes its configuration beside it, as
``<module>.json`` (:func:`config_name`), which the module reads through its own
loader: a zip member as well as a file.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import marshal
import os
import shutil
import sys
import threading
import zipfile
from typing import Any


def config_name(module: str) -> str:
    """The stub zip member beside ``<module>.py`` that holds its configuration."""
    return f"{module}.json"


def _read_config() -> dict[str, Any]:
    """What the driver wrote beside this module; empty for sparkdeps' own copy (none there)."""
    # the loader reads a zip member (zipimporter) as well as a file beside a source file
    get_data: Any = getattr(globals().get("__loader__"), "get_data", None)
    folder, filename = os.path.split(__file__)  # in a zip: <zip path>/<module>.py
    path = os.path.join(folder, config_name(os.path.splitext(filename)[0]))
    try:
        data = get_data(path) if get_data is not None else b"{}"
    except OSError:
        return {}
    config: dict[str, Any] = json.loads(data.decode("utf-8"))
    return config


CONFIG: dict[str, Any] = _read_config()
"""From the driver: digest, archive (folder name), site (shared folder or None), wheels
([filename, sha256] pairs)."""

_SITE = "site"
_BIG = 4 << 20
_lock = threading.Lock()
_active: list[str] = []
_redirecting: set[str] = set()
_hooked: set[str] = set()


def stub_source(module: str) -> str:
    """A stub standing for top-level ``name``: its first import activates the wheelhouse."""
    return f"import {module} as _boot\n\n_boot.activate(__name__)\n"


# --------------------------------------------------------------------------- locating


def _roots() -> list[str]:
    """Where Spark may have unpacked the archive: beside this module's zip, then the cwd."""
    here = os.path.dirname(os.path.abspath(__file__))  # <root>/<stubs>.zip
    return [os.path.dirname(here), os.getcwd()]


def _archive_folder() -> str:
    name = str(CONFIG["archive"])
    tried = []
    for root in _roots():
        candidate = os.path.join(root, name)
        if os.path.isdir(os.path.join(candidate, "wheels")):
            return candidate
        tried.append(candidate)
    raise ImportError(
        f"sparkdeps: the wheelhouse archive {name} is not on this executor "
        f"(looked in {', '.join(tried)}); call sparkdeps.load(..., spark=spark) with the "
        "session the job runs on, and keep the payload until the application ends"
    )


# --------------------------------------------------------------------------- extracting


def _check(wheels_dir: str) -> None:
    for filename, expected in CONFIG["wheels"]:
        digest = hashlib.sha256()
        with open(os.path.join(wheels_dir, filename), "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise ImportError(
                f"sparkdeps: {filename} on this executor does not match the wheelhouse "
                f"{CONFIG['digest'][:16]} (sha256 {digest.hexdigest()[:16]}..., expected "
                f"{expected[:16]}...): the wheelhouse file changed after load(); rebuild it "
                "and load the new one"
            )


def _target(member: str, folder: str, wheel: str) -> str | None:
    parts = member.split("/")
    if member.startswith("/") or ".." in parts or "\\" in member or ":" in parts[0]:
        raise ImportError(f"sparkdeps: {wheel} has an unsafe member {member!r}; rebuild it")
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None  # scripts, headers and data are not importable
        parts = parts[2:]
    return os.path.join(folder, *parts)


def _extract(path: str, folder: str) -> None:
    made: set[str] = set()
    name = os.path.basename(path)
    with zipfile.ZipFile(path) as wheel:
        for info in wheel.infolist():
            target = _target(info.filename, folder, name)
            if target is None or info.is_dir():
                continue
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            with wheel.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def _extract_all(wheels_dir: str, folder: str) -> None:
    """Big wheels on a helper thread (zlib releases the GIL), small ones on this one."""
    paths = [os.path.join(wheels_dir, filename) for filename, _ in CONFIG["wheels"]]
    big = [path for path in paths if os.path.getsize(path) >= _BIG]
    small = [path for path in paths if path not in big]
    failures: list[BaseException] = []

    def run_big() -> None:
        try:
            for path in big:
                _extract(path, folder)
        except BaseException as exc:  # re-raised on the calling thread
            failures.append(exc)

    helper = threading.Thread(target=run_big, name="sparkdeps-extract")
    helper.start()
    try:
        for path in small:
            _extract(path, folder)
    finally:
        helper.join()
    if failures:
        raise failures[0]


def _locked(path: str) -> Any:
    import fcntl  # noqa: PLC0415

    handle = open(path, "a+b")  # noqa: SIM115 - closed by the caller
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


def site_folder() -> str:
    """The folder to import from: the shared one, or this executor's extraction."""
    if CONFIG.get("site"):
        return str(CONFIG["site"])
    archive = _archive_folder()
    folder = os.path.join(archive, _SITE)
    if os.path.isdir(folder):
        return folder
    handle = _locked(os.path.join(archive, ".site.lock"))
    try:
        if os.path.isdir(folder):  # another worker of this executor finished first
            return folder
        _check(os.path.join(archive, "wheels"))
        _sweep_partials(archive)
        partial = os.path.join(archive, f".site.{os.getpid()}.partial")
        try:
            _extract_all(os.path.join(archive, "wheels"), partial)
            os.rename(partial, folder)  # the folder exists only when complete
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise _no_space(archive) from exc
            raise
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    finally:
        handle.close()
    return folder


def _sweep_partials(archive: str) -> None:
    """Under the lock no other worker extracts: every partial folder is a killed worker's."""
    for name in os.listdir(archive):
        if name.startswith(".site.") and name.endswith(".partial"):
            shutil.rmtree(os.path.join(archive, name), ignore_errors=True)


def _no_space(archive: str) -> ImportError:
    needed = 0
    for filename, _sha256 in CONFIG["wheels"]:
        with zipfile.ZipFile(os.path.join(archive, "wheels", filename)) as wheel:
            needed += sum(info.file_size for info in wheel.infolist())
    free = shutil.disk_usage(archive).free
    return ImportError(
        f"sparkdeps: no space left in {archive} to extract the wheelhouse "
        f"{CONFIG['digest'][:16]} on this executor: it needs about {needed / 1e6:.1f} MB and "
        f"{free / 1e6:.1f} MB is free; give the executors more local disk (or fewer "
        "packages in the wheelhouse)"
    )


# --------------------------------------------------------------------------- bytecode


def _write_pyc(source: str, code: Any) -> None:
    """``code`` as ``source``'s timestamp ``.pyc`` (PEP 552), written atomically; best
    effort: a folder it may not write to leaves the import as it was."""
    try:
        cached = importlib.util.cache_from_source(source)
        if os.path.exists(cached):
            return
        stat = os.stat(source)
        header = importlib.util.MAGIC_NUMBER + b"\0\0\0\0"
        header += (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        header += (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        partial = f"{cached}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(partial, "wb") as out:
            out.write(header + marshal.dumps(code))
        os.replace(partial, cached)  # a reader sees a whole .pyc or none
    except (OSError, NotImplementedError, ValueError):
        return


class _BytecodeWriter(importlib.machinery.SourceFileLoader):
    """A source loader that leaves a ``.pyc`` even where the worker may not write one.

    Bytecode once per executor, whatever ``PYTHONDONTWRITEBYTECODE`` says (issue 25):
    importing W1 compiling takes 1.36 s, from ``.pyc`` 0.40 s, and a worker with the
    variable set compiles again at every start. Lazily, at the first import of each
    module, not at extraction: compiling every module of W1 (843 files, tests and all)
    took 5 s where compiling the 276 an import of all of W1 needs took about 0.5 s
    (benchmarks/RESULTS.md, "executor first import").
    """

    def get_code(self, fullname: str) -> Any:
        code = super().get_code(fullname)
        if code is not None and sys.dont_write_bytecode:  # otherwise the import wrote it
            _write_pyc(self.path, code)
        return code


def _write_bytecode_under(folder: str) -> None:
    """Modules imported from ``folder`` (and its packages) go through the writer."""
    if folder in _hooked:
        return
    _hooked.add(folder)
    machinery = importlib.machinery
    loaders: list[Any] = [
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (_BytecodeWriter, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    ]
    inside = os.path.join(folder, "")

    def hook(path: str) -> Any:
        if path != folder and not path.startswith(inside):
            raise ImportError("not a sparkdeps folder")  # the next hook takes it
        return machinery.FileFinder(path, *loaders)

    sys.path_hooks.insert(0, hook)
    for path in [p for p in sys.path_importer_cache if p == folder or p.startswith(inside)]:
        del sys.path_importer_cache[path]


# --------------------------------------------------------------------------- importing


def _drop_stubs() -> None:
    stubs = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != stubs]
    sys.path_importer_cache.pop(stubs, None)


def activate(name: str) -> None:
    """Called by the stub of ``name`` while it is being imported: import the real one."""
    if not CONFIG:
        raise ImportError(
            f"sparkdeps: the stub zip on this executor has no {config_name(__name__)} beside "
            f"{__name__}; it was not written by sparkdeps.load(): load the wheelhouse again"
        )
    if name in _redirecting:
        raise ImportError(
            f"sparkdeps: {name} is not in the wheelhouse {CONFIG.get('digest', '?')[:16]} "
            "on this executor although the driver listed it; rebuild the wheelhouse"
        )
    with _lock:
        folder = site_folder()
        _write_bytecode_under(folder)
        if folder not in sys.path[:1]:
            if folder in sys.path:
                sys.path.remove(folder)
            sys.path.insert(0, folder)
        _drop_stubs()
        importlib.invalidate_caches()
        if folder not in _active:
            _active.append(folder)
    _redirecting.add(name)
    try:
        del sys.modules[name]
        module = importlib.import_module(name)
    finally:
        _redirecting.discard(name)
    # The import system hands out sys.modules[name] once the stub has run.
    sys.modules[name] = module
