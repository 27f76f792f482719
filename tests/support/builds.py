"""A build for the build tests: dest and build cache under the test's folder, the test index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.index import IndexServer

from sparkdeps._build.publish import build
from sparkdeps._core.results import BuildResult


def local_build(source: Path, tmp_path: Path, index: IndexServer, **kwargs: Any) -> BuildResult:
    """``build(source)`` into ``tmp_path/dest`` with ``tmp_path/cache``, from ``index``
    (each overridable by keyword)."""
    kwargs.setdefault("dest", tmp_path / "dest")
    kwargs.setdefault("cache_dir", tmp_path / "cache")
    kwargs.setdefault("index_url", index.url)
    return build(source, **kwargs)


def pins(result: BuildResult) -> dict[str, str]:
    """What the wheelhouse ships: name -> version."""
    return {wheel.name: wheel.version for wheel in result.wheels}
