"""The bundle's jobs, defined in Python with sparkdeps' three-task helper.

``databricks bundle deploy`` runs :func:`load_resources` (see ``python:`` in
databricks.yml). Paths under ``${workspace.file_path}`` are this bundle's files
as synced to the workspace; ``${var.*}`` come from databricks.yml.
"""

from __future__ import annotations

from databricks.bundles.core import Bundle, Resources

from sparkdeps import three_task_job

FILES = "${workspace.file_path}"


def load_resources(bundle: Bundle) -> Resources:
    resources = Resources()
    common = {
        "source": f"{FILES}/deps/requirements.txt",
        "python_file": f"{FILES}/src/job.py",
        "base": "${var.sparkdeps_base}",
        "sparkdeps_requirement": "${var.sparkdeps_requirement}",
        "build_requirement": "${var.sparkdeps_requirement}[build]",
    }
    # Variant 1: one job cluster (DBR 14.3 LTS) shared by the three tasks.
    resources.add_resource(
        "sparkdeps_job_cluster",
        three_task_job(
            "sparkdeps example (job cluster)",
            compute="job_cluster",
            spark_version="14.3.x-scala2.12",
            node_type_id="${var.node_type_id}",
            num_workers=2,
            **common,
        ),
    )
    # Variant 2: serverless; every task names an environment_key.
    resources.add_resource(
        "sparkdeps_serverless",
        three_task_job("sparkdeps example (serverless)", compute="serverless", **common),
    )
    return resources
