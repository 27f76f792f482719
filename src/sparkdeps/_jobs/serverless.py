"""``three_task_job(compute="serverless")``: the route that needs no artifacts.

On serverless, files a session adds with ``addArtifacts`` have been reported invisible
to UDFs (docs/facts.md, fact 17), while an environment's ``dependencies`` are installed
where UDFs run. Those dependencies take static text only: job ``libraries`` refuse
``{{job.run_id}}`` (fact 20), and environment dependencies are assumed the same. So
there are two ways to hand a run's wheels to the user's tasks (``serverless_route``):

``"environment"`` (the default)
    The user tasks' environment depends on ``-r <requirements_path>``, one fixed file
    per job (``<base>/env-<job name>/requirements.txt`` unless given). ``process_deps``
    rewrites it atomically (temporary name, rename) to this run's hashed wheel lines
    (``_core/pipform.py``) before any user task starts. Two overlapping runs would
    rewrite each other's file, so the job gets ``max_concurrent_runs=1`` and any other
    value is refused. Works for Python files and notebooks alike.

``"notebook"``
    Every user task must be a notebook; each gets its own run's wheelhouse path and
    ``sparkdeps.load()`` installs it through the notebook's ``%pip`` (which serverless
    syncs to UDFs). No fixed file, so runs may overlap.

What needs a workspace to confirm is in docs/compute.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from .._core.errors import InputError
from .._core.pipform import REQUIREMENTS_NAME, checked_folder

if TYPE_CHECKING:
    from .graph import UserTask

__all__ = ["ServerlessRoute", "check_route", "requirements_path_for", "serverless_setup"]

ServerlessRoute = Literal["environment", "notebook"]

_SLUG = re.compile(r"[^a-z0-9]+")
ENV_PREFIX = "env-"
"""``<base>/env-<job>/``: not a run folder (no ``run.json``), so cleanup never takes it."""


def requirements_path_for(name: str, base: str, explicit: str | None) -> str:
    """The job's fixed requirements file: ``explicit``, else one under ``base``.

    It must be text the environment can take as is: no ``{{...}}`` reference (a bundle's
    ``${var.x}``, resolved at deploy, is fine) and, once resolved, a path pip reads as
    written (``/Volumes/...`` or ``/Workspace/...``).
    """
    if explicit is None:
        slug = _SLUG.sub("-", name.lower()).strip("-")[:64] or "job"
        path = f"{base.rstrip('/')}/{ENV_PREFIX}{slug}/{REQUIREMENTS_NAME}"
        what = "base"
    else:
        path, what = explicit, "requirements_path"
    if "{{" in path:
        raise InputError(
            f"{what} {path!r} holds a dynamic reference; an environment's dependencies take "
            "static paths only (docs/compute.md): pass a literal /Volumes/... base, or "
            'serverless_route="notebook"'
        )
    if path.startswith("dbfs:"):
        raise InputError(
            f"{what} {path!r} is on DBFS, which serverless environments cannot read as a path",
            fix="pass a /Volumes/... base (or requirements_path=)",
        )
    if not path.startswith("${"):
        checked_folder(path)
    return path


def check_route(
    route: str, tasks: Sequence[UserTask], max_concurrent_runs: int | None
) -> int | None:
    """The job's ``max_concurrent_runs`` for ``route``, or InputError when it cannot work."""
    if route == "notebook":
        scripts = [task.task_key for task in tasks if task.notebook_path is None]
        if scripts:
            raise InputError(
                f'serverless_route="notebook" needs notebook tasks (their %pip reaches UDFs); '
                f"{', '.join(scripts)} run Python files: make them notebooks, or use "
                'serverless_route="environment"'
            )
        return max_concurrent_runs
    if route != "environment":
        raise InputError(f"serverless_route must be 'environment' or 'notebook', got {route!r}")
    if max_concurrent_runs not in (None, 1):
        raise InputError(
            f"max_concurrent_runs={max_concurrent_runs}: the environment route rewrites one "
            "requirements file per job, so runs must not overlap",
            fix="pass max_concurrent_runs=1 "
            "(or leave it out), or use notebook tasks with "
            'serverless_route="notebook"',
        )
    return 1


def serverless_setup(
    name: str,
    base: str,
    route: str,
    tasks: Sequence[UserTask],
    *,
    runs: int | None,
    path: str | None,
) -> tuple[int | None, str | None]:
    """(the job's ``max_concurrent_runs``, its fixed requirements file or None) for ``route``,
    from the ones asked for (``runs``, ``path``)."""
    allowed = check_route(route, tasks, runs)
    if route != "environment":
        return allowed, None
    return allowed, requirements_path_for(name, base, path)
