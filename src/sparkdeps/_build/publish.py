"""Publishing a build, ``build()``: input -> wheelhouse -> published run folder -> task value.

The wheelhouse comes from the build cache, or on a miss from :mod:`.make`; this module
owns the dest, the build cache and publishing.

All work happens in a private temporary folder removed at the end, success or
failure. Outside it, only the build cache and ``<dest>/<run_id>/`` are written:
``run.json`` (claimed exclusively), the pip-native form (``wheels/``, ``pylock.toml``,
``requirements.txt``: ``_build/pipnative.py``), then ``wheelhouse.zip``, each published
under a temporary name and renamed; on failure what this call wrote is removed.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._core import databricks as _databricks
from .._core.errors import InputError, IntegrityError, SparkdepsError, StorageError
from .._core.hashing import sha256_file
from .._core.manifest import Manifest
from .._core.options import BuildKeywords, BuildOptions
from .._core.paths import RUN_MARKER, TASK_VALUE_KEY, WHEELHOUSE_NAME, cache_root, pin_uri
from .._core.pipform import PIP_WHEELS
from .._core.progress import plural
from .._core.results import BuildResult
from .._core.runmarker import marker_json
from .._core.runner import redact
from .._core.storage import PublishConflict, Storage, join_uri, storage_for
from .._core.timing import Timer
from .._core.wheelhouse import read_manifest
from .._version import __version__
from .archive import ArchiveLimits
from .bytecode import cache_key as bytecode_cache_key
from .cache import BuildCache
from .clock import Clock
from .inputs import InputLayout, prepare_input
from .pipnative import PipForm, stage_pip_form
from .recipe import Recipe, option_keywords, recipe_for
from .scm import scm_versions_key

__all__ = ["RUN_MARKER", "WHEELHOUSE_NAME", "build"]

if TYPE_CHECKING:  # Python 3.12 has it in typing
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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


@option_keywords
def build(
    source: str | os.PathLike[str],
    *,
    dest: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    use_cache: bool = True,
    task_value_key: str | None = TASK_VALUE_KEY,
    **options: Unpack[BuildKeywords],
) -> BuildResult:
    """Turn ``source`` (a ``.zip``, a folder or a requirements file) into
    ``<dest>/<run_id>/wheelhouse.zip`` for the target: a runtime profile (``"dbr-14.3"``),
    explicit ``python_version``/``platform``, or by default this interpreter and machine.
    An index request waits ``index_timeout`` s at most, retried ``index_retries`` times.

    A profile (or ``runtime_packages``, the cluster's ``pip list --format=freeze``) makes
    the build runtime-aware (docs/runtime-aware.md): the runtime's versions bind
    (``prefer_newest=True``: only prefer) and do not ship; a protected package (numpy,
    pyspark...) moves only if in ``override_runtime``. At most ``max_size_mb`` ships.
    Example: ``sparkdeps.build("requirements.txt", dest="/Volumes/main/default/deps").uri``.
    """
    total, clock = Timer(), Clock()
    chosen = BuildOptions.of(options, "build")
    base, run_id = _dest(dest), _run_id(run_id)
    recipe = recipe_for(chosen)
    published = _made_and_published(
        source,
        recipe,
        base,
        run_id,
        clock,
        cache_dir=chosen.cache_dir,
        limits=chosen.limits,
        use_cache=use_cache,
    )
    return _result(published, recipe, clock, total, task_value_key)


@dataclass(frozen=True)
class _Published:
    made: _Made
    run_id: str
    run_uri: str
    uri: str


def _made_and_published(
    source: str | os.PathLike[str],
    recipe: Recipe,
    base: str,
    run_id: str,
    clock: Clock,
    *,
    cache_dir: str | os.PathLike[str] | None,
    limits: ArchiveLimits | None,
    use_cache: bool,
) -> _Published:
    """Check the dest, make the wheelhouse in a private work folder (or take it from the
    build cache) and publish it."""
    storage = storage_for(base)
    _check_dest_outside(source, storage.local_path(base))
    _check_dest(storage, base)  # before any work: a bad dest must not cost a whole build
    work = Path(tempfile.mkdtemp(prefix="sparkdeps-build-"))
    try:
        with clock.phase("input"):
            layout = prepare_input(os.fspath(source), work / "input", limits or ArchiveLimits())
        logger.info("input %s: format %s, %s", layout.name, layout.format, layout.describe())
        made = _cached_or_made(
            layout, recipe, BuildCache(cache_root(cache_dir)), work, clock, use_cache=use_cache
        )
        with clock.phase("publish"):
            run_uri = join_uri(base, run_id)
            uri = join_uri(run_uri, WHEELHOUSE_NAME)
            _publish(storage, made, run_uri=run_uri, uri=uri, run_id=run_id, work=work)
    except OSError as exc:
        if isinstance(exc, SparkdepsError):
            raise
        raise _file_error(exc, source, work) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _Published(made, run_id, run_uri, uri)


def _result(
    published: _Published, recipe: Recipe, clock: Clock, total: Timer, task_value_key: str | None
) -> BuildResult:
    """Set the task value, log and return what ``build()`` returns."""
    made, uri = published.made, published.uri
    task_value_set = False
    if task_value_key is not None:
        # the digest rides with the path: load refuses a wheelhouse swapped after this build
        task_value_set = _databricks.set_task_value(task_value_key, pin_uri(uri, made.digest))
    clock.timings["total"] = total.stop()
    wheels = plural(len(made.manifest.wheels), "wheel")
    logger.info("published %s (%s) in %.2fs", redact(uri), wheels, total.seconds)
    return BuildResult(
        uri=uri,
        run_id=published.run_id,
        run_uri=published.run_uri,
        format=made.manifest.format,
        wheels=tuple(sorted(made.manifest.wheels, key=lambda w: w.filename)),
        manifest=made.manifest,
        target=recipe.target,
        digest=made.digest,
        timings=dict(clock.timings),
        cached=made.cached,
        task_value_set=task_value_set,
    )


@dataclass(frozen=True)
class _Made:
    """A wheelhouse in the work folder (or the build cache), ready to publish."""

    path: Path
    manifest: Manifest
    digest: str
    input_digest: str
    cached: bool


def _check_dest(storage: Storage, base: str) -> None:
    """The dest can take run folders (a writable folder, a bucket that exists, a Volume)."""
    storage.check_writable(base)
    if storage.local_path(base) is None:
        # CI publishing to a Volume, a bucket: say where the bytes go (issue 26)
        logger.info("publishing to %s through %s", redact(base), storage.via)


def _run_id(run_id: str | None) -> str:
    chosen = run_id or uuid.uuid4().hex
    if not _RUN_ID.match(chosen):
        raise InputError(
            f"run_id {chosen!r} is not usable as a folder name",
            fix="use letters, digits, '.', '_', '-'",
        )
    return chosen


def _file_error(exc: OSError, source: str | os.PathLike[str], work: Path) -> StorageError:
    """A full disk, a file size limit, an unreadable file: say so, not a bare traceback."""
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        fix = "free disk space, or point TMPDIR at a disk with room for the input and wheels"
    else:
        fix = f"check that {source} is readable and that TMPDIR ({work.parent}) is writable"
    return StorageError(f"build failed on a file operation: {exc}; {fix}")


def _cached_or_made(
    layout: InputLayout,
    recipe: Recipe,
    cache: BuildCache,
    work: Path,
    clock: Clock,
    *,
    use_cache: bool,
) -> _Made:
    """The build cache's wheelhouse for this input and recipe, else a new one (then cached)."""
    key = BuildCache.key(
        input_digest=layout.digest,
        target=recipe.target,
        index=recipe.index,
        build_isolation=recipe.build_isolation,
        name=recipe.name,
        extra=f"allow_index_options={recipe.allow_index_options}"
        + (f";override_runtime={','.join(recipe.overrides)}" if recipe.overrides else "")
        + (_strategy(recipe) if recipe.target.runtime is not None else "")
        + scm_versions_key()  # a pretended version changes the built wheel
        + bytecode_cache_key(recipe.target, recipe.bytecode),
    )
    hit = cache.lookup(key) if use_cache else None
    if hit is not None:
        try:
            manifest = read_manifest(hit)
        except IntegrityError as exc:
            logger.warning("ignoring a damaged build cache entry %s: %s", hit, exc)
        else:
            logger.info("build cache hit: %s", hit.name)
            digest = cache.digest(key) or sha256_file(hit)
            return _Made(hit, manifest, digest, layout.digest, cached=True)
    from .make import make_wheelhouse  # noqa: PLC0415

    path, manifest = make_wheelhouse(
        layout, recipe, work=work, cache_folder=cache.root, clock=clock
    )
    digest = sha256_file(path)
    if use_cache:
        cache.store(key, path, digest)
    return _Made(path, manifest, digest, layout.digest, cached=False)


def _strategy(recipe: Recipe) -> str:
    """How runtime versions bind the resolution: part of a runtime-aware build's key."""
    return ";resolution=" + ("prefer-newest" if recipe.prefer_newest else "runtime-first")


def _check_dest_outside(source: str | os.PathLike[str], dest: Path | None) -> None:
    """A dest inside a folder input would feed this build's wheelhouse to the next build."""
    folder = Path(source).expanduser()
    if dest is None or not folder.is_dir():
        return
    inside, where = folder.resolve(), dest.resolve()
    if where == inside or where.is_relative_to(inside):
        raise InputError(
            f"dest {dest} is inside the input folder {source}: the next build would take "
            "this one's wheelhouse in as input",
            fix="pass a dest outside the input folder",
        )


def _publish(
    storage: Storage, made: _Made, *, run_uri: str, uri: str, run_id: str, work: Path
) -> None:
    """``run.json``, the pip-native form, then ``wheelhouse.zip`` into a fresh run folder
    (removed again on failure)."""
    taken = (
        f"{redact(run_uri)} is taken: another build published run id {run_id} there (run ids "
        "must be fresh); pass another run_id (or none, for a new uuid)"
    )
    if storage.exists(uri):
        raise StorageError(taken.replace(" is taken:", "/wheelhouse.zip already exists:"))
    created = not storage.exists(run_uri)
    # staged before anything is published; published before the zip, so a run whose zip
    # exists has all of its pip-native form
    pip_form = stage_pip_form(made.path, made.manifest, run_uri, work)
    marker = work / RUN_MARKER
    marker.write_text(
        marker_json(run_id, made.digest, made.input_digest, __version__), encoding="utf-8"
    )
    # The marker is claimed with an exclusive create: of several builds racing for one
    # run id, exactly one gets it and publishes; the others stop here and touch nothing.
    try:
        storage.publish(marker, join_uri(run_uri, RUN_MARKER), exclusive=True)
    except PublishConflict as exc:
        raise StorageError(f"{taken}; {redact(run_uri)}/{RUN_MARKER} already exists") from exc
    try:
        for local, target in pip_form.files if pip_form else ():
            storage.publish(local, target)
        storage.publish(made.path, uri, exclusive=True)
    except BaseException:
        _unpublish(storage, run_uri, created=created, pip_form=pip_form)
        raise


def _unpublish(storage: Storage, run_uri: str, *, created: bool, pip_form: PipForm | None) -> None:
    """Take back what a failed publish wrote: the run folder this build created, else its
    marker and pip-native form (another's files in a folder that existed stay)."""
    try:
        if created:
            storage.remove_tree(run_uri)
            return
        storage.remove_tree(join_uri(run_uri, RUN_MARKER))
        for target in pip_form.uris if pip_form else ():
            storage.remove_tree(target)
        if pip_form and not storage.list_dir(join_uri(run_uri, PIP_WHEELS)):
            storage.remove_tree(join_uri(run_uri, PIP_WHEELS))
    except StorageError:
        logger.warning("could not remove the partial run folder %s", redact(run_uri))
