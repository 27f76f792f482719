"""The three-task job's fixed names and defaults: task keys, references, the base.

Apart from :mod:`sparkdeps._jobs.tasks` so that ``sparkdeps --help`` and every
command's parser can name them without importing the entry points (and through
them the runtime half).
"""

from __future__ import annotations

from .._core.paths import PROCESS_DEPS_TASK_KEY, TASK_VALUE_KEY

__all__ = [
    "BASE_ENV",
    "CLEANUP_TASK_KEY",
    "DBR_14_3_SPARK_VERSION",
    "DEFAULT_BASE",
    "JOB_RUN_ID_REFERENCE",
    "RUN_PREFIX",
    "SERVERLESS_ENVIRONMENT_VERSION",
    "WHEELHOUSE_REFERENCE",
]

CLEANUP_TASK_KEY = "cleanup"
WHEELHOUSE_REFERENCE = f"{{{{tasks.{PROCESS_DEPS_TASK_KEY}.values.{TASK_VALUE_KEY}}}}}"
JOB_RUN_ID_REFERENCE = "{{job.run_id}}"
BASE_ENV = "SPARKDEPS_BASE"
# Unity Catalog Volumes are the recommended home (docs/facts.md, fact 10); DBFS
# (``dbfs:/FileStore/sparkdeps``) still works through dbutils or the /dbfs mount.
DEFAULT_BASE = "/Volumes/main/default/sparkdeps"
DBR_14_3_SPARK_VERSION = "14.3.x-scala2.12"
SERVERLESS_ENVIRONMENT_VERSION = "2"
RUN_PREFIX = "job-"
"""A job run's folders are ``<base>/job-<job run id>[-<uuid>]/``."""
