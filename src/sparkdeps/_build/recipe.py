"""How to build: :class:`Recipe`, the one value ``build()`` and ``check()`` make of their
:class:`~sparkdeps._core.options.BuildOptions` (and the build cache keys on)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from packaging.utils import canonicalize_name

from .._core.errors import InputError
from .._core.options import DEFAULT_MAX_SIZE_MB, BuildOptions, option_fields
from .._core.target import Target, choose_target
from .index import IndexSettings

__all__ = ["DEFAULT_MAX_SIZE_MB", "Recipe", "option_keywords", "recipe_for", "validate_overrides"]

_Function = TypeVar("_Function", bound=Callable[..., Any])


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
    max_size_mb: float | None = DEFAULT_MAX_SIZE_MB
    """What ships may weigh at most this (MB, from the index's metadata); None or 0: no cap."""
    bytecode: bool = True
    """Compile the modules for the target's Python when an interpreter of it is here."""


def recipe_for(options: BuildOptions) -> Recipe:
    """The options of ``build()`` and ``check()``, checked and made one value."""
    chosen = choose_target(
        options.target,
        python_version=options.python_version,
        platform=options.platform,
        runtime_packages=options.runtime_packages,
    )
    index = IndexSettings(
        index_url=options.index_url,
        extra_index_urls=tuple(options.extra_index_urls),
        find_links=tuple(os.fspath(link) for link in options.find_links),
        no_index=options.no_index,
        timeout=options.index_timeout,
        retries=options.index_retries,
    )
    overrides = validate_overrides(options.override_runtime, chosen)
    max_size_mb = options.max_size_mb
    if max_size_mb is not None and max_size_mb < 0:
        raise InputError(f"max_size_mb must be 0 (no cap) or more, got {max_size_mb}")
    return Recipe(
        chosen,
        index,
        options.build_isolation,
        options.name,
        options.allow_index_options,
        overrides,
        options.prefer_newest,
        max_size_mb or None,
        options.bytecode,
    )


def option_keywords(function: _Function) -> _Function:
    """Show ``function(..., **options)`` with every declared option as a named keyword,
    its default and its type (``help()``, ``inspect.signature``, editors that read them)."""
    signature = inspect.signature(function)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    declared = [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=item.default,
            annotation=str(item.type).replace("tuple[str, ...]", "Iterable[str]"),
        )
        for item in option_fields()
    ]
    function.__signature__ = signature.replace(parameters=[*own, *declared])  # type: ignore[attr-defined]
    return function


def validate_overrides(names: Iterable[str], target: Target) -> tuple[str, ...]:
    chosen = tuple(sorted({canonicalize_name(name) for name in names if name.strip()}))
    if chosen and target.runtime is None:
        raise InputError(
            f"override_runtime={list(chosen)} needs a target with a runtime package set: "
            "pass a runtime profile (--target dbr-14.3) or --runtime-packages FILE"
        )
    return chosen
