"""Runtime packages an input moves, named with why (docs/runtime-aware.md, "Runtime first").

When the runtime's packages as they are cannot meet the input, the resolver runs
with only the protected ones hard and the others preferred (uv keeps a preferred
pin unless a requirement excludes it), so only the packages that must move do. Each
moved package is a :class:`Relaxation`: its requirement chains (from the pins'
Requires-Dist, :mod:`.depgraph`, down to ``file:line``) and, where the user's own
line holds a release back, the older release of that requirement that would have
kept the runtime's version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from .._core.plain import fields_dict
from .depgraph import Graph
from .requirements import RequirementLine
from .runtime_conflict import chain_paths, render_chain
from .runtime_plan import RuntimeContext, runtime_meets

__all__ = ["Relaxation", "find_relaxations"]

logger = logging.getLogger(__name__)
_MAX_OLDER = 3

Older = Callable[[RequirementLine, str], "str | None"]


@dataclass(frozen=True)
class Relaxation:
    """A runtime package the input needs at another version: it ships and shadows."""

    name: str
    runtime_version: str
    version: str
    chains: tuple[str, ...]
    """``file:line requirement -> package version -> ... -> name version``."""
    older: tuple[str, ...] = ()
    """Older releases of the user's requirements that would keep the runtime's version."""

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    def describe(self) -> list[str]:
        lines = [
            f"{self.name} {self.runtime_version} -> {self.version}: the runtime's version does "
            "not meet the input, required through:"
        ]
        lines += [f"  {chain}" for chain in self.chains] or ["  (the chain is not known)"]
        lines += [f"  avoid it: {hint}" for hint in self.older]
        return lines


def find_relaxations(
    graph: Graph,
    runtime: RuntimeContext,
    requirements: Sequence[RequirementLine],
    *,
    older: Older,
) -> tuple[Relaxation, ...]:
    """The runtime packages ``graph`` (a resolution's pins and edges) moves, explained."""
    lines: dict[str, RequirementLine] = {
        canonicalize_name(r.requirement.name): r for r in requirements
    }
    roots: dict[str, str] = {name: f"{line.origin} {line.text}" for name, line in lines.items()}
    found: list[Relaxation] = []
    budget = _MAX_OLDER
    for name, have in sorted(runtime.provided().items()):
        version = graph.version(name)
        if not version or runtime_meets(have, version):
            continue
        paths = chain_paths(name, graph)
        hints: list[str] = []
        for root in dict.fromkeys(path[1] for path in paths):
            line = lines.get(root)
            if line is None or root == name or not line.requirement.specifier or budget <= 0:
                continue
            budget -= 1
            release = older(line, name)
            if release is not None:
                hints.append(
                    f"{root} {release} would keep {name} {have} ({line.origin} asks {line.text})"
                )
        chains = tuple(render_chain(path, graph, roots, {}) for path in paths)
        item = Relaxation(name, have, version, chains, tuple(hints))
        logger.info("%s", "\n".join(item.describe()))
        found.append(item)
    return tuple(found)
