"""The executor half of wheel delivery: shipped as source and bytecode, stdlib only.

An executor gets two things (docs/facts.md, facts 3-4): the wheelhouse itself
(``<root>/<archive>.zip``, whose wheels this module copies out into
``<archive>/wheels/`` in the application's folder above ``<root>``, one for the node's
executors; or that folder unpacked by Spark in ``<root>``), and a tiny zip on
its Python path holding this module and one stub per top-level name of the
wheelhouse. The first import of any of those names runs its stub, which calls
:func:`activate`: the wheels are checked against their sha256, their metadata
written into the site folder (once per folder, under a file lock), the
folder goes first on ``sys.path``, the stub zip leaves it, and the real module is
imported in the stub's place, its wheels extracted first (per wheel, at the first
import of a name it holds: see "extracting" below). A ``shared`` delivery names an
installed folder instead (storage every node mounts), and nothing is extracted: the
first import waits until the driver's install there is whole ("shared" below).

This file must not import sparkdeps: executors do not have it. The driver copies
it unchanged into the stub zip and writes its configuration beside it, as
``<module>.json`` (:func:`config_name`), which the module reads through its own
loader: a zip member as well as a file.
"""

from __future__ import annotations

import _imp
import contextlib
import errno
import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import marshal
import os
import re
import shutil
import stat
import sys
import threading
import time
import zipfile
import zipimport
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
"""From the driver: digest, archive (folder name), site (shared folder or None) and
site_marker (the file an install writes last into it), wheels ([filename, sha256]
pairs), bytecode (member, sha256, magic in hex, cache tag; or None)."""

_SITE = "site"
_STATE = ".site.state"
"""Beside the site folder: ``index.json``, and per wheel a ``.lock``, a ``.done`` (its code
is whole) and a ``.later-done`` (its tests folders and type stubs too)."""
_MARKERS = {"code": ".done", "later": ".later-done"}
_lock = threading.Lock()
_active: list[str] = []
_redirecting: set[str] = set()
_hooked: set[str] = set()
_warming = threading.Event()
"""Set once this worker has started extracting the rest in the background."""
_QUIET_S = 0.3
_last_import = [0.0]
"""``time.monotonic()`` of this worker's last import outside the warm-up's thread: the
warm-up starts a wheel only after ``_QUIET_S`` without one, and gives way between two
members of a wheel when one comes (:class:`_Yielded`), so a UDF's imports never wait
behind it; what it wrote is kept (``_Executor._whole``), and the next pass of that wheel,
its own or the import's, goes on from there."""
_warm_thread: list[int] = []


def stub_source(module: str) -> str:
    """A stub standing for top-level ``name``: its first import activates the wheelhouse."""
    return f"import {module} as _boot\n\n_boot.activate(__name__)\n"


# --------------------------------------------------------------------------- locating


def _roots() -> list[str]:
    """Where Spark may have unpacked the archive: beside this module's zip, then the cwd."""
    here = os.path.dirname(os.path.abspath(__file__))  # <root>/<stubs>.zip
    return [os.path.dirname(here), os.getcwd()]


def _archive_folder() -> str:
    """The folder holding ``wheels/``: unpacked by Spark (``addArchive``: Spark Connect,
    an http(s) wheelhouse; ``session_conf``), else split from the file ``addFile``
    fetched, into the node's folder for the application (:func:`_split_target`)."""
    name = str(CONFIG["archive"])
    tried = []
    for root in _roots():
        candidate = os.path.join(root, name)
        if os.path.isdir(os.path.join(candidate, "wheels")):
            return candidate
        if os.path.isfile(f"{candidate}.zip"):  # shipped with addFile: split here
            target = _split_target(root, name)
            _split(f"{candidate}.zip", target)
            return target
        tried.append(candidate)
    raise ImportError(
        f"sparkdeps: the wheelhouse {name}.zip is not on this executor "
        f"(looked in {', '.join(tried)}); call sparkdeps.load(..., spark=spark) with the "
        "session the job runs on, and keep the payload until the application ends"
    )


_node_shared = [True]
"""Split into the application's folder on the node (:func:`_split_target`); off for
``extract_all``, whose caller packs the folder it ran in."""


def _split_target(root: str, name: str) -> str:
    """Where this executor's fetched wheelhouse (in ``root``, its own folder) is split.

    The folder above ``root`` is the application's on this node (standalone's
    ``work/<app>``, YARN's ``appcache/<app>``, ``spark-<id>`` on a local driver): when it
    is ours, every executor of the application on this node splits and extracts into one
    folder there, each wheel once, under the same per-wheel locks that the Python workers
    of one executor share (issue 25: two executors on a node inflated everything twice,
    on cores their tasks need). A folder there that is not ours, or a link: beside the
    file, as before."""
    parent = os.path.dirname(root)
    shared = os.path.join(parent, name)
    if not _node_shared[0] or parent == root or not _ours(parent, writable=True):
        return os.path.join(root, name)
    if os.path.lexists(shared) and not _ours(shared):
        return os.path.join(root, name)
    return shared


def _ours(path: str, *, writable: bool = False) -> bool:
    """A real folder (not a link) of this user (and writable, if asked)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        return False
    return not writable or os.access(path, os.W_OK | os.X_OK)


def _split(path: str, folder: str) -> None:
    """Copy the wheels (and the bytecode archive) out of the fetched wheelhouse ``path``
    into ``folder``, once per node and application, under a file lock; the folder
    appears whole.

    Spark's own unpack (``addArchive``) sat in the first task on each executor, in the
    JVM; the wheelhouse stores its members uncompressed, so each is a byte range of the
    file, copied by the kernel (docs/delivery.md, "Shipping"). Only the members the
    driver named are copied, so a name in the zip never chooses a path here; their
    sha256 is checked afterwards, with the rest (:func:`_check`)."""
    handle = _locked(f"{folder}.lock")
    try:
        if os.path.isdir(os.path.join(folder, "wheels")):
            return  # another worker, of this executor or another, split it first
        root, name = os.path.split(folder)
        for stale in os.listdir(root):  # left by a worker that died holding the lock
            if stale.startswith(f"{name}.") and stale.endswith(".partial"):
                shutil.rmtree(os.path.join(root, stale), ignore_errors=True)
        partial = f"{folder}.{os.getpid()}.partial"
        members = [f"wheels/{filename}" for filename, _sha256 in CONFIG["wheels"]]
        if CONFIG.get("bytecode"):
            members.append(CONFIG["bytecode"][0])
        try:
            _copy_members(path, members, partial)
            os.rename(partial, folder)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ImportError(
                f"sparkdeps: could not copy the wheels out of {path} into {folder} "
                f"({type(exc).__name__}: {exc}); give the executors more local disk if it "
                "is full, else rebuild the wheelhouse and load the new one"
            ) from exc
    finally:
        handle.close()


def _copy_members(path: str, members: list[str], into: str) -> None:
    with zipfile.ZipFile(path) as outer, open(path, "rb") as source:
        for member in members:
            info = outer.getinfo(member)  # KeyError: not in this wheelhouse
            target = os.path.join(into, *member.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                if info.compress_type == zipfile.ZIP_STORED:
                    start = _data_offset(source, info)
                    _copy_range(source.fileno(), out.fileno(), start, info.file_size)
                else:
                    with outer.open(info) as data:
                        shutil.copyfileobj(data, out, 1 << 20)


def _data_offset(source: Any, info: zipfile.ZipInfo) -> int:
    """Where a member's bytes start: after its local header (30 bytes, then its name
    and an extra field whose lengths may differ from the central directory's)."""
    source.seek(info.header_offset)
    header = source.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length


def _copy_range(source: int, out: int, offset: int, size: int) -> None:
    """``size`` bytes of ``source`` from ``offset`` appended to ``out`` (descriptors)."""
    copy = getattr(os, "copy_file_range", None)  # Linux; the kernel copies, or shares
    while size > 0:
        done = 0
        if copy is not None:
            try:
                done = copy(source, out, size, offset)
            except OSError as exc:  # e.g. a file system without it: copy by hand below
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                copy = None
        if not done:
            chunk = os.pread(source, min(size, 1 << 20), offset)
            if not chunk:
                raise zipfile.BadZipFile("the wheelhouse file ends inside a member")
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
            done = len(chunk)
        offset += done
        size -= done


# --------------------------------------------------------------------------- extracting
#
# Per wheel, at the first import of a name it holds (issue 25): a UDF that imports one
# package of a big wheelhouse extracts that package's wheels, not all of them. At the
# first activation on an executor every wheel is checked and every wheel's metadata
# (``*.dist-info``) goes into the site folder, so ``importlib.metadata`` sees the whole
# wheelhouse from the start; the index (top-level name -> wheels) is written beside it.
# Each wheel's code is extracted under its own lock and marked done; a name is
# imported only once every wheel that holds it is done, so no import reads a
# half-written wheel. The warm-up (:func:`warm`) extracts the rest in the background.
# A wheelhouse built with bytecode for this interpreter (``bytecode/<cache_tag>.zip``,
# checked with the wheels) is read in place: the site's source loader takes each
# module's code from it, so the first import compiles nothing and no ``.pyc`` file is
# created (docs/delivery.md, "Bytecode").


def _shipped_bytecode() -> list[str] | None:
    """[member, sha256, magic, cache tag] of the wheelhouse's bytecode when this
    interpreter can use it (same magic number and cache tag), else None."""
    bytecode = CONFIG.get("bytecode")
    if not bytecode:
        return None
    _member, _sha256, magic, tag = bytecode
    usable = magic == importlib.util.MAGIC_NUMBER.hex() and tag == sys.implementation.cache_tag
    return list(bytecode) if usable else None


def _check(archive: str) -> None:
    checked = [(os.path.join("wheels", filename), sha) for filename, sha in CONFIG["wheels"]]
    bytecode = _shipped_bytecode()
    if bytecode is not None:  # code too: checked as the wheels are
        checked.append((bytecode[0], bytecode[1]))
    for relative, expected in checked:
        filename = os.path.basename(relative)
        digest = hashlib.sha256()
        with open(os.path.join(archive, relative), "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise ImportError(
                f"sparkdeps: {filename} on this executor does not match the wheelhouse "
                f"{CONFIG['digest'][:16]} (sha256 {digest.hexdigest()[:16]}..., expected "
                f"{expected[:16]}...): the wheelhouse file changed after load(); rebuild it "
                "and load the new one"
            )


def _parts(member: str, wheel: str) -> list[str] | None:
    """Where ``member`` goes, relative to the site folder; None when it is not importable."""
    parts = member.split("/")
    if member.startswith("/") or ".." in parts or "\\" in member or ":" in parts[0]:
        raise ImportError(f"sparkdeps: {wheel} has an unsafe member {member!r}; rebuild it")
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None  # scripts, headers and data are not importable
        parts = parts[2:]
    return parts


def _is_metadata(parts: list[str]) -> bool:
    return parts[0].endswith(".dist-info")


_LATER = frozenset({"tests", "test"})
"""A package's own test suite, in a folder of these names below its top level (numpy's is
half its files): extracted after the rest of every wheel, by the warm-up or at the first
import of a module inside it. No job imports it; the build ships no bytecode for it."""
_LATER_SUFFIXES = (".pyi",)
"""Type stubs: read by type checkers, never by an import (numpy ships 155); later too."""


def _part(parts: list[str]) -> str:
    """Which extraction a member belongs to: ``metadata``, ``code`` or ``later`` (tests
    folders and type stubs)."""
    if _is_metadata(parts):
        return "metadata"
    if not _LATER.isdisjoint(parts[1:-1]) or parts[-1].endswith(_LATER_SUFFIXES):
        return "later"
    return "code"


def _top_level(parts: list[str]) -> str | None:
    """The importable top-level name a member belongs to (None: metadata, ``.libs``, ...)."""
    head = parts[0]
    if len(parts) == 1:  # a module at the top: name.py, name.<abi>.so
        head = head.split(".", 1)[0] if head.endswith((".py", *_extension_suffixes())) else ""
    return head if head.isidentifier() else None


def _extension_suffixes() -> tuple[str, ...]:
    return tuple(importlib.machinery.EXTENSION_SUFFIXES)


class _Yielded(Exception):
    """The warm-up left a wheel half-way for an import (no marker yet)."""


@contextlib.contextmanager
def _opened(wheel: str | zipfile.ZipFile) -> Any:
    """The wheel as an open zip: ``wheel`` itself when open already (its opener closes
    it), else opened here. Reading a wheel's directory is much of what preparing costs:
    ``_prepare`` reads each wheel's directory once for the index and the in-place rule."""
    if isinstance(wheel, zipfile.ZipFile):
        yield wheel
    else:
        with zipfile.ZipFile(wheel) as opened:
            yield opened


def _top_level_names(wheel: zipfile.ZipFile) -> set[str]:
    """The importable top-level names the open ``wheel`` holds."""
    names: set[str] = set()
    wheel_name = os.path.basename(str(wheel.filename))
    for member in wheel.namelist():
        parts = _parts(member, wheel_name)
        name = _top_level(parts) if parts is not None and parts[-1] else None
        if name is not None:
            names.add(name)
    return names


def _extract(
    path: str,
    folder: str,
    *,
    part: str,
    written: list[str],
    stop: Any = None,
    whole: set[str] | None = None,
) -> None:
    """The members of one wheel in ``part`` (:func:`_part`). ``stop()`` true between two
    members raises :class:`_Yielded`; ``whole``: members this process already wrote
    (skipped), to which each member written is added. An import (no ``stop``) inflates
    the big members on helper threads while it writes the rest (:func:`_aside`)."""
    made: set[str] = set()
    wheel_name = os.path.basename(path)
    with zipfile.ZipFile(path) as wheel:
        members = []
        for info in wheel.infolist():
            parts = _parts(info.filename, wheel_name)
            if parts is None or info.is_dir():
                continue
            if _part(parts) != part or (whole is not None and info.filename in whole):
                continue
            members.append((info, os.path.join(folder, *parts)))
        helpers = _spare_cores() if stop is None else 0
        big = [member for member in members if member[0].compress_size >= _BIG] if helpers else []
        aside = {info.filename for info, _target in big}
        for _info, target in big:  # listed first: a full disk removes them too
            os.makedirs(os.path.dirname(target), exist_ok=True)
            written.append(target)
        join = _aside(path, big, helpers)
        try:
            for info, target in members:
                if info.filename in aside:
                    continue
                if stop is not None and stop():
                    raise _Yielded(wheel_name)
                parent = os.path.dirname(target)
                if parent not in made:
                    os.makedirs(parent, exist_ok=True)
                    made.add(parent)
                written.append(target)
                _write_member(wheel, info, target)
                if whole is not None:
                    whole.add(info.filename)
        finally:
            join()  # never return (nor clean up after a failure) while a helper writes
    if whole is not None:
        whole.update(info.filename for info, _target in big)


_BIG = 1 << 20
"""A member this big compressed is inflated on a helper thread, when the worker has cores
to spare: inflating numpy's and the compiled wheels' libraries is most of an executor's
extraction on a node's disk (docs/facts.md, fact 28), and the other tasks of a fresh
executor wait for the same wheel's lock meanwhile."""


def _spare_cores() -> int:
    """Helper threads for an import's extraction: the cores this process may run on, less
    its own, at most 3 (none on one core)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, 3))


def _write_member(wheel: zipfile.ZipFile, info: zipfile.ZipInfo, target: str) -> None:
    with wheel.open(info) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _aside(path: str, members: list[tuple[zipfile.ZipInfo, str]], helpers: int) -> Any:
    """Inflate ``members`` on up to ``helpers`` threads, biggest first, each thread with
    its own handle on the wheel (zlib and the writes let go of the GIL); returns a
    function that waits for them and raises the first failure."""
    ordered = sorted(members, key=lambda member: -member[0].compress_size)
    buckets = [ordered[start::helpers] for start in range(helpers)]
    failures: list[BaseException] = []

    def inflate(bucket: list[tuple[zipfile.ZipInfo, str]]) -> None:
        try:
            with zipfile.ZipFile(path) as wheel:
                for info, target in bucket:
                    _write_member(wheel, info, target)
        except BaseException as exc:  # raised in the importing thread by join()
            failures.append(exc)

    threads = [
        threading.Thread(target=inflate, args=(bucket,), name="sparkdeps-inflate", daemon=True)
        for bucket in buckets
        if bucket
    ]
    for thread in threads:
        thread.start()

    def join() -> None:
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    return join


def _locked(path: str, *, wait: bool = True) -> Any:
    """``path`` opened and flock'd (None when ``wait`` is False and another holds it)."""
    import fcntl  # noqa: PLC0415

    handle = open(path, "a+b")  # noqa: SIM115 - closed by the caller
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _space_checked(archive: str, written: list[str], work: Any) -> Any:
    """Run ``work()``; on a full disk remove what it wrote and name the space needed."""
    try:
        return work()
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise _no_space(archive) from exc
        raise


class _Executor:
    """This executor's extraction: the archive Spark unpacked, the site folder, the index."""

    def __init__(self, archive: str) -> None:
        self.archive = archive
        self.site = os.path.join(archive, _SITE)
        self.state = os.path.join(archive, _STATE)
        self.done: set[str] = set()
        self.later_done: set[str] = set()
        self._whole: dict[tuple[str, str], set[str]] = {}
        prepared = self._prepared()
        self.index: dict[str, list[str]] = prepared["names"]
        self.in_place = frozenset(prepared["in_place"])
        shipped = _shipped_bytecode()
        self.bytecode = _Shipped(archive, self.site, shipped[0]) if shipped else None

    def _prepared(self) -> dict[str, Any]:
        """``names`` (top-level name -> wheel files) and ``in_place`` (the wheels imported
        from the wheel itself); made once per executor, under its lock."""
        index_path = os.path.join(self.state, "index.json")
        if not os.path.exists(index_path):
            handle = _locked(os.path.join(self.archive, ".site.lock"))
            try:
                if not os.path.exists(index_path):  # else another worker made it first
                    self._prepare(index_path)
            finally:
                handle.close()
        with open(index_path, encoding="utf-8") as handle:
            index: dict[str, Any] = json.load(handle)
        return index

    def _prepare(self, index_path: str) -> None:
        allowed = _in_place_allowed()  # a bad value: refused before anything is written
        _check(self.archive)
        _sweep_partials(self.archive)
        os.makedirs(self.state, exist_ok=True)
        index: dict[str, list[str]] = {}
        written: list[str] = []

        paths = {name: os.path.join(self.archive, "wheels", name) for name, _ in CONFIG["wheels"]}
        rule = _shipped_bytecode() is not None and allowed
        passes: dict[str, bool] = {}  # the in-place rule's verdict, from the same opening
        for filename, path in paths.items():
            with zipfile.ZipFile(path) as wheel:
                for name in _top_level_names(wheel):
                    index.setdefault(name, []).append(filename)
                passes[filename] = rule and importable_in_place(wheel)
        # a top-level name that two wheels share (a namespace) is extracted, whole
        shared = {wheel for holders in index.values() if len(holders) > 1 for wheel in holders}
        in_place = [name for name in paths if passes[name] and name not in shared]

        def metadata() -> None:  # a wheel imported in place keeps its own, in the zip
            for filename, path in paths.items():
                if filename not in in_place:
                    _extract(path, self.site, part="metadata", written=written)

        _space_checked(self.archive, written, metadata)
        prepared = {"names": index, "in_place": sorted(in_place)}
        partial = f"{index_path}.{os.getpid()}.partial"
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(prepared, out)
        os.replace(partial, index_path)  # the index exists only once the metadata does

    def ensure(
        self,
        filenames: list[str],
        *,
        wait: bool = True,
        part: str = "code",
        yielding: bool = False,
    ) -> bool:
        """Every wheel in ``filenames`` extracted (its ``code``, or its ``later`` part);
        False: one was busy and ``wait`` False. ``yielding`` (the warm-up): raise
        :class:`_Yielded` when an import comes meanwhile."""
        fresh = False
        complete = True
        done = self.done if part == "code" else self.later_done
        for filename in filenames:
            if filename in done or filename in self.in_place:
                continue
            marker = os.path.join(self.state, filename + _MARKERS[part])
            if not os.path.exists(marker):
                handle = _locked(os.path.join(self.state, f"{filename}.lock"), wait=wait)
                if handle is None:
                    complete = False
                    continue
                try:
                    if not os.path.exists(marker):  # else another worker extracted it
                        self._extract_part(filename, part, marker, yielding=yielding)
                finally:
                    handle.close()
            done.add(filename)
            fresh = True
        if fresh:  # directory listings this process cached may predate those files
            _invalidate_under(self.site)
        return complete

    def _extract_part(self, filename: str, part: str, marker: str, *, yielding: bool) -> None:
        path = os.path.join(self.archive, "wheels", filename)
        written: list[str] = []
        started = time.monotonic()
        stop = (lambda: _last_import[0] > started) if yielding else None
        # what the warm-up wrote before it gave way is whole: the next pass goes on from there
        whole = self._whole.setdefault((filename, part), set())
        try:
            _space_checked(
                self.archive,
                written,
                lambda: _extract(
                    path, self.site, part=part, written=written, stop=stop, whole=whole
                ),
            )
        except _Yielded:
            raise
        except BaseException:  # what was written may be gone (a full disk): start over
            del self._whole[(filename, part)]
            raise
        with open(marker, "wb"):
            pass
        del self._whole[(filename, part)]

    def in_place_paths(self) -> list[str]:
        """The wheels imported in place, as ``sys.path`` entries (zipimport's kind)."""
        return [os.path.join(self.archive, "wheels", name) for name in sorted(self.in_place)]

    def extract_rest(self) -> None:
        """Every wheel not yet extracted, smallest first, then their tests and stubs; busy
        ones after the others (a wheel imported in place stays in its zip)."""
        wheels_dir = os.path.join(self.archive, "wheels")

        def size(filename: str) -> int:  # an extracted wheel may be gone (``session_conf``)
            try:
                return os.path.getsize(os.path.join(wheels_dir, filename))
            except OSError:
                return 0

        filenames = sorted((filename for filename, _ in CONFIG["wheels"]), key=size)
        for part in ("code", "later"):
            busy = [name for name in filenames if not self._yielding(name, part, wait=False)]
            for name in busy:
                self._yielding(name, part, wait=True)

    def _yielding(self, filename: str, part: str, *, wait: bool) -> bool:
        """One wheel's ``part`` extracted while this worker imports nothing."""
        while True:
            while (idle := time.monotonic() - _last_import[0]) < _QUIET_S:
                time.sleep(_QUIET_S - idle)
            try:
                return self.ensure([filename], wait=wait, part=part, yielding=True)
            except _Yielded:
                continue  # an import came: it goes first, and this wheel starts again

    def compile_all(self) -> None:
        """Bytecode for every extracted module, once per executor (one worker does it).

        In the background, on cores the executor leaves idle until its first UDF: what
        the packed-venv peer ships ready (issue 25). An import that comes first
        compiles its module itself; the ``.pyc`` writes are atomic either way.
        """
        marker = os.path.join(self.state, "bytecode.done")
        if self.bytecode is not None or os.path.exists(marker):
            return  # shipped: what is left out (tests) is compiled if ever imported
        handle = _locked(os.path.join(self.state, "bytecode.lock"), wait=False)
        if handle is None:
            return  # another worker of this executor compiles
        try:
            for directory, _folders, files in os.walk(self.site):
                for name in files:
                    if name.endswith(".py"):
                        _compile(os.path.join(directory, name))
            with open(marker, "wb"):
                pass
        finally:
            handle.close()


class _LazyWheels:
    """On ``sys.meta_path`` before the path finder: the first import of a top-level name
    extracts the wheels that hold it, then lets the path finder find it in the site."""

    def __init__(self, executor: _Executor) -> None:
        self.executor = executor

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if threading.get_ident() not in _warm_thread:
            _last_import[0] = time.monotonic()
        if path is None:
            wheels = self.executor.index.get(fullname)
            if wheels:
                self.executor.ensure(wheels)
        elif fullname.rpartition(".")[2] in _LATER:  # a package's tests: now, not later
            wheels = self.executor.index.get(fullname.partition(".")[0])
            if wheels:
                self.executor.ensure(wheels, part="later")

    def invalidate_caches(self) -> None:
        return None


def _invalidate_under(folder: str) -> None:
    inside = os.path.join(folder, "")
    for path, finder in list(sys.path_importer_cache.items()):
        invalidate = getattr(finder, "invalidate_caches", None)
        if invalidate is not None and (path == folder or path.startswith(inside)):
            invalidate()


_executor: _Executor | None = None


def _this_executor() -> _Executor:
    """Prepared once per process (call under ``_lock``)."""
    global _executor
    if _executor is None:
        _executor = _Executor(_archive_folder())
        if _executor.in_place:
            _import_in_place_under(os.path.join(_executor.archive, "wheels"))
        sys.meta_path.insert(0, _LazyWheels(_executor))
    return _executor


# --------------------------------------------------------------------------- shared
#
# A fresh ``shared`` load returns before the driver's install is whole (issue 25): the
# folder appears, renamed into place, once complete. Meanwhile a note beside it says the
# driver is installing, and holds the error if the install fails. An executor's first
# import waits while the note is there; without folder or note for a while, the folder
# is not on storage this executor mounts.

_SHARED_WAIT_S = 900.0
"""At most this long, an executor waits for the driver's shared install to be whole."""
_UNSEEN_WAIT_S = 30.0
"""This long, neither folder nor note seen: not storage this executor mounts (a network
file system may show another node's new file only seconds later)."""
_shared_whole: list[str] = []


def installing_note(folder: str) -> str:
    """Beside a shared install while the driver writes it: empty, or the failure."""
    parent, name = os.path.split(folder.rstrip(os.sep))
    return os.path.join(parent, f".{name}.installing")


def _shared_site(folder: str) -> str:
    """``folder`` once the driver's install there is whole; an ImportError naming the
    folder and the fix when it failed, or cannot be seen from this executor."""
    if folder in _shared_whole:
        return folder
    started = time.monotonic()
    pause = 0.02
    note = installing_note(folder)
    # the file an install writes last into its folder, named by the driver
    marker = CONFIG.get("site_marker")
    complete = os.path.join(folder, str(marker)) if marker else folder
    while not os.path.exists(complete):
        waited = time.monotonic() - started
        failure = _note_text(note)
        if failure:
            raise ImportError(
                f"sparkdeps: the driver's install of the shared folder {folder} failed "
                f"({failure}); the driver raised it too: fix that, then load again"
            )
        if failure is None and waited > _UNSEEN_WAIT_S:
            raise ImportError(
                f"sparkdeps: the shared install {folder} is not on this executor: "
                "delivery='shared' needs storage every node mounts at the same path (a "
                "Volume, /dbfs, NFS); use delivery='classic' to ship the wheelhouse instead"
            )
        if waited > _SHARED_WAIT_S:
            raise ImportError(
                f"sparkdeps: the driver's install of the shared folder {folder} is not whole "
                f"after {_SHARED_WAIT_S:.0f}s; see the driver's log, then load again"
            )
        time.sleep(pause)
        pause = min(2 * pause, 0.5)
    _shared_whole.append(folder)
    return folder


def _note_text(note: str) -> str | None:
    """None: no note; "": the driver is installing; else the failure it wrote."""
    try:
        with open(note, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None
    except OSError:  # unreadable: treat as there, the deadline still holds
        return ""


def site_folder() -> str:
    """The folder to import from: the shared one (once whole), or this executor's site
    folder, its metadata and index made (each wheel's code is extracted at its first
    import)."""
    if CONFIG.get("site"):
        return _shared_site(str(CONFIG["site"]))
    with _lock:
        return _this_executor().site


def warm() -> str:
    """The warm-up's entry: prepare this executor and extract every wheel on a
    low-priority background thread; returns at once, with the site folder.

    The thread lives in the Python worker, which Spark keeps for the next task
    (``spark.python.worker.reuse``): the warm-up's task frees the executor's slot in
    milliseconds, and a UDF that arrives meanwhile extracts what it imports itself, or
    waits for the one wheel being extracted. A worker that exits first leaves the rest to
    the first imports (a wheel is marked done only once whole)."""
    if CONFIG.get("site"):  # shared: the worker is started; its first import waits
        return str(CONFIG["site"])  # for the driver's install, not this task
    folder = site_folder()
    with _lock:
        if _warming.is_set():
            return folder
        _warming.set()
        executor = _this_executor()
        _last_import[0] = 0.0  # the warm-up task's own imports: the thread may start at once

    def extract_rest() -> None:
        _warm_thread.append(threading.get_ident())
        with contextlib.suppress(AttributeError, OSError):  # below the UDFs beside it
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: per thread
        with contextlib.suppress(Exception):  # the first import reports any problem
            executor.extract_rest()
            executor.compile_all()

    threading.Thread(target=extract_rest, name="sparkdeps-warm", daemon=True).start()
    return folder


def extract_all() -> str:
    """Everything a warmed executor ends with, made now, in this process: the archive
    folder with every wheel extracted and its bytecode. ``session_conf`` runs it once on
    the driver and packs the folder for executors to unpack as they start."""
    with _lock:
        _node_shared[0] = False  # the folder it runs in, which its caller packs
        executor = _this_executor()
    executor.extract_rest()
    executor.compile_all()  # nothing when the wheelhouse ships bytecode
    return executor.archive


def _sweep_partials(archive: str) -> None:
    """Under the lock no other worker prepares: a partial folder is an older bootstrap's."""
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


# --------------------------------------------------------------------------- in place
#
# Creating files is most of an executor's first import (issue 25: 0.02-0.5 ms a file on
# the benchmark machine's disk, in the kernel). A pure wheel whose code finds no file by
# its path is imported from the wheel itself, as ``zipimport`` does, with the build's
# bytecode: tzdata's 627 files, urllib3's and requests' are never written. Only when the
# build's bytecode serves this interpreter: a zip gets no ``.pyc`` beside it, so without
# it every worker would compile every module again (docs/delivery.md, "In place").

_BY_PATH = re.compile(rb"__file__|__path__|\.origin\b|pkg_resources|__spec__")
"""What a module uses to find files beside it, which a zip does not have."""
_NATIVE = (".so", ".pyd", ".dll", ".dylib", ".pth")
IN_PLACE_VARIABLE = "SPARKDEPS_IN_PLACE"
"""``0`` in an executor's environment: every wheel is extracted (for a package that
finds its files in a way the rule does not see)."""
_SWITCH = {"1": True, "true": True, "yes": True, "on": True}
_SWITCH |= {"0": False, "false": False, "no": False, "off": False, "": True}


def _in_place_allowed() -> bool:
    """What :data:`IN_PLACE_VARIABLE` says (unset: allowed); another value is refused
    before anything is extracted, as a typo that silently did nothing would be."""
    value = os.environ.get(IN_PLACE_VARIABLE, "")
    allowed = _SWITCH.get(value.strip().lower())
    if allowed is None:
        raise ImportError(
            f"sparkdeps: {IN_PLACE_VARIABLE}={value!r} in this executor's environment is "
            f"neither 0 nor 1; set it to 0 to extract every wheel, or unset it"
        )
    return allowed


def importable_in_place(path: str | zipfile.ZipFile) -> bool:
    """Whether the wheel at ``path`` can be imported from the zip: pure (``Root-Is-Purelib``,
    no native file, no ``.data/purelib`` or ``platlib``, no ``.pth``), every module a
    ``.py`` in a regular package (or at the top), and no module that mentions
    ``__file__``, ``__path__``, ``__spec__``, ``.origin`` or ``pkg_resources``."""
    with _opened(path) as wheel:
        names = set(wheel.namelist())
        wheel_info = [name for name in names if name.endswith(".dist-info/WHEEL")]
        if len(wheel_info) != 1:
            return False
        purelib = b"root-is-purelib: true" in wheel.read(wheel_info[0]).lower()
        if not purelib:
            return False
        folders: set[str] = set()  # every folder above a module
        for name in names:
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info"):
                continue
            if top.endswith(".data"):
                if name.split("/")[1:2] in (["purelib"], ["platlib"]):
                    return False  # modules an install would move
                continue  # scripts, headers, data: never imported nor extracted
            if name.endswith(".py"):
                parts = name.split("/")[:-1]
                folders.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
            if name.endswith((*_NATIVE, ".pyc")) or ".libs/" in name:
                return False
            if name.endswith(".py") and _BY_PATH.search(wheel.read(name)):
                return False
    # a folder of modules without __init__.py is a namespace portion, which zipimport
    # finds only through the zip's folder entries (3.10-3.13; wheels rarely have them)
    return all(f"{folder}/__init__.py" in names for folder in folders)


class _InPlace(zipimport.zipimporter):
    """``zipimport`` for a wheel imported in place, taking each module's code from the
    build's bytecode; and naming a module's file without compiling it (``zipimporter``
    compiles a module twice: to name its file, then to run it)."""

    def get_filename(self, fullname: str) -> str:
        tail = fullname.rpartition(".")[2]
        member = f"{tail}{os.sep}__init__.py" if self.is_package(fullname) else f"{tail}.py"
        return os.path.join(self.archive, self.prefix + member)

    def get_code(self, fullname: str) -> Any:
        shipped = _executor.bytecode if _executor is not None else None
        if shipped is not None:
            path = self.get_filename(fullname)
            member = os.path.relpath(path, self.archive)
            code = shipped.code(os.path.join(shipped.site, member), filename=path)
            if code is not None:
                return code
        return super().get_code(fullname)


def _import_in_place_under(folder: str) -> None:
    """A package's own folder inside a wheel imported in place gets an :class:`_InPlace`
    too (the path hook zipimport adds would compile its modules)."""
    inside = os.path.join(folder, "")

    def hook(path: str) -> Any:
        if not path.startswith(inside):
            raise ImportError("not a wheel imported in place")  # the next hook takes it
        return _InPlace(path)

    sys.path_hooks.insert(0, hook)


# --------------------------------------------------------------------------- bytecode


class _Shipped:
    """The wheelhouse's bytecode, read in place: a module's code by its source's path.

    Creating files is the cost here, not reading them (0.3-0.7 ms a file on the
    benchmark machine's disk): writing W1's 591 ``.pyc`` files made a whole
    install 0.6 s slower, where the zip's directory takes a few ms to read once per
    worker (benchmarks/RESULTS.md, issue 25, round 3).
    """

    def __init__(self, archive: str, site: str, member: str) -> None:
        self.path = os.path.join(archive, member)
        self.site = site
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._entries: dict[str, zipfile.ZipInfo] = {}

    def code(self, source: str, *, filename: str | None = None) -> Any:
        """The code compiled at build time for ``source`` (its path in the site folder),
        naming ``filename`` (default: ``source``); None when not shipped."""
        with self._lock:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)  # open for the worker's life
                for info in self._zip.infolist():
                    wheel, _, member = info.filename.partition("/")
                    parts = _parts(member, wheel)
                    if parts is not None:
                        self._entries[os.path.join(self.site, *parts)] = info
            entry = self._entries.get(source)
            if entry is None:
                return None
            data = self._zip.read(entry)
        if data[:4] != importlib.util.MAGIC_NUMBER or not data[4] & 0b01:
            return None  # not the unchecked-hash bytecode sparkdeps builds: compile
        code = marshal.loads(data[16:])
        # as the import system does with a .pyc: the code names its source's real path
        fix: Any = getattr(_imp, "_fix_co_filename", None)
        if fix is not None:
            fix(code, filename or source)
        return code


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


def _compile(source: str) -> None:
    """``source``'s ``.pyc`` unless there is one; a module that does not compile is
    left as it is (importing it fails either way)."""
    try:
        if os.path.exists(importlib.util.cache_from_source(source)):
            return
        with open(source, "rb") as handle:
            code = compile(handle.read(), source, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError, NotImplementedError):
        return
    _write_pyc(source, code)


class _BytecodeWriter(importlib.machinery.SourceFileLoader):
    """A source loader that leaves a ``.pyc`` even where the worker may not write one
    (for modules without shipped bytecode).

    Bytecode once per executor, whatever ``PYTHONDONTWRITEBYTECODE`` says (issue 25):
    importing W1 compiling takes 1.36 s, from ``.pyc`` 0.40 s, and a worker with the
    variable set compiles again at every start. Lazily, at the first import of each
    module, not at extraction: compiling every module of W1 (843 files, tests and all)
    took 5 s where compiling the 276 an import of all of W1 needs took about 0.5 s
    (benchmarks/RESULTS.md, "executor first import").
    """

    def get_code(self, fullname: str) -> Any:
        shipped = _executor.bytecode if _executor is not None else None
        if shipped is not None:
            code = shipped.code(self.path)
            if code is not None:
                return code
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
        shared = CONFIG.get("site")
        folder = _shared_site(str(shared)) if shared else _this_executor().site
        _write_bytecode_under(folder)
        # the site folder first, then each wheel imported in place: before the cluster's own
        # packages, and on the path a spawned child process inherits
        wanted = [folder, *(_executor.in_place_paths() if _executor is not None else [])]
        if sys.path[: len(wanted)] != wanted:
            sys.path[:] = wanted + [entry for entry in sys.path if entry not in wanted]
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
