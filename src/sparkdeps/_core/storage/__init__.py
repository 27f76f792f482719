"""Where wheelhouses live: the one :class:`Storage` interface and its backends.

``base`` (the protocol, shared helpers), ``local`` (POSIX paths and mounts),
``dbfs`` (``dbutils.fs``), ``objectstore`` (fsspec: ``s3://``, ``gs://``,
``abfss://``...), ``filesapi`` (Volumes and workspace files through the Databricks
SDK, where they are not mounted), ``choose`` (``storage_for``). docs/storage.md
says how each keeps the promises.
"""

from __future__ import annotations

from .base import Entry, PublishConflict, Storage, download_copy, join_uri, local_file
from .choose import storage_for
from .dbfs import DbfsStorage
from .local import LocalStorage

__all__ = [
    "DbfsStorage",
    "Entry",
    "LocalStorage",
    "PublishConflict",
    "Storage",
    "download_copy",
    "join_uri",
    "local_file",
    "storage_for",
]
