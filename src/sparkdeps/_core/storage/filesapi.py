"""Volumes and workspace files from outside Databricks: the Files API, through ``databricks-sdk``.

Used for a ``/Volumes/...`` or ``/Workspace/...`` path where it is not mounted (a CI
machine, a laptop with Databricks Connect): sparkdeps never writes a local folder of
that name. Authentication is the SDK's own: ``DATABRICKS_HOST`` with
``DATABRICKS_TOKEN`` (or OAuth variables), or ``DATABRICKS_CONFIG_PROFILE`` naming a
profile in ``~/.databrickscfg``.

Only the documented REST endpoints are used (the SDK's plain ``FilesAPI``, not its
multipart extension): ``/api/2.0/fs/files{path}`` (HEAD, GET, PUT, DELETE) and
``/api/2.0/fs/directories{path}`` (HEAD, GET, PUT, DELETE). A file appears when its
single-shot PUT completes (atomic publish); an exclusive publish sends
``overwrite=false``, which the service refuses with 409 when the file exists: one
winner (docs/storage.md says what remains to confirm on a real workspace).
"""

from __future__ import annotations

import email.utils
import importlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .base import Entry, PublishConflict, parent_and_name
from .local import as_path

__all__ = ["CREDENTIAL_HINT", "FilesApiStorage", "files_api_storage"]

logger = logging.getLogger(__name__)

CREDENTIAL_HINT = (
    "set DATABRICKS_HOST (https://<workspace>.cloud.databricks.com) and DATABRICKS_TOKEN, "
    "or DATABRICKS_CONFIG_PROFILE naming a profile in ~/.databrickscfg"
)
_CREDENTIAL_VARIABLES = (
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CONFIG_FILE",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "HOME",
)
_clients: dict[tuple[str | None, ...], FilesApiStorage] = {}


def files_api_storage(uri: str) -> FilesApiStorage:
    """The Files API storage of this environment's Databricks credentials (one per setting).

    A clear error, and nothing written, when the SDK or the credentials are missing.
    """
    key = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    cached = _clients.get(key)
    if cached is not None:
        return cached
    where = f"{uri}: there is no {_mount_of(uri)} mount on this machine, so it is reached "
    try:
        sdk = importlib.import_module("databricks.sdk")
        files = importlib.import_module("databricks.sdk.service.files")
    except ImportError as exc:
        raise StorageError(
            where + "through the Databricks Files API, which needs databricks-sdk (nothing "
            "was written)",
            fix=f"pip install 'sparkdeps[volumes]' and {CREDENTIAL_HINT}",
        ) from exc
    try:
        client = sdk.WorkspaceClient()
    except ValueError as exc:
        raise StorageError(
            where + "through the Databricks Files API, and no Databricks credentials are "
            f"configured ({_first_line(exc)}). Nothing was written (sparkdeps never creates "
            "a local /Volumes or /Workspace folder)",
            fix=CREDENTIAL_HINT,
        ) from exc
    storage = FilesApiStorage(files.FilesAPI(client.api_client), str(client.config.host))
    _clients[key] = storage
    return storage


def _mount_of(uri: str) -> str:
    parts = as_path(uri).parts
    return "/" + parts[1] if len(parts) > 1 else uri


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _error_code(exc: BaseException) -> str:
    """``NOT_FOUND``, ``ALREADY_EXISTS``... of an SDK error (its class name as a fallback)."""
    return str(getattr(exc, "error_code", "") or type(exc).__name__)


def _is_missing(exc: BaseException) -> bool:
    return type(exc).__name__ == "NotFound" or _error_code(exc) in ("NOT_FOUND", "NotFound")


def _is_taken(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"AlreadyExists", "ResourceConflict"}) or _error_code(exc) in (
        "ALREADY_EXISTS",
        "RESOURCE_ALREADY_EXISTS",
    )


def _http_date(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0


class FilesApiStorage:
    """A run-folder store reached through the Files API (see the module's notes)."""

    def __init__(self, files: Any, host: str) -> None:
        self._files = files
        self.host = host.rstrip("/")

    @property
    def via(self) -> str:
        return f"the Databricks Files API at {self.host}"

    def local_path(self, uri: str) -> Path | None:
        return None

    def _error(self, what: str, uri: str, exc: BaseException) -> StorageError:
        fix = None
        if _error_code(exc).upper().replace("_", "") in ("PERMISSIONDENIED", "UNAUTHENTICATED"):
            fix = f"check the identity's grants on the Volume, or {CREDENTIAL_HINT}"
        return StorageError(
            f"cannot {what} {uri} through {self.via}: {_first_line(exc)} ({_error_code(exc)})",
            fix=fix,
        )

    def stat(self, uri: str) -> Entry | None:
        path, name = os.fspath(as_path(uri)), parent_and_name(uri)[1]
        try:
            meta = self._files.get_metadata(path)
            return Entry(name, False, _http_date(meta.last_modified), int(meta.content_length or 0))
        except Exception as exc:
            if not _is_missing(exc):
                raise self._error("read", uri, exc) from exc
        try:
            self._files.get_directory_metadata(path)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise self._error("read", uri, exc) from exc
        return Entry(name, True, 0.0, 0)

    def exists(self, uri: str) -> bool:
        return self.stat(uri) is not None

    def executor_url(self, uri: str) -> str | None:
        return None  # the API needs the workspace token, which executors must not get

    def download(self, uri: str, local: Path) -> None:
        try:
            response = self._files.download(os.fspath(as_path(uri)))
            with local.open("wb") as out:
                if response.contents is not None:
                    shutil.copyfileobj(response.contents, out, 1 << 20)
        except Exception as exc:
            if _is_missing(exc):
                raise StorageError(f"{uri} does not exist ({self.via})") from exc
            raise self._error("copy", uri, exc) from exc

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        path = as_path(uri)
        try:
            self._files.create_directory(os.fspath(path.parent))
            with local.open("rb") as contents:
                self._files.upload(os.fspath(path), contents, overwrite=not exclusive)
        except Exception as exc:
            if exclusive and _is_taken(exc):
                raise PublishConflict(f"{uri} already exists") from exc
            raise self._error("publish", uri, exc) from exc

    def remove_tree(self, uri: str) -> bool:
        entry = self.stat(uri)
        if entry is None:
            return False
        path = os.fspath(as_path(uri))
        try:
            if not entry.is_dir:
                self._files.delete(path)
                return True
            for child in self.list_dir(uri):
                self.remove_tree(f"{uri.rstrip('/')}/{child.name}")
            self._files.delete_directory(path)
        except StorageError:
            raise
        except Exception as exc:
            if _is_missing(exc):  # removed by another cleanup meanwhile
                return True
            raise self._error("remove", uri, exc) from exc
        return True

    def list_dir(self, uri: str) -> list[Entry]:
        try:
            found = list(self._files.list_directory_contents(os.fspath(as_path(uri))))
        except Exception as exc:
            if _is_missing(exc):
                return []
            raise self._error("list", uri, exc) from exc
        return [
            Entry(
                str(item.name or parent_and_name(str(item.path))[1]),
                bool(item.is_directory),
                (item.last_modified or 0) / 1000.0,
                int(item.file_size or 0),
            )
            for item in found
        ]

    def check_writable(self, uri: str) -> None:
        """The Volume exists and this identity can see it (folders are made on publish)."""
        parts = as_path(uri).parts
        if len(parts) < 5 or parts[1] != "Volumes":  # /, Volumes, catalog, schema, volume
            return
        volume = os.fspath(Path(*parts[:5]))
        try:
            self._files.get_directory_metadata(volume)
        except Exception as exc:
            if _is_missing(exc):
                raise StorageError(
                    f"dest {uri}: the Volume {volume} does not exist on {self.host}, or this "
                    "identity cannot see it",
                    fix="create the Volume (CREATE VOLUME <catalog>.<schema>.<volume>) or pass "
                    "one that exists",
                ) from exc
            raise self._error("reach", uri, exc) from exc
