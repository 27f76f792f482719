"""Which storage serves a URI: ``storage_for``.

- a path, ``file:``: the local file system;
- ``/Volumes/<catalog>/<schema>/<volume>/...``, ``/Workspace/...``: the mount where it
  exists (a cluster); elsewhere the Databricks Files API (``databricks-sdk``), never a
  local folder of that name;
- ``dbfs:/``: ``dbutils.fs``, else the ``/dbfs`` mount;
- ``s3://``, ``gs://``, ``abfss://``, any other fsspec protocol: fsspec.

The object-store and Files API modules (and fsspec, the SDK) are imported only when
such a URI is used: a load from a local path never imports them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ..databricks import Dbutils, get_dbutils
from ..errors import StorageError
from .base import Storage
from .dbfs import DbfsStorage
from .local import DBFS_MOUNT, LocalStorage, MountedDbfs, as_path

__all__ = ["databricks_root", "storage_for"]

_VOLUME_PARTS = 5
"""``/``, ``Volumes``, catalog, schema, volume."""


def databricks_root(path: Path) -> Path | None:
    """The mount point a ``/Volumes`` or ``/Workspace`` path lives under; None for others.

    For a Volume it is the volume's own folder (``/Volumes/<catalog>/<schema>/<volume>``):
    where that folder exists the Volume is mounted, as on a cluster.
    """
    parts = path.parts
    if len(parts) < 2 or parts[0] != "/" or parts[1] not in ("Volumes", "Workspace"):
        return None
    if parts[1] == "Workspace":
        return Path("/Workspace")
    if len(parts) < _VOLUME_PARTS:
        raise StorageError(
            f"{path} is not inside a Volume",
            fix="a Volume path is /Volumes/<catalog>/<schema>/<volume>/... (run folders go "
            "inside the volume)",
        )
    return Path(*parts[:_VOLUME_PARTS])


def storage_for(uri: str, *, dbutils: Dbutils | None = None) -> Storage:
    """The storage that serves ``uri``.

    ``dbfs:/`` goes through dbutils when present, else through the ``/dbfs``
    mount, else it is an error (there is no other way to reach DBFS).
    """
    if uri.startswith("dbfs:"):
        utils = dbutils or get_dbutils()
        if utils is not None:
            return DbfsStorage(utils)
        if DBFS_MOUNT.is_dir():
            return MountedDbfs()
        raise StorageError(
            f"{uri}: dbfs: paths need dbutils or the /dbfs mount, and neither is here; "
            "use a local path or a /Volumes/... path, or run on Databricks"
        )
    scheme = urlparse(uri).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        root = databricks_root(as_path(uri))
        if root is None or root.is_dir():
            return LocalStorage()
        # not mounted here (CI, a laptop): the Files API, never a local /Volumes folder
        from .filesapi import files_api_storage  # noqa: PLC0415

        return files_api_storage(uri)
    from .objectstore import fsspec_storage  # noqa: PLC0415

    return fsspec_storage(uri, scheme)
