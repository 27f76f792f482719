"""The three-task job as ``databricks.bundles`` types (``pip install 'sparkdeps[databricks]'``).

``process_deps`` -> the user's task(s) -> ``cleanup`` (``run_if`` ALL_DONE), on a
job cluster shared by the tasks or on serverless; the entry points the tasks
call are in :mod:`sparkdeps._jobs`.

``path_via="job_run"`` (the default): the run folder is ``<base>/job-<job run id>/``
and user tasks get
``--wheelhouse={{job.parameters.sparkdeps_base}}/job-{{job.run_id}}/wheelhouse.zip``:
``{{job.run_id}}`` resolves in every task type, task values are documented for
notebooks only (docs/facts.md, fact 16; ``process_deps`` sets one where dbutils can).
A repaired run reuses its first attempt's wheelhouse. ``path_via="task_value"``: the
run folder is ``<base>/job-<job run id>-<uuid>/`` and user tasks get
``--wheelhouse={{tasks.process_deps.values.wheelhouse_path}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .._core.errors import InputError, SparkdepsError
from .._core.options import BuildOptions
from .._core.paths import PROCESS_DEPS_TASK_KEY
from .names import (
    CLEANUP_TASK_KEY,
    DBR_14_3_SPARK_VERSION,
    DEFAULT_BASE,
    JOB_RUN_ID_REFERENCE,
    RUN_PREFIX,
    SERVERLESS_ENVIRONMENT_VERSION,
    WHEELHOUSE_REFERENCE,
)
from .serverless import ServerlessRoute, serverless_setup

if TYPE_CHECKING:
    from databricks.bundles.jobs import Job

__all__ = ["UserTask", "three_task_job"]


@dataclass(frozen=True)
class UserTask:
    """One task of the user's that loads the wheelhouse: a Python file or a notebook."""

    task_key: str
    python_file: str | None = None
    notebook_path: str | None = None
    parameters: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    """Other user tasks this one waits for (``process_deps`` is always added)."""

    def __post_init__(self) -> None:
        if (self.python_file is None) == (self.notebook_path is None):
            raise InputError(
                f"user task {self.task_key!r}: give exactly one of python_file or notebook_path"
            )
        if self.task_key in (PROCESS_DEPS_TASK_KEY, CLEANUP_TASK_KEY):
            raise InputError(f"user task key {self.task_key!r} is taken by sparkdeps: rename it")


def _bundles() -> Any:
    try:
        from databricks.bundles import jobs  # noqa: PLC0415
    except ImportError as exc:
        raise SparkdepsError(
            "three_task_job needs the databricks-bundles package: "
            "pip install 'sparkdeps[databricks]'"
        ) from exc
    return jobs


def three_task_job(
    name: str,
    *,
    source: str,
    tasks: Sequence[UserTask] = (),
    python_file: str | None = None,
    base: str = DEFAULT_BASE,
    compute: Literal["job_cluster", "serverless"] = "job_cluster",
    spark_version: str = DBR_14_3_SPARK_VERSION,
    node_type_id: str | None = None,
    num_workers: int = 2,
    environment_version: str = SERVERLESS_ENVIRONMENT_VERSION,
    sparkdeps_requirement: str = "sparkdeps",
    build_requirement: str | None = None,
    options: BuildOptions | None = None,
    process_deps_args: Sequence[str] = (),
    max_concurrent_runs: int | None = None,
    path_via: Literal["task_value", "job_run"] = "job_run",
    serverless_route: ServerlessRoute = "environment",
    requirements_path: str | None = None,
) -> Job:
    """The three-task job as a ``databricks.bundles.jobs.Job``.

    ``process_deps`` builds ``source`` into a run folder under ``base``; each user task
    (``tasks``, or one ``main`` task running ``python_file``) gets the path as
    ``--wheelhouse=...``; ``cleanup`` runs whatever happened. ``base`` and ``source``
    become job parameters (``sparkdeps_base``, ``sparkdeps_source``) a run can override.

    ``compute="job_cluster"``: one job cluster (``node_type_id`` required) with plain
    ``sparkdeps``; ``process_deps`` puts ``build_requirement`` (default ``sparkdeps[build]``
    of its version) into a private venv (``_jobs/private_venv.py``), away from user code.
    ``compute="serverless"``: the processor's environment has ``sparkdeps[build]``,
    cleanup's plain ``sparkdeps``; the user tasks get the run's wheels without artifacts,
    through their environment's ``-r requirements_path`` (``serverless_route="environment"``,
    one run at a time) or a notebook's ``%pip`` (``"notebook"``): ``_jobs/serverless.py``.
    ``options`` (``BuildOptions``) become ``process-deps`` flags, ``process_deps_args`` go
    as given; ``path_via`` is how user tasks learn the run folder (the module's docstring).
    Example: ``three_task_job("nightly", source="deps/requirements.txt", python_file="job.py")``.
    """
    jobs = _bundles()
    user_tasks = _user_tasks(tasks, python_file)
    wheelhouse_ref, mode_args = _wheelhouse_reference(path_via)
    runs, pointer = max_concurrent_runs, None
    if compute == "serverless":
        runs, pointer = serverless_setup(
            name, base, serverless_route, user_tasks, runs=runs, path=requirements_path
        )
    setup = _JobSetup(jobs, compute, build_requirement, sparkdeps_requirement, pointer)
    graph = [
        _process_deps_task(setup, [*mode_args, *_option_args(options), *process_deps_args]),
        *(_user_task(setup, task, wheelhouse_ref) for task in user_tasks),
        _cleanup_task(setup, [task.task_key for task in user_tasks]),
    ]
    if compute == "serverless":
        runs_on = {"environments": _environments(setup, environment_version)}
    else:
        node_type = _required_node_type(node_type_id)
        runs_on = {"job_clusters": _job_clusters(jobs, spark_version, node_type, num_workers)}
    parameters = {"sparkdeps_base": base, "sparkdeps_source": source}
    return _job(setup, name, graph, parameters, runs_on, max_concurrent_runs=runs)


def _job(
    setup: _JobSetup,
    name: str,
    graph: list[Any],
    parameters: dict[str, str],
    runs_on: dict[str, list[Any]],
    *,
    max_concurrent_runs: int | None,
) -> Job:
    """The job: its tasks, its parameters (with their defaults) and where it runs."""
    jobs = setup.jobs
    settings: dict[str, Any] = {
        "name": name,
        "tasks": graph,
        "parameters": [
            jobs.JobParameterDefinition(name=key, default=value)
            for key, value in parameters.items()
        ],
        **runs_on,
    }
    if max_concurrent_runs is not None:
        settings["max_concurrent_runs"] = max_concurrent_runs
    return jobs.Job(**settings)  # type: ignore[no-any-return]


_CLUSTER_KEY = "sparkdeps_cluster"


def _required_node_type(node_type_id: str | None) -> str:
    """Node types are the cloud's own: no default would be right on every cloud."""
    if node_type_id is None or not node_type_id.strip():
        raise InputError(
            "three_task_job(compute='job_cluster') needs node_type_id=, your cloud's "
            "node type (e.g. 'i3.xlarge' on AWS, 'Standard_D4ds_v5' on Azure, "
            "'n2-standard-4' on Google Cloud), or compute='serverless'"
        )
    return node_type_id


def _private_venv_args(setup: _JobSetup) -> list[str]:
    """``process_deps`` on the user's cluster: the build extra in a venv of its own."""
    if setup.compute != "job_cluster":
        return []
    wanted = setup.build_requirement
    return ["--private-venv", *([f"--build-requirement={wanted}"] if wanted else [])]


def _job_clusters(jobs: Any, spark_version: str, node_type_id: str, workers: int) -> list[Any]:
    """The one cluster every task runs on: a second one would cost a cluster start.

    Task libraries are installed cluster-wide, and the build extra upgrades packaging,
    pip and setuptools: so the cluster gets plain ``sparkdeps`` and ``process_deps``
    puts the build extra into a private venv (``--private-venv``), leaving the
    runtime's packages under the user's code as they are.
    """
    user = jobs.JobCluster(
        job_cluster_key=_CLUSTER_KEY,
        new_cluster=jobs.ClusterSpec(
            spark_version=spark_version,
            node_type_id=node_type_id,
            num_workers=workers,
            # single user: a SparkContext is there, so classic delivery works
            data_security_mode=jobs.DataSecurityMode.SINGLE_USER,
        ),
    )
    return [user]


_BUILD_ENV, _USER_ENV, _DEPS_ENV = "sparkdeps_build", "default", "sparkdeps_deps"
_BASE_REF = "{{job.parameters.sparkdeps_base}}"
_SOURCE_REF = "{{job.parameters.sparkdeps_source}}"


@dataclass(frozen=True)
class _JobSetup:
    """What every task of the job shares: the bundles module and where tasks run."""

    jobs: Any
    compute: Literal["job_cluster", "serverless"]
    build_requirement: str | None
    sparkdeps_requirement: str
    requirements_path: str | None = None
    """Serverless, environment route: the fixed file the user tasks' environment installs."""

    def __post_init__(self) -> None:
        if self.compute not in ("job_cluster", "serverless"):
            raise InputError(f"compute must be 'job_cluster' or 'serverless', got {self.compute!r}")

    def placement(self, role: Literal["build", "user", "cleanup"]) -> dict[str, Any]:
        """Where a task runs: the shared job cluster (with sparkdeps as a library) or an
        environment."""
        if self.compute == "serverless":
            if role == "build":
                return {"environment_key": _BUILD_ENV}
            deps = role == "user" and self.requirements_path is not None
            return {"environment_key": _DEPS_ENV if deps else _USER_ENV}
        # the build task too: its build extra goes into a private venv (--private-venv)
        requirement = self.sparkdeps_requirement
        library = self.jobs.Library(pypi=self.jobs.PythonPyPiLibrary(package=requirement))
        return {"job_cluster_key": _CLUSTER_KEY, "libraries": [library]}


def _user_tasks(tasks: Sequence[UserTask], python_file: str | None) -> list[UserTask]:
    user_tasks = list(tasks)
    if python_file is not None:
        user_tasks.append(UserTask(task_key="main", python_file=python_file))
    if not user_tasks:
        raise InputError("three_task_job needs at least one user task (tasks= or python_file=)")
    keys = [task.task_key for task in user_tasks]
    if len(set(keys)) != len(keys):
        raise InputError(f"user task keys must be unique, got {keys}")
    return user_tasks


def _wheelhouse_reference(path_via: str) -> tuple[str, list[str]]:
    """How user tasks name the wheelhouse, and what ``process-deps`` needs for that."""
    if path_via == "task_value":
        return WHEELHOUSE_REFERENCE, []
    if path_via == "job_run":
        return f"{_BASE_REF}/{RUN_PREFIX}{JOB_RUN_ID_REFERENCE}/wheelhouse.zip", ["--per-job-run"]
    raise InputError(f"path_via must be 'task_value' or 'job_run', got {path_via!r}")


def _option_args(options: BuildOptions | None) -> list[str]:
    """``process-deps`` flags for the options that differ from its defaults."""
    if options is None:
        return []
    if options.target == "auto":  # process-deps' own default: no flag needed
        options = replace(options, target=None)
    return options.to_args()


def _process_deps_task(setup: _JobSetup, extra_args: Sequence[str]) -> Any:
    jobs = setup.jobs
    return jobs.Task(
        task_key=PROCESS_DEPS_TASK_KEY,
        description="sparkdeps: build the wheelhouse and publish its path",
        python_wheel_task=jobs.PythonWheelTask(
            package_name="sparkdeps",
            entry_point="sparkdeps",
            parameters=[
                "process-deps",
                f"--source={_SOURCE_REF}",
                f"--base={_BASE_REF}",
                f"--job-run-id={JOB_RUN_ID_REFERENCE}",
                *_private_venv_args(setup),
                *extra_args,
                *(
                    [f"--requirements-at={setup.requirements_path}"]
                    if setup.requirements_path
                    else []
                ),
            ],
        ),
        **setup.placement("build"),
    )


def _user_task(setup: _JobSetup, task: UserTask, wheelhouse_ref: str) -> Any:
    jobs = setup.jobs
    depends = [jobs.TaskDependency(task_key=PROCESS_DEPS_TASK_KEY)]
    depends += [jobs.TaskDependency(task_key=key) for key in task.depends_on]
    body: dict[str, Any]
    if task.python_file is not None:
        body = {
            "spark_python_task": jobs.SparkPythonTask(
                python_file=task.python_file,
                parameters=[*task.parameters, f"--wheelhouse={wheelhouse_ref}"],
            )
        }
    else:
        body = {
            "notebook_task": jobs.NotebookTask(
                notebook_path=str(task.notebook_path),
                base_parameters={"wheelhouse": wheelhouse_ref},
            )
        }
    return jobs.Task(task_key=task.task_key, depends_on=depends, **body, **setup.placement("user"))


def _cleanup_task(setup: _JobSetup, user_keys: Sequence[str]) -> Any:
    jobs = setup.jobs
    return jobs.Task(
        task_key=CLEANUP_TASK_KEY,
        description="sparkdeps: remove this run's folders, whatever happened",
        depends_on=[
            jobs.TaskDependency(task_key=key) for key in [PROCESS_DEPS_TASK_KEY, *user_keys]
        ],
        run_if=jobs.RunIf.ALL_DONE,
        python_wheel_task=jobs.PythonWheelTask(
            package_name="sparkdeps",
            entry_point="sparkdeps",
            # No task-value reference here: it would not resolve when
            # process_deps failed, and cleanup must run then too.
            parameters=["cleanup", f"--base={_BASE_REF}", f"--job-run-id={JOB_RUN_ID_REFERENCE}"],
        ),
        **setup.placement("cleanup"),  # removing folders needs the runtime half only
    )


def _environments(setup: _JobSetup, version: str) -> list[Any]:
    """The build's, cleanup's and (environment route) the user tasks', which installs
    this run's wheels from the fixed requirements file ``process_deps`` rewrote."""
    jobs = setup.jobs
    specs: list[tuple[str, list[str]]] = [
        (_BUILD_ENV, [setup.build_requirement or "sparkdeps[build]"]),
        (_USER_ENV, [setup.sparkdeps_requirement]),
    ]
    if setup.requirements_path is not None:
        specs.append((_DEPS_ENV, [setup.sparkdeps_requirement, f"-r {setup.requirements_path}"]))
    return [
        jobs.JobEnvironment(
            environment_key=key,
            spec=jobs.Environment(environment_version=version, dependencies=dependencies),
        )
        for key, dependencies in specs
    ]
