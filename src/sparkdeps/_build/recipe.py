"""How to build: :class:`Recipe`, the one value ``build()`` and ``check()`` make of their
target and index keywords (and the build cache keys on)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from .._core.errors import InputError
from .._core.target import Target, choose_target
from .index import IndexSettings

__all__ = ["Recipe", "recipe_for", "validate_overrides"]


@dataclass(frozen=True)
class Recipe:
    """The target, the index and the options that change the result."""

    target: Target
    index: IndexSettings
    build_isolation: bool
    name: str | None
    allow_index_options: bool
    overrides: tuple[str, ...] = ()
    """Protected runtime packages shipped anyway (``override_runtime``)."""
    prefer_newest: bool = False
    """Runtime versions are preferences, not hard constraints (docs/runtime-aware.md)."""


def recipe_for(
    *,
    target: str | Target | None,
    python_version: str | None,
    platform: str | None,
    runtime_packages: str | os.PathLike[str] | None,
    override_runtime: Iterable[str],
    index_url: str | None,
    extra_index_urls: Iterable[str],
    find_links: Iterable[str],
    no_index: bool,
    index_timeout: float,
    index_retries: int,
    build_isolation: bool,
    name: str | None,
    allow_index_options: bool,
    prefer_newest: bool = False,
) -> Recipe:
    """The keywords of ``build()`` and ``check()``, checked and made one value."""
    chosen = choose_target(
        target, python_version=python_version, platform=platform, runtime_packages=runtime_packages
    )
    index = IndexSettings(
        index_url=index_url,
        extra_index_urls=tuple(extra_index_urls),
        find_links=tuple(os.fspath(link) for link in find_links),
        no_index=no_index,
        timeout=index_timeout,
        retries=index_retries,
    )
    overrides = validate_overrides(override_runtime, chosen)
    return Recipe(
        chosen, index, build_isolation, name, allow_index_options, overrides, prefer_newest
    )


def validate_overrides(names: Iterable[str], target: Target) -> tuple[str, ...]:
    chosen = tuple(sorted({canonicalize_name(name) for name in names if name.strip()}))
    if chosen and target.runtime is None:
        raise InputError(
            f"override_runtime={list(chosen)} needs a target with a runtime package set: "
            "pass a runtime profile (--target dbr-14.3) or --runtime-packages FILE"
        )
    return chosen
