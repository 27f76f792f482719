"""Explaining a conflict with a protected runtime package, before anything is downloaded.

When the resolution with the protected pins fails, the resolver runs once more
without them. Each protected package that this second resolution moves away from
the runtime's version is a :class:`Conflict`: the requirement chains that pull it
(from the pins' Requires-Dist, :mod:`.depgraph`, down to ``file:line``), what the
input asks of it, and the other runtime profiles whose version would satisfy that.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .._core.errors import RuntimeConflictError
from .._core.manifest import WheelInfo
from .._core.plain import fields_dict
from .._core.runner import redact
from .._core.runtimes import protection_reason, runtime_packages, runtime_profile_names
from .depgraph import CONSTRAINT, ROOT, Graph
from .requirements import RequirementLine
from .runtime_plan import RuntimeContext, runtime_meets

__all__ = [
    "Conflict",
    "chain_paths",
    "conflict_error",
    "find_conflicts",
    "guarded_error",
    "override_all",
    "render_chain",
]

_MAX_CHAINS = 4


@dataclass(frozen=True)
class Conflict:
    """One protected package the input wants at another version than the runtime's."""

    name: str
    runtime: str
    """The runtime's name (profile or freeze file)."""
    runtime_version: str
    wanted: str
    """The version a resolution without the runtime's pin chooses."""
    specifiers: tuple[str, ...]
    """What the input (and the packages it pulls) ask of the package, where known."""
    chains: tuple[str, ...]
    """``file:line requirement -> package version -> ... -> name version``."""
    profiles: tuple[tuple[str, str], ...]
    """(profile, its version) of each runtime whose version satisfies ``specifiers``."""

    def to_dict(self) -> dict[str, Any]:
        profiles = [{"profile": p, "version": v} for p, v in self.profiles]
        return {**fields_dict(self), "profiles": profiles}


def chain_paths(name: str, graph: Graph) -> list[list[str]]:
    """Paths from a line of the input (or a constraint) down to ``name``, shortest first."""
    paths: list[list[str]] = []
    queue: list[list[str]] = [[name]]
    while queue and len(paths) < _MAX_CHAINS:
        path = queue.pop(0)
        node = graph.nodes.get(path[0])
        for parent in node.parents if node is not None else ():
            if parent in (ROOT, CONSTRAINT):
                paths.append([parent, *path])
            elif parent not in path and len(path) < 12:
                queue.append([parent, *path])
    return paths


def render_chain(
    path: Sequence[str], graph: Graph, roots: Mapping[str, str], constraints: Mapping[str, str]
) -> str:
    kind, first = path[0], path[1]
    table = constraints if kind == CONSTRAINT else roots
    steps = [f"{step} {graph.version(step) or '?'}" for step in path[1:]]
    if first in table:
        steps.insert(0, table[first])
    return " -> ".join(steps)


def _excludes(specifier: str, version: str) -> bool:
    try:
        return not SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _asks(
    name: str,
    requirements: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    graph: Graph,
    runtime_version: str,
) -> list[tuple[str, str]]:
    """(who, specifier) for every requirement on ``name`` that excludes the runtime's version.

    ``who`` is a package name, or ``""`` for a line of the input itself; the packages
    from the index are the graph's (their Requires-Dist, :mod:`.depgraph`).
    """
    found: list[tuple[str, str]] = []
    for line in requirements:
        if canonicalize_name(line.requirement.name) == name:
            found.append(("", str(line.requirement.specifier)))
    for info in local_wheels.values():
        for requirement in info.requirements():
            if canonicalize_name(requirement.name) == name:
                found.append((info.name, str(requirement.specifier)))
    node = graph.nodes.get(name)
    found += node.asks if node is not None else ()
    return [
        (who, spec)
        for who, spec in dict.fromkeys(found)
        if spec and _excludes(spec, runtime_version)
    ]


def _fitting_profiles(name: str, specifiers: Sequence[str], current: str) -> list[tuple[str, str]]:
    if not specifiers:
        return []
    wanted = SpecifierSet(",".join(specifiers))
    fitting: list[tuple[str, str]] = []
    for profile in runtime_profile_names():
        if profile == current:
            continue
        version = runtime_packages(profile).version_of(name)
        try:
            if version is not None and wanted.contains(Version(version), prereleases=True):
                fitting.append((profile, version))
        except InvalidVersion:
            continue
    return fitting


def find_conflicts(
    graph: Graph,
    context: RuntimeContext,
    *,
    requirements: Sequence[RequirementLine],
    constraints: Sequence[RequirementLine],
    local_wheels: Mapping[Path, WheelInfo],
    origins: Mapping[str, str],
) -> list[Conflict]:
    """The protected packages an unpinned resolution (``graph``) moves off the runtime."""
    roots: dict[str, str] = {
        canonicalize_name(r.requirement.name): f"{r.origin} {r.text}" for r in requirements
    }
    for info in local_wheels.values():
        origin = origins.get(info.name, info.filename)
        roots.setdefault(info.name, f"{origin} ({info.name} {info.version})")
    pinned: dict[str, str] = {
        canonicalize_name(c.requirement.name): f"{c.origin} {c.text}" for c in constraints
    }
    conflicts: list[Conflict] = []
    for name, runtime_version in sorted(context.protected().items()):
        wanted = graph.version(name)
        if name not in graph.nodes or runtime_meets(runtime_version, wanted or runtime_version):
            continue
        asks = _asks(name, requirements, local_wheels, graph, runtime_version)
        specs = list(dict.fromkeys(spec for _who, spec in asks))
        culprits = {who for who, _spec in asks}
        paths = chain_paths(name, graph)
        # chains through a package known to exclude the runtime's version come first;
        # the others (pyarrow -> numpy, satisfied by the runtime) are noise when there are any
        pulling = [path for path in paths if (path[-2] if len(path) > 2 else "") in culprits]
        chains = [render_chain(path, graph, roots, pinned) for path in (pulling or paths)]
        conflicts.append(
            Conflict(
                name=name,
                runtime=context.packages.name,
                runtime_version=runtime_version,
                wanted=wanted,
                specifiers=tuple(specs),
                chains=tuple(chains),
                profiles=tuple(_fitting_profiles(name, specs, context.packages.name)),
            )
        )
    return conflicts


def conflict_error(conflicts: Sequence[Conflict], uv_output: str) -> RuntimeConflictError:
    """One message naming each package, its chains and the three ways out."""
    parts: list[str] = []
    for item in conflicts:
        asked = ", ".join(item.specifiers) or f"{item.wanted} in an unconstrained resolution"
        lines = [
            f"{item.name}: the runtime {item.runtime} has {item.name} {item.runtime_version}, "
            f"{protection_reason(item.name)}, but the input needs {item.name} {asked}; "
            "required through:"
        ]
        lines += [f"  {chain}" for chain in item.chains] or ["  (the chain is not known)"]
        lines.append("ways out:")
        lines.append(
            f"  - pin a compatible version: change the requirement(s) above so they accept "
            f"{item.name}=={item.runtime_version} (e.g. an older release of the package that "
            f"asks for {item.name})"
        )
        if item.profiles:
            fitting = ", ".join(f"{p} ({v})" for p, v in item.profiles)
            lines.append(f"  - target a runtime whose {item.name} already fits: {fitting}")
        else:
            lines.append(f"  - no known runtime profile has a {item.name} that fits {asked}")
        lines.append(
            f"  - ship it anyway with --override-runtime {item.name} "
            f"(override_runtime=[{item.name!r}] in Python): pyspark still imports the runtime's "
            f"{item.name} {item.runtime_version} first on executors and in the driver's session, "
            f"so code built for {item.name} {item.wanted} may fail there"
        )
        parts.append("\n".join(lines))
    reason = _uv_reason(uv_output)
    message = "\n\n".join(parts)
    if reason:
        message += "\n\nthe resolver (with the runtime's pins) said:\n" + reason
    message += "\n\nnothing was downloaded."
    return RuntimeConflictError(redact(message), conflicts)


def _uv_reason(output: str) -> str:
    lines = [
        "  " + line.strip()
        for line in output.splitlines()
        if line.strip() and not line.startswith("warning:") and "Request failed" not in line
    ]
    return "\n".join(lines[:8])


def guarded_error(
    placements: Sequence[tuple[str, str]],
    context: RuntimeContext,
    *,
    graph: Graph,
    requirements: Sequence[RequirementLine],
) -> RuntimeConflictError:
    """An ML runtime's own kind of package (torch, CUDA...) the plan would ship new."""
    roots: dict[str, str] = {
        canonicalize_name(r.requirement.name): f"{r.origin} {r.text}" for r in requirements
    }
    runtime = context.packages.name
    conflicts: list[Conflict] = []
    parts: list[str] = []
    for name, version in placements:
        chains = tuple(render_chain(p, graph, roots, {}) for p in chain_paths(name, graph))
        conflicts.append(Conflict(name, runtime, "", version, (), chains, ()))
        lines = [
            f"{name} {version}: the ML runtime {runtime} builds torch, TensorFlow, JAX and "
            f"their CUDA packages for itself and has no {name}; a PyPI build of it would not "
            "match the runtime's (docs/runtime-aware.md), required through:"
        ]
        lines += [f"  {chain}" for chain in chains] or ["  (the chain is not known)"]
        lines.append(
            "ways out: pin the requirement above to a release the runtime's own packages "
            f"satisfy, or ship it anyway with --override-runtime {name} "
            f"(override_runtime=[{name!r}] in Python)"
        )
        parts.append("\n".join(lines))
    message = "\n\n".join(parts)
    if len(placements) > 1:
        message += "\n\nto ship them all anyway: " + override_all(n for n, _ in placements)
    message += "\n\nnothing was downloaded."
    return RuntimeConflictError(redact(message), conflicts)


def override_all(names: Iterable[str]) -> str:
    """``--override-runtime 'nvidia-*' --override-runtime triton``: one flag per name, CUDA
    packages as one pattern."""
    chosen = sorted(set(names))
    patterns = [p for p in ("nvidia-*", "cuda-*") if any(fnmatch.fnmatchcase(n, p) for n in chosen)]
    rest = [n for n in chosen if not any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    return " ".join(f"--override-runtime {shlex.quote(n)}" for n in [*patterns, *rest])
