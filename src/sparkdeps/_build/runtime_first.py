"""Runtime-first resolution: the runtime as it is, else the fewest packages moved.

:func:`resolve_runtime_first` drives the uv passes of a runtime-aware resolution
(docs/runtime-aware.md, "How the build resolves: runtime first"); :mod:`.resolve`
runs each pass. The passes:

1. every runtime package hard (``name==version``), with stand-in wheels for what no
   index has as the runtime has it (:mod:`.runtime_stubs`); a runtime version with no
   wheel for the target (dbr-15.4's regex 2022.7.9 on Python 3.11: Databricks built
   it) gets a stand-in too, learned from uv's "Wheels are required" and remembered;
2. if that cannot be met: the protected packages hard and the others preferred, then
   each package that pass moved is tried back at the runtime's version (everything
   else hard), so the fewest move; each move is a :class:`.Relaxation`, with the older
   release of the user's requirement that would have avoided it (one pass each).

``prefer_newest`` runs only the second kind of pass, as sparkdeps did before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from .._core.errors import CommandError, ResolutionError
from .._core.target import Target
from .backend import Lock
from .depgraph import Graph
from .requirements import RequirementLine
from .runtime_plan import RuntimeContext, runtime_meets
from .runtime_relax import Relaxation, find_relaxations
from .runtime_stubs import stub_folder

__all__ = ["CompilePass", "NoWheel", "Pass", "Unmet", "resolve_runtime_first"]

logger = logging.getLogger(__name__)
_MAX_STAND_IN_ROUNDS = 40
_MAX_TRIALS = 8


class Unmet(Exception):
    """A resolution that cannot be met (raised only when asked not to explain it)."""

    def __init__(self, error: CommandError) -> None:
        super().__init__(str(error))
        self.error = error


class NoWheel(Unmet):
    """Runtime packages whose runtime version has no wheel for the target."""

    def __init__(self, error: CommandError, names: Sequence[str]) -> None:
        super().__init__(error)
        self.names = tuple(names)


@dataclass(frozen=True)
class Pass:
    """How one ``uv pip compile`` of a resolution differs from the input as given."""

    name: str
    """Names its files (``pylock.<name>.toml``)."""
    seed: tuple[str, ...] = ()
    """``name==version`` preferences, kept where the requirements allow."""
    stubs: Path | None = None
    """A folder of runtime stand-in wheels."""
    strict: bool = True
    """False: a failure raises :class:`Unmet` instead of being explained."""
    requirement_lines: tuple[str, ...] | None = None
    """Another input than the user's (a trial with one requirement unpinned)."""
    stand_in_for: frozenset[str] = frozenset()
    """Runtime packages whose missing wheel raises :class:`NoWheel`."""


CompilePass = Callable[[Sequence[str], Pass], "tuple[Lock, list[str]]"]
"""One compile under the given constraint lines: its lock and the packages that come as
sdists."""


def resolve_runtime_first(
    compile_pass: CompilePass,
    *,
    user: Sequence[str],
    runtime: RuntimeContext,
    requirements: Sequence[RequirementLine],
    local_lines: Sequence[str],
    stubs_root: Path,
    target: Target,
    graph_of: Callable[[Lock], Graph],
) -> tuple[Lock, list[str], tuple[Relaxation, ...]]:
    """(lock, sdists, relaxations) for the input on ``runtime``; ``graph_of`` gives a lock's
    edges, to name the chains that move a runtime package."""
    stand_ins = _StandIns(runtime, stubs_root, target)
    protected = [*user, *runtime.constraint_lines()]
    seed = tuple(runtime.preference_lines())
    if runtime.prefer_newest:
        output, sdists = compile_pass(protected, Pass("pins", seed, stand_ins.folder()))
        return output, sdists, ()
    try:
        output, sdists = stand_ins.hard_pass(compile_pass, user, target)
    except Unmet:
        logger.info("the runtime's packages as they are cannot meet the input: relaxing")
    else:
        return output, sdists, ()
    # only the protected packages hard, the others preferred: what must move moves, and
    # maybe more (an unpinned requirement takes its newest release): hold back what can
    loose = compile_pass(protected, Pass("pins", seed, stand_ins.folder()))
    output, sdists = _fewest(
        compile_pass, stand_ins, user, loose, target=target, requirements=requirements
    )
    moved = set(_moved(runtime, output))

    def older(line: RequirementLine, name: str) -> str | None:
        """The release of ``line``'s package that keeps ``name`` at the runtime's version
        (the other moves kept), if there is one."""
        wanted = line.requirement
        bare = wanted.name + (f"[{','.join(sorted(wanted.extras))}]" if wanted.extras else "")
        lines = [*local_lines, *(r.text for r in requirements if r is not line), bare]
        try:
            found, _ = stand_ins.hard_pass(
                compile_pass, user, target, relaxed=moved - {name}, name=f"older-{name}",
                requirement_lines=lines,
            )  # fmt: skip
        except Unmet:
            return None
        return found.versions().get(canonicalize_name(wanted.name)) or None

    relaxed = find_relaxations(graph_of(output), runtime, requirements, older=older)
    return output, sdists, relaxed


def _moved(runtime: RuntimeContext, lock: Lock) -> list[str]:
    """The runtime packages a lock has at another version than the runtime's."""
    versions = lock.versions()
    return [
        name
        for name, have in sorted(runtime.provided().items())
        if versions.get(name) and not runtime_meets(have, versions[name])
    ]


def _fewest(
    compile_pass: CompilePass,
    stand_ins: _StandIns,
    user: Sequence[str],
    loose: tuple[Lock, list[str]],
    *,
    target: Target,
    requirements: Sequence[RequirementLine],
) -> tuple[Lock, list[str]]:
    """Of the packages the loose pass moved, keep at the runtime's version each one the
    input can do without moving (one pass each, greedily, at most :data:`_MAX_TRIALS`).
    A package the input itself asks at a version the runtime's excludes must move."""
    runtime = stand_ins.runtime
    moved = _moved(runtime, loose[0])
    have = runtime.provided()
    asked = {
        canonicalize_name(line.requirement.name)
        for line in requirements
        if not line.requirement.specifier.contains(
            have.get(canonicalize_name(line.requirement.name), "0"), prereleases=True
        )
    }
    trials = [name for name in moved if name not in asked]
    if not trials or len(trials) > _MAX_TRIALS:
        return loose
    best, relaxed = loose, set(moved)
    for name in trials:
        trial = relaxed - {name}
        try:
            best = stand_ins.hard_pass(
                compile_pass, user, target, relaxed=trial, name=f"fewer-{name}"
            )
        except Unmet:
            continue
        relaxed = trial
        logger.info("%s can stay at the runtime's %s", name, have[name])
    return best


class _StandIns:
    """The stand-in wheels of one runtime-aware resolution (:mod:`.runtime_stubs`).

    Always: what no index has as the runtime has it. Learned: runtime packages whose
    runtime version has no wheel for the target; their names are remembered per target
    beside the stand-ins, so the next resolution starts with them.
    """

    def __init__(self, runtime: RuntimeContext, root: Path, target: Target) -> None:
        self.runtime, self.root = runtime, root
        self.memory = root / f"no-wheel-{target.key()}.txt"
        provided = runtime.provided()
        self.learned = {n: provided[n] for n in self._remembered() if n in provided}

    def _remembered(self) -> list[str]:
        try:
            return self.memory.read_text("utf-8").split()
        except OSError:
            return []

    def folder(self) -> Path:
        packages = {**self.runtime.stand_ins(), **self.learned}
        return stub_folder(packages, runtime=self.runtime.packages.name, root=self.root)

    def hard_pass(
        self,
        compile_pass: CompilePass,
        user: Sequence[str],
        target: Target,
        *,
        relaxed: Collection[str] = (),
        name: str = "pins-runtime",
        requirement_lines: Sequence[str] | None = None,
    ) -> tuple[Lock, list[str]]:
        """The pass with every runtime package but ``relaxed`` hard, learning stand-ins."""
        hard = [*user, *self.runtime.hard_lines(relaxed)]
        pinned = {n: v for n, v in self.runtime.provided().items() if n not in relaxed}
        for _round in range(_MAX_STAND_IN_ROUNDS):
            try:
                lines = tuple(requirement_lines) if requirement_lines is not None else None
                trial = Pass(name, (), self.folder(), False, lines, frozenset(pinned))
                return compile_pass(hard, trial)
            except NoWheel as missing:
                fresh = [n for n in missing.names if n not in self.learned]
                if not fresh:  # a stand-in is there already: something else is unmet
                    raise Unmet(missing.error) from missing
                logger.info(
                    "no wheel of the runtime's %s for the target: the runtime's copy stands in",
                    ", ".join(f"{n} {pinned[n]}" for n in fresh),
                )
                logger.debug("uv said: %s", missing.error.output)
                self.learned.update({n: pinned[n] for n in fresh})
                self._remember()
        raise ResolutionError(
            f"could not resolve for {target.description}: more than {_MAX_STAND_IN_ROUNDS} "
            "runtime packages have no wheel for the target"
        )

    def _remember(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.memory.with_name(f".{self.memory.name}.{os.getpid()}")
        partial.write_text("\n".join(sorted(self.learned)) + "\n", "utf-8")
        partial.replace(self.memory)
