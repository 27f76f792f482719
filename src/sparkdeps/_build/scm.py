"""Projects that take their version from git (setuptools-scm, hatch-vcs) but have no git.

A GitHub "Download ZIP" (or a copied folder) has no ``.git``; setuptools-scm and
hatch-vcs then fail the build with a ``LookupError`` far from the cause. This
is checked before building, and the message says how to pass the version:
``SETUPTOOLS_SCM_PRETEND_VERSION`` (both tools read it, and sparkdeps passes the
environment on to the build backend).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .._core.errors import BuildError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - build (a dependency of the build half) brings tomli on 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "check_vcs_version",
    "pretend_variable",
    "pretend_versions",
    "scm_versions_key",
    "uses_vcs_version",
]

_SETUP_PY_SCM = re.compile(r"use_scm_version|setuptools_scm")
_UNFILLED_ARCHIVAL = "$Format:"


def _pyproject(project: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def uses_vcs_version(project: Path) -> str | None:
    """``setuptools-scm`` or ``hatch-vcs`` when the version comes from git with no fallback."""
    data = _pyproject(project)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    assert isinstance(tool, dict)
    requires = data.get("build-system", {})
    requires = requires.get("requires", []) if isinstance(requires, dict) else []
    needs = " ".join(str(item) for item in requires).lower().replace("_", "-")
    hatch = tool.get("hatch", {}) if isinstance(tool.get("hatch"), dict) else {}
    version_source = hatch.get("version", {}) if isinstance(hatch, dict) else {}
    vcs_source = isinstance(version_source, dict) and version_source.get("source") == "vcs"
    if "hatch-vcs" in needs or vcs_source:
        if isinstance(version_source, dict) and version_source.get("fallback-version"):
            return None
        return "hatch-vcs"
    scm = tool.get("setuptools_scm")
    setup_py = project / "setup.py"
    uses_setup_py = setup_py.is_file() and _SETUP_PY_SCM.search(
        setup_py.read_text("utf-8", "replace")
    )
    if "setuptools-scm" in needs or scm is not None or uses_setup_py:
        if isinstance(scm, dict) and scm.get("fallback_version"):
            return None
        return "setuptools-scm"
    return None


def _has_vcs_metadata(project: Path) -> bool:
    for folder in [project, *project.parents]:
        if (folder / ".git").exists() or (folder / ".hg").exists():
            return True
    if (project / "PKG-INFO").is_file():  # an unpacked sdist carries its version
        return True
    archival = project / ".git_archival.txt"  # git archive with export-subst filled it in
    try:
        return archival.is_file() and _UNFILLED_ARCHIVAL not in archival.read_text("utf-8")
    except OSError:
        return False


def _project_name(project: Path) -> str | None:
    section = _pyproject(project).get("project")
    name = section.get("name") if isinstance(section, dict) else None
    return str(name) if isinstance(name, str) else None


def pretend_variable(name: str | None) -> str:
    """``SETUPTOOLS_SCM_PRETEND_VERSION_FOR_MY_PKG`` for ``my-pkg`` (setuptools-scm 7+)."""
    if name is None:
        return "SETUPTOOLS_SCM_PRETEND_VERSION"
    return "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" + canonicalize_name(name).replace("-", "_").upper()


@contextmanager
def pretend_versions(overrides: Sequence[str]) -> Iterator[None]:
    """``NAME=VERSION`` items as ``SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<NAME>`` for the block.

    The build backends run as subprocesses that inherit the environment, so this is
    how ``--version-override`` reaches setuptools-scm and hatch-vcs.
    """
    settings: dict[str, str] = {}
    for item in overrides:
        name, sep, version = item.partition("=")
        if not sep or not name.strip() or not version.strip():
            raise InputError(
                f"--version-override {item!r} is not NAME=VERSION; e.g. --version-override "
                "my-project=1.2.3"
            )
        settings[pretend_variable(name.strip())] = version.strip()
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def scm_versions_key() -> str:
    """The pretended versions in force, for the build cache key (empty when none)."""
    pairs = sorted(
        f"{key}={value}"
        for key, value in os.environ.items()
        if key.startswith("SETUPTOOLS_SCM_PRETEND_VERSION")
    )
    return ";scm=" + ",".join(pairs) if pairs else ""


def check_vcs_version(project: Path, label: str) -> None:
    """Refuse, with the fix, a git-versioned project that has no git metadata."""
    tool = uses_vcs_version(project)
    if tool is None or _has_vcs_metadata(project):
        return
    name = _project_name(project)
    specific = pretend_variable(name)
    if os.environ.get("SETUPTOOLS_SCM_PRETEND_VERSION") or os.environ.get(specific):
        return
    raise BuildError(
        f"project {label} takes its version from git ({tool}), but it has no git metadata "
        "(no .git folder: a 'Download ZIP' or a copied folder?), so its version cannot be "
        "computed",
        fix=f"pass the version, `sparkdeps build ... --version-override "
        f"{name or 'NAME'}=1.2.3`, or set {specific}=<version> (or "
        "SETUPTOOLS_SCM_PRETEND_VERSION=<version>) in the build's environment; or hand in "
        "a git clone or an sdist",
    )
