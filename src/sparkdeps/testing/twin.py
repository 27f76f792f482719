"""Runtime twins: a local venv that looks like a Databricks runtime to Python code.

A twin has the runtime's Python minor version (found locally, never downloaded),
``pyspark==`` the runtime's Spark version (Databricks' Spark x.y.z maps to the
open-source pyspark x.y.z) and the runtime's packages at the runtime's versions
(docs/facts.md, fact 14):

* ``core``: pyspark's own runtime dependencies (pyarrow, pandas, numpy) and the
  protected packages (:data:`sparkdeps._core.runtimes.PROTECTED`), with what they
  require, pinned by the runtime's set;
* ``all``: core, then every other package of the set that installs from a wheel
  on this machine (``--no-deps``: the set is already the runtime's closure).

What could not be installed is reported in :attr:`Twin.not_installed` and logged;
nothing is skipped silently. Serverless environments pin no Spark version: their
twins need ``pyspark=`` (the CLI's ``--pyspark``). Twins are cached by the digest
of what they hold: asking again for the same twin returns at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from .._core.errors import CommandError, InputError, TargetError
from .._core.paths import cache_root
from .._core.runner import clean_env, run, uv_command
from .._core.runtimes import PROTECTED, RuntimePackages, canonical_name, runtime_packages
from ._interpreters import find_interpreter
from ._runtime_deps import RUNTIME_DEPS
from ._twinfolder import (
    PARTIAL_MARKER,
    TWIN_MARKER,
    check_destination,
    claim,
    destination_lock,
    record_entries,
    release,
)

__all__ = [
    "TWIN_MARKER",
    "NotInstalled",
    "PackageSet",
    "Twin",
    "TwinSpec",
    "create_twin",
    "read_twin",
    "running_twin",
    "twin_home",
    "twin_spec",
]

logger = logging.getLogger(__name__)

PackageSet = Literal["core", "all"]
_BOX_DRAWING = " \u2570\u2500\u25b6\u00d7\u2502"  # uv's error decorations
_PIN_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s,;`'\"()]*)")


@dataclass(frozen=True)
class NotInstalled:
    name: str
    version: str
    reason: str


@dataclass(frozen=True)
class TwinSpec:
    """What a twin of ``profile`` holds; :attr:`digest` names it in caches."""

    profile: str
    packages: PackageSet
    python_version: str
    pyspark_version: str
    core: Mapping[str, str]
    """Canonical name -> version installed with dependencies."""
    rest: Mapping[str, str]
    """The set's other packages (``all`` only), installed ``--no-deps``."""
    constraints: Mapping[str, str]
    """The whole runtime set: pins for whatever core pulls in."""

    @property
    def digest(self) -> str:
        text = json.dumps(
            {
                "profile": self.profile,
                "packages": self.packages,
                "python": self.python_version,
                "pyspark": self.pyspark_version,
                "set": RuntimePackages(self.profile, self.constraints).digest,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Twin:
    """A created (or found) twin."""

    profile: str
    root: Path
    python: Path
    python_version: str
    pyspark_version: str
    packages: PackageSet
    digest: str
    installed: Mapping[str, str] = field(default_factory=dict)
    not_installed: tuple[NotInstalled, ...] = ()
    reused: bool = False


def twin_spec(profile: str, packages: PackageSet = "core", pyspark: str | None = None) -> TwinSpec:
    """The twin of ``profile``: its Python, pyspark and package pins."""
    if packages not in ("core", "all"):
        raise InputError(f"packages must be 'core' or 'all', got {packages!r}")
    runtime = runtime_packages(profile)
    if runtime.python_version is None:
        raise TargetError(f"{profile}: its package set names no Python version")
    spark = pyspark or runtime.spark_version
    if spark is None:
        raise TargetError(
            f"{profile} pins no Spark version (serverless environments move with Databricks "
            "Connect): name the pyspark the twin gets, e.g. --pyspark 3.5.0 for v1-v3, "
            "--pyspark 4.0.0 for v4"
        )
    wanted = {canonical_name(name) for name in (*RUNTIME_DEPS, *PROTECTED)}
    core = {name: version for name, version in runtime.packages.items() if name in wanted}
    rest = (
        {n: v for n, v in runtime.packages.items() if n not in core and n != "pyspark"}
        if packages == "all"
        else {}
    )
    return TwinSpec(
        profile=profile,
        packages=packages,
        python_version=runtime.python_version,
        pyspark_version=spark,
        core=MappingProxyType(core),
        rest=MappingProxyType(rest),
        constraints=runtime.packages,
    )


def twin_home(profile: str, packages: PackageSet = "core", pyspark: str | None = None) -> Path:
    """Where the pytest plugin keeps the twin of ``profile``: the sparkdeps cache."""
    spec = twin_spec(profile, packages, pyspark)
    return cache_root() / "twins" / f"{profile}-{packages}-{spec.digest[:16]}"


_MARKER_KEYS = (
    "profile",
    "python_version",
    "pyspark_version",
    "packages",
    "digest",
    "installed",
    "not_installed",
)


def _marker(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the twin marker's data, None) or (None, what is wrong with it; None: no marker)."""
    path = folder / TWIN_MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read as JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"{path} holds {type(data).__name__}, not an object"
    missing = [key for key in _MARKER_KEYS if key not in data]
    if missing:
        return None, f"{path} lacks {', '.join(missing)}"
    return data, None


def read_twin(root: str | os.PathLike[str]) -> Twin | None:
    """The finished twin at ``root``, or None (also when its marker is damaged)."""
    folder = Path(root).absolute()
    data, _problem = _marker(folder)
    if data is None:
        return None
    try:
        return Twin(
            profile=str(data["profile"]),
            root=folder,
            python=folder / "bin" / "python",
            python_version=str(data["python_version"]),
            pyspark_version=str(data["pyspark_version"]),
            packages=data["packages"],
            digest=str(data["digest"]),
            installed=MappingProxyType(dict(data["installed"])),
            not_installed=tuple(NotInstalled(**item) for item in data["not_installed"]),
            reused=True,
        )
    except (TypeError, ValueError) as exc:  # keys present, values of the wrong shape
        logger.warning("%s is damaged (%s): not a finished twin", folder / TWIN_MARKER, exc)
        return None


def running_twin() -> Twin | None:
    """The twin this interpreter runs in, if it is one."""
    return read_twin(sys.prefix)


def create_twin(
    profile: str,
    dest: str | os.PathLike[str],
    *,
    python: str | os.PathLike[str] | None = None,
    packages: PackageSet = "core",
    pyspark: str | None = None,
    index_url: str | None = None,
    find_links: Sequence[str | os.PathLike[str]] = (),
    no_index: bool = False,
) -> Twin:
    """Create the twin of ``profile`` at ``dest`` (reused when it already holds it).

    Everything is checked before anything is deleted: the profile, the interpreter
    (``python``) and ``dest`` itself (a folder that is empty, or a twin sparkdeps made:
    :mod:`._twinfolder`). One run at a time per ``dest`` (a lock in the sparkdeps
    cache): a second run waits, then reuses what the first made.
    """
    spec = twin_spec(profile, packages, pyspark)
    root = Path(dest).absolute()
    found = read_twin(root)
    if found is not None and found.digest == spec.digest:
        logger.info("twin %s at %s is current (digest %s)", profile, root, spec.digest[:16])
        return found
    check_destination(root, _marker(root)[1])
    interpreter = find_interpreter(spec.python_version, python)
    with destination_lock(root):
        found = read_twin(root)  # another run may have made it while this one waited
        if found is not None and found.digest == spec.digest:
            logger.info("twin %s at %s was made meanwhile; reusing it", profile, root)
            return found
        created = claim(root, _marker(root)[1])
        logger.info("creating twin of %s at %s (Python %s)", profile, root, spec.python_version)
        try:
            twin = _build(spec, root, interpreter, _index_args(index_url, find_links, no_index))
        except BaseException:
            release(root, created)
            raise
        record_entries(root)
    for item in twin.not_installed:
        logger.warning("twin %s: not installed %s==%s: %s", profile, *_fields(item))
    return twin


def _fields(item: NotInstalled) -> tuple[str, str, str]:
    return item.name, item.version, item.reason


def _index_args(
    index_url: str | None, find_links: Sequence[str | os.PathLike[str]], no_index: bool
) -> list[str]:
    args: list[str] = []
    if index_url:
        args += ["--index-url", index_url]
    for link in find_links:
        args += ["--find-links", os.fspath(link)]
    if no_index:
        args.append("--no-index")
    return args


def _build(spec: TwinSpec, root: Path, interpreter: Path, index: list[str]) -> Twin:
    (root / PARTIAL_MARKER).write_text("creating\n", encoding="utf-8")
    run([interpreter, "-m", "venv", "--without-pip", root], what=f"creating the venv {root}")
    python = root / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="sparkdeps-twin-") as scratch:
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text(
            "".join(f"{n}=={v}\n" for n, v in spec.constraints.items()), encoding="utf-8"
        )
        logger.info("twin %s: installing pyspark==%s", spec.profile, spec.pyspark_version)
        # pyspark is published as an sdist only: the one package allowed to build.
        _uv_install(python, [f"pyspark=={spec.pyspark_version}"], [*index, "-c", str(constraints)])
        logger.info("twin %s: installing %d core package(s)", spec.profile, len(spec.core))
        skipped = _install_each(python, spec.core, [*index, "--no-build", "-c", str(constraints)])
        if spec.rest:
            logger.info("twin %s: installing %d more package(s)", spec.profile, len(spec.rest))
            skipped += _install_each(python, spec.rest, [*index, "--no-build", "--no-deps"])
    installed = _installed(python)
    twin = Twin(
        profile=spec.profile,
        root=root,
        python=python,
        python_version=spec.python_version,
        pyspark_version=spec.pyspark_version,
        packages=spec.packages,
        digest=spec.digest,
        installed=MappingProxyType(installed),
        not_installed=tuple(skipped),
    )
    _write_marker(twin)
    (root / PARTIAL_MARKER).unlink()
    logger.info("twin %s ready: %d package(s) at %s", spec.profile, len(installed), root)
    return twin


def _uv_install(python: Path, requirements: list[str], options: list[str]) -> None:
    run(
        [*uv_command(), "pip", "install", "--python", python, *options, *requirements],
        what=f"installing {len(requirements)} package(s) into the twin",
        env=clean_env(),
    )


def _install_each(python: Path, pins: Mapping[str, str], options: list[str]) -> list[NotInstalled]:
    """Install ``pins`` in one go; drop each pin an attempt names as failing, and retry."""
    left = dict(pins)
    skipped: list[NotInstalled] = []
    while left:
        try:
            _uv_install(python, [f"{n}=={v}" for n, v in left.items()], options)
            return skipped
        except CommandError as exc:
            culprit = _culprit(exc.output, left)
            if culprit is None:
                raise
            reason = _reason(exc.output, culprit)
            logger.info("twin: cannot install %s==%s (%s)", culprit, left[culprit], reason)
            skipped.append(NotInstalled(culprit, left.pop(culprit), reason))
    return skipped


def _culprit(output: str, left: Mapping[str, str]) -> str | None:
    for match in _PIN_RE.finditer(output):
        name = canonical_name(match.group(1))
        if name in left:
            return name
    return None


def _reason(output: str, name: str) -> str:
    for line in output.splitlines():
        if name in canonical_name(line) or name in line.lower():
            return line.strip(_BOX_DRAWING).strip()[:300]
    return "the installer refused it"


def _installed(python: Path) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    completed = subprocess.run(
        [os.fspath(python), "-c", code], capture_output=True, text=True, check=True
    )
    found = json.loads(completed.stdout)
    return {canonical_name(name): version for name, version in sorted(found.items())}


def _write_marker(twin: Twin) -> None:
    data = {
        "profile": twin.profile,
        "python_version": twin.python_version,
        "pyspark_version": twin.pyspark_version,
        "packages": twin.packages,
        "digest": twin.digest,
        "installed": dict(twin.installed),
        "not_installed": [item.__dict__ for item in twin.not_installed],
    }
    (twin.root / TWIN_MARKER).write_text(json.dumps(data, indent=1), encoding="utf-8")
