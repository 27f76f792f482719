"""``build()``: input -> wheelhouse for the target -> published run folder -> task value.

All work happens in a private temporary folder removed at the end, success or
failure. Outside it, only the build cache and ``<dest>/<run_id>/`` (``run.json``
then ``wheelhouse.zip``, each published under a temporary name and renamed)
are written; on failure an empty run folder this call created is removed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from packaging.requirements import Requirement

from .._core import databricks as _databricks
from .._core.errors import InputError, IntegrityError, ResolutionError, SparkdepsError, StorageError
from .._core.hashing import sha256_file
from .._core.manifest import Manifest, WheelInfo, inspect_wheel
from .._core.paths import RUN_MARKER, TASK_VALUE_KEY, WHEELHOUSE_NAME, cache_root, pin_uri
from .._core.progress import plural
from .._core.results import BuildResult
from .._core.runmarker import marker_json
from .._core.stdlib import ALLOW_ENV, shadowing
from .._core.runner import redact
from .._core.storage import PublishConflict, Storage, join_uri, storage_for
from .._core.target import Target, resolve_target
from .._core.timing import Timer, timed
from .._core.wheelhouse import PYLOCK_NAME, open_wheelhouse, write_wheelhouse
from .._version import __version__
from .archive import ArchiveLimits
from .cache import BuildCache
from .export import pylock_text
from .inputs import InputLayout, prepare_input
from .locks import LockPlan, plan_locks
from .requirements import ParsedRequirements, RequirementLine, parse_requirements
from .resolve import IndexSettings, Pin, Resolution, check_closure, check_tags, download, resolve
from .runtime_plan import RuntimeContext, RuntimePlan, classify
from .scm import scm_versions_key
from .wheels import build_project, build_sdist_pin, check_record, make_pure_wheel

__all__ = ["RUN_MARKER", "WHEELHOUSE_NAME", "build"]

logger = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PHASES = ("input", "resolve", "download", "build", "wheelhouse", "publish")


@dataclass
class Clock:
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PHASES, 0.0))

    @contextmanager
    def phase(self, name: str, *, log: bool = True) -> Iterator[None]:
        """Time a phase; a phase that runs twice (``build``) adds up.

        ``log=False`` for a phase with nothing to do (no ``build: 0.00s``) or one
        that reports its own progress (``download``)."""
        with timed(self.timings, name, add=True) as timer:
            yield
        if log:
            logger.info("%s: %.2fs", name, timer.seconds)


def _dest(dest: str | os.PathLike[str] | None) -> str:
    if dest is not None:
        return os.fspath(dest)
    env = os.environ.get("SPARKDEPS_DEST")
    if env:
        return env
    raise InputError(
        "no destination: pass dest= (a folder, file: URI, /Volumes/... or dbfs:/... path), "
        "--dest on the command line, or set SPARKDEPS_DEST"
    )


def build(
    source: str | os.PathLike[str],
    *,
    dest: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    target: str | Target | None = None,
    python_version: str | None = None,
    platform: str | None = None,
    index_url: str | None = None,
    extra_index_urls: Iterable[str] = (),
    find_links: Iterable[str] = (),
    no_index: bool = False,
    index_timeout: float = 30.0,
    index_retries: int = 2,
    build_isolation: bool = True,
    name: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    task_value_key: str | None = TASK_VALUE_KEY,
    allow_index_options: bool = False,
    limits: ArchiveLimits | None = None,
    runtime_packages: str | os.PathLike[str] | None = None,
    override_runtime: Iterable[str] = (),
) -> BuildResult:
    """Turn ``source`` into ``<dest>/<run_id>/wheelhouse.zip`` for the target.

    ``source`` is a ``.zip``, a folder or a requirements file. The target is a
    runtime profile (``"dbr-14.3"``), explicit ``python_version``/``platform``,
    or by default the running interpreter and machine. Each request to the index
    waits at most ``index_timeout`` seconds and is retried ``index_retries`` times.

    A profile (or ``runtime_packages``, a ``pip list --format=freeze`` file of the
    cluster) makes the build runtime-aware: what the runtime already has is not
    shipped, and a conflict with a protected package (numpy, pandas, pyarrow...)
    fails before any download unless its name is in ``override_runtime``
    (docs/runtime-aware.md).
    """
    total = Timer()
    clock = Clock()
    base = _dest(dest)
    run_id = run_id or uuid.uuid4().hex
    if not _RUN_ID.match(run_id):
        raise InputError(
            f"run_id {run_id!r} is not usable as a folder name; use letters, digits, '.', '_', '-'"
        )
    chosen = resolve_target(
        target,
        python_version=python_version,
        platform=platform,
        runtime_packages=runtime_packages,
    )
    overrides = validate_overrides(override_runtime, chosen)
    index = IndexSettings(
        index_url=index_url,
        extra_index_urls=tuple(extra_index_urls),
        find_links=tuple(os.fspath(link) for link in find_links),
        no_index=no_index,
        timeout=index_timeout,
        retries=index_retries,
    )
    storage = storage_for(base)
    _check_dest_outside(source, storage.local_path(base))
    _check_dest(storage, base)  # before any work: a bad dest must not cost a whole build
    work = Path(tempfile.mkdtemp(prefix="sparkdeps-build-"))
    try:
        with clock.phase("input"):
            layout = prepare_input(os.fspath(source), work / "input", limits or ArchiveLimits())
        logger.info("input %s: format %s, %s", layout.name, layout.format, layout.describe())
        cache = BuildCache(cache_root(cache_dir))
        key = BuildCache.key(
            input_digest=layout.digest,
            target=chosen,
            index=index,
            build_isolation=build_isolation,
            name=name,
            extra=f"allow_index_options={allow_index_options}"
            + (f";override_runtime={','.join(overrides)}" if overrides else "")
            + scm_versions_key(),  # a pretended version changes the built wheel
        )
        wheelhouse_path, manifest, cached = None, None, False
        if use_cache:
            hit = cache.lookup(key)
            if hit is not None:
                try:
                    manifest = open_wheelhouse(hit).manifest
                    wheelhouse_path, cached = hit, True
                    logger.info("build cache hit: %s", hit.name)
                except IntegrityError as exc:
                    logger.warning("ignoring a damaged build cache entry %s: %s", hit, exc)
        if wheelhouse_path is None or manifest is None:
            wheelhouse_path, manifest = _make(
                layout,
                target=chosen,
                index=index,
                work=work,
                cache_folder=cache.root,
                clock=clock,
                build_isolation=build_isolation,
                name=name,
                allow_index_options=allow_index_options,
                overrides=overrides,
            )
            digest = sha256_file(wheelhouse_path)
            if use_cache:
                cache.store(key, wheelhouse_path, digest)
        else:
            digest = cache.digest(key) or sha256_file(wheelhouse_path)
        with clock.phase("publish"):
            run_uri = join_uri(base, run_id)
            uri = join_uri(run_uri, WHEELHOUSE_NAME)
            _publish(
                storage,
                wheelhouse=wheelhouse_path,
                run_uri=run_uri,
                uri=uri,
                run_id=run_id,
                digest=digest,
                input_digest=layout.digest,
                work=work,
            )
    except OSError as exc:
        if isinstance(exc, SparkdepsError):
            raise
        # a full disk, a file size limit, an unreadable file: say so, not a bare traceback
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            fix = "free disk space, or point TMPDIR at a disk with room for the input and wheels"
        else:
            fix = f"check that {source} is readable and that TMPDIR ({work.parent}) is writable"
        raise StorageError(f"build failed on a file operation: {exc}; {fix}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    task_value_set = False
    if task_value_key is not None:
        # the digest rides with the path: load refuses a wheelhouse swapped after this build
        task_value_set = _databricks.set_task_value(task_value_key, pin_uri(uri, digest))
    clock.timings["total"] = total.stop()
    logger.info(
        "published %s (%s) in %.2fs",
        uri,
        plural(len(manifest.wheels), "wheel"),
        clock.timings["total"],
    )
    return BuildResult(
        uri=uri,
        run_id=run_id,
        run_uri=run_uri,
        format=manifest.format,
        wheels=tuple(sorted(manifest.wheels, key=lambda w: w.filename)),
        manifest=manifest,
        target=chosen,
        digest=digest,
        timings=dict(clock.timings),
        cached=cached,
        task_value_set=task_value_set,
    )


def validate_overrides(names: Iterable[str], target: Target) -> tuple[str, ...]:
    from packaging.utils import canonicalize_name

    chosen = tuple(sorted({canonicalize_name(name) for name in names if name.strip()}))
    if chosen and target.runtime is None:
        raise InputError(
            f"override_runtime={list(chosen)} needs a target with a runtime package set: "
            "pass a runtime profile (--target dbr-14.3) or --runtime-packages FILE"
        )
    return chosen


def _read_requirements(
    layout: InputLayout, allow_index_options: bool
) -> tuple[list[RequirementLine], list[RequirementLine], IndexSettings, list[str], bool]:
    requirements: list[RequirementLine] = []
    constraints: list[RequirementLine] = []
    extra = IndexSettings()
    editables: list[str] = []
    require_hashes = False
    included: set[str] = set()
    parsed_all: list[ParsedRequirements] = []
    for relative in layout.requirement_files:
        if relative in included:
            continue  # already read through another file's -r
        parsed = parse_requirements(
            layout.root / relative, layout.root, allow_index_options=allow_index_options
        )
        included.update(parsed.files)
        parsed_all.append(parsed)
    for parsed in parsed_all:
        requirements += parsed.requirements
        constraints += parsed.constraints
        editables += parsed.editables
        require_hashes |= parsed.require_hashes
        extra = extra.merged(
            IndexSettings(
                parsed.index_url, parsed.extra_index_urls, parsed.find_links, parsed.no_index
            )
        )
    if not requirements and layout.kinds == ("requirements",):
        raise InputError(
            f"{', '.join(layout.requirement_files)}: no requirements in the file(s); "
            "add one requirement per line, e.g. 'requests>=2.31'"
        )
    return requirements, constraints, extra, editables, require_hashes


@dataclass(frozen=True)
class Planned:
    """The input read, local wheels built and everything resolved: nothing downloaded yet."""

    requirements: list[RequirementLine]
    index: IndexSettings
    local: dict[Path, WheelInfo]
    resolution: Resolution
    plan: RuntimePlan | None
    require_hashes: bool
    locks: LockPlan = field(default_factory=LockPlan)
    """The input's locks: when there are any, ``resolution`` is theirs (docs: README)."""


def plan_input(
    layout: InputLayout,
    *,
    target: Target,
    index: IndexSettings,
    work: Path,
    cache_folder: Path,
    clock: Clock,
    build_isolation: bool,
    name: str | None,
    allow_index_options: bool,
    overrides: tuple[str, ...] = (),
) -> Planned:
    """Read requirements, build local projects and resolve (``check`` stops here)."""
    locks = plan_locks(
        layout, target, work=work, cache_dir=cache_folder / "uv",
        allow_index_options=allow_index_options,
    )
    requirements, constraints, from_files, editables, require_hashes = _read_requirements(
        locks.remaining(layout), allow_index_options
    )
    constraints += locks.constraints
    if allow_index_options:
        index = index.merged(from_files)
    local_dir = work / "local"
    local_dir.mkdir()
    local: dict[Path, WheelInfo] = {}
    origins: dict[str, str] = {}

    projects = list(dict.fromkeys([*layout.projects, *editables]))
    with clock.phase("build", log=bool(projects or layout.modules)):
        for relative in layout.wheels:
            copied = local_dir / Path(relative).name
            shutil.copyfile(layout.root / relative, copied)
            info = inspect_wheel(copied, source="provided")
            check_record(copied, relative)
            local[copied] = info
            origins[info.name] = f"wheel {relative}"
        for relative in projects:
            wheel = build_project(
                layout.root / relative,
                local_dir,
                index=index,
                isolation=build_isolation,
                shown=relative or ".",
            )
            info = inspect_wheel(wheel, source="built")
            local[wheel] = info
            origins[info.name] = f"project {relative or '.'}"
        if layout.modules:
            wheel = make_pure_wheel(layout.root, layout.modules, name or layout.name, local_dir)
            info = inspect_wheel(wheel, source="generated")
            local[wheel] = info
            origins[info.name] = "modules " + ", ".join(layout.modules)
    _check_duplicates(local.values())
    check_tags(local.values(), target)

    context = RuntimeContext.of(target, overrides)
    with clock.phase("resolve"):
        if locks.locked:  # installed as locked: no resolver
            resolution = locks.resolution(local, requirements, constraints, runtime=context)
        else:
            resolution = resolve(
                requirements,
                constraints,
                local,
                target=target,
                index=index,
                work=work,
                cache_dir=cache_folder / "uv",
                origins=origins,
                runtime=context,
            )
        plan = runtime_plan(resolution, context)
    return Planned(requirements, index, local, resolution, plan, require_hashes, locks)


def _make(
    layout: InputLayout,
    *,
    target: Target,
    index: IndexSettings,
    work: Path,
    cache_folder: Path,
    clock: Clock,
    build_isolation: bool,
    name: str | None,
    allow_index_options: bool,
    overrides: tuple[str, ...] = (),
) -> tuple[Path, Manifest]:
    planned = plan_input(
        layout,
        target=target,
        index=index,
        work=work,
        cache_folder=cache_folder,
        clock=clock,
        build_isolation=build_isolation,
        name=name,
        allow_index_options=allow_index_options,
        overrides=overrides,
    )
    requirements, index, local = planned.requirements, planned.index, planned.local
    resolution, plan, locks = planned.resolution, planned.plan, planned.locks
    shipped = [pin for pin in resolution.pins if plan is None or plan.ships(pin.name)]
    if planned.require_hashes:
        _check_all_hashed(shipped)
    if plan is not None:
        plan.warn_overrides()

    with clock.phase("download", log=False):  # the download tracker logs its own end
        downloaded_dir = work / "downloaded"
        remote = [pin for pin in shipped if pin.local is None and not pin.sdist_only]
        downloaded = download(remote, target, index, downloaded_dir, cache_dir=cache_folder / "pip")

    sdists = [pin for pin in shipped if pin.sdist_only]
    with clock.phase("build", log=bool(sdists)):
        built = [build_sdist_pin(pin, target, index, work / "sdists") for pin in sdists]

    wheels: dict[Path, WheelInfo] = {}
    for pin in resolution.pins:
        if pin.local is not None:
            wheels[pin.local] = local[pin.local]
    for path in downloaded:
        wheels[path] = inspect_wheel(path, source="index")
    for path in built:
        wheels[path] = inspect_wheel(path, source="sdist")
    infos = list(wheels.values())
    _check_duplicates(infos)
    check_tags(infos, target)
    roots = [line.requirement for line in requirements]
    roots += [Requirement(str(info.name)) for info in local.values()]
    provided = {p.name: p.version for p in plan.relied_on} if plan is not None else {}
    (locks.check_closure if locks.locked else check_closure)(
        infos, target, roots, provided=provided
    )
    _check_stdlib(infos)

    with clock.phase("wheelhouse"):
        runtime_section = None
        if plan is not None:
            runtime_section = plan.manifest_section(infos, roots, target)
            wheels = {path: plan.mark(info) for path, info in wheels.items()}
            infos = list(wheels.values())
        manifest = Manifest(
            format=layout.format,
            target=target.to_dict(),
            wheels=tuple(sorted(infos, key=lambda w: w.filename)),
            input_digest=layout.digest,
            inputs={**layout.to_dict(), **locks.report(resolution)},
            runtime=runtime_section,
        )
        out = work / WHEELHOUSE_NAME
        pylock = pylock_text(manifest).encode("utf-8")
        write_wheelhouse(list(wheels), manifest, out, extra={PYLOCK_NAME: pylock})
    return out, manifest


def runtime_plan(resolution: Resolution, context: RuntimeContext | None) -> RuntimePlan | None:
    """Place every pin against the runtime (None for targets without a package set)."""
    if context is None:
        return None
    return classify(
        ((pin.name, pin.version, pin.local is not None) for pin in resolution.pins), context
    )


def _check_stdlib(infos: Iterable[WheelInfo]) -> None:
    for info in infos:
        shadowed = shadowing(info.top_level)
        if shadowed:
            raise InputError(
                f"{info.filename} carries top-level {', '.join(shadowed)}, which would shadow "
                "the standard library on every node; rename or drop them, or set "
                f"{ALLOW_ENV}={','.join(shadowed)} if you really mean it"
            )


def _check_all_hashed(pins: Iterable[Pin]) -> None:
    # pip's --require-hashes covers dependencies too: keep that promise
    unhashed = [pin.spec for pin in pins if pin.local is None and not pin.hashes]
    if unhashed:
        raise ResolutionError(
            "--require-hashes is set but these resolved packages have no --hash: "
            + ", ".join(unhashed)
            + "; add a pinned line with --hash=sha256:<digest> for each of them to the "
            "requirements file, or remove --require-hashes"
        )


def _check_duplicates(infos: Iterable[WheelInfo]) -> None:
    seen: dict[str, str] = {}
    for info in infos:
        if info.name in seen and seen[info.name] != info.filename:
            raise InputError(
                f"two wheels for {info.name}: {seen[info.name]} and {info.filename}; "
                "keep one version in the input"
            )
        seen[info.name] = info.filename


def _check_dest(storage: Storage, base: str) -> None:
    """The dest is a folder (or can become one) that this process can write to.

    Probes with a temporary file in the dest, or in its nearest existing parent
    when the dest does not exist yet, and removes it: nothing is left behind.
    """
    path = storage.local_path(base)
    if path is None:
        return  # dbfs: through dbutils: publishing will say what went wrong
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    shown = redact(base)
    if not existing.is_dir():
        what = "is a file" if existing == path else f"is below {existing}, which is a file"
        raise StorageError(
            f"dest {shown} {what}, not a folder; fix: pass a folder for --dest/dest= "
            "(run folders are created inside it)"
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".sparkdeps-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise StorageError(
            f"cannot write to dest {shown} ({existing}: {exc.strerror or exc}); fix: pass a "
            "--dest/dest= folder this user can write to, or fix its permissions or mount"
        ) from exc


def _check_dest_outside(source: str | os.PathLike[str], dest: Path | None) -> None:
    """A dest inside a folder input would feed this build's wheelhouse to the next build."""
    folder = Path(source).expanduser()
    if dest is None or not folder.is_dir():
        return
    inside, where = folder.resolve(), dest.resolve()
    if where == inside or where.is_relative_to(inside):
        raise InputError(
            f"dest {dest} is inside the input folder {source}: the next build would take "
            "this one's wheelhouse in as input; pass a dest outside the input folder"
        )


def _publish(
    storage: Storage,
    *,
    wheelhouse: Path,
    run_uri: str,
    uri: str,
    run_id: str,
    digest: str,
    input_digest: str,
    work: Path,
) -> None:
    taken = (
        f"{redact(run_uri)} is taken: another build published run id {run_id} there (run ids "
        "must be fresh); pass another run_id (or none, for a new uuid)"
    )
    if storage.exists(uri):
        raise StorageError(taken.replace(" is taken:", "/wheelhouse.zip already exists:"))
    created = not storage.exists(run_uri)
    marker = work / RUN_MARKER
    marker.write_text(marker_json(run_id, digest, input_digest, __version__), encoding="utf-8")
    # The marker is claimed with an exclusive create: of several builds racing for one
    # run id, exactly one gets it and publishes; the others stop here and touch nothing.
    try:
        storage.publish(marker, join_uri(run_uri, RUN_MARKER), exclusive=True)
    except PublishConflict as exc:
        raise StorageError(f"{taken}; {redact(run_uri)}/{RUN_MARKER} already exists") from exc
    try:
        storage.publish(wheelhouse, uri, exclusive=True)
    except BaseException:
        try:
            if created:
                storage.remove_tree(run_uri)
            else:
                storage.remove_tree(join_uri(run_uri, RUN_MARKER))
        except StorageError:
            logger.warning("could not remove the partial run folder %s", redact(run_uri))
        raise
