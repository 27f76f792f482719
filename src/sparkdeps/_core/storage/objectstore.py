"""Object storage through fsspec: ``s3://``, ``gs://``, ``abfss://`` and any other protocol.

Credentials come from each filesystem's own standard places (for s3fs: the AWS
environment variables, ``~/.aws``, an instance role; ``AWS_ENDPOINT_URL`` for an
S3-compatible server), never from the URI: a URI with ``user:password@`` is refused.

An object appears whole when its upload completes, so a plain upload is an atomic
publish. One winner per name (docs/storage.md):

- ``s3://``: a conditional put, ``If-None-Match: *`` (s3fs ``mode="create"``): S3
  refuses the second writer with 412 Precondition Failed;
- every other protocol: a claim protocol. Each publisher writes a unique claim object
  under ``<name>.claims/``, then lists the claims; it publishes only when its own is
  the only one. On a store with read-after-write listing (S3, GCS, ADLS all are) two
  publishers cannot both see themselves alone: at most one wins, and one that comes
  later sees the winner's claim and loses.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import StorageError
from .base import Entry, PublishConflict, parent_and_name

__all__ = ["CONDITIONAL_PUT", "PRESIGN_SECONDS", "FsspecStorage", "fsspec_storage"]

logger = logging.getLogger(__name__)

CONDITIONAL_PUT = frozenset({"s3", "s3a"})
"""Protocols whose fsspec filesystem makes ``mode="create"`` a server-side conditional put."""
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure", "abfss": "azure"}
_READ_ONLY = frozenset({"http", "https"})
_CLAIMS = ".claims"
PRESIGN_SECONDS = 7 * 24 * 3600
"""How long a presigned URL handed to executors lives (SigV4's longest)."""


def presign_seconds() -> int:
    """``SPARKDEPS_PRESIGN_SECONDS`` (default :data:`PRESIGN_SECONDS`); 0 or less: no URL."""
    text = os.environ.get("SPARKDEPS_PRESIGN_SECONDS", "").strip()
    try:
        return int(text) if text else PRESIGN_SECONDS
    except ValueError as exc:
        raise StorageError(
            f"SPARKDEPS_PRESIGN_SECONDS={text!r} is not a whole number of seconds",
            fix="set it to seconds (0 makes executors fetch from the driver)",
        ) from exc


def _install_hint(protocol: str) -> str:
    extra = _EXTRAS.get(protocol, "fsspec")
    return f"pip install 'sparkdeps[{extra}]'" + (
        "" if protocol in _EXTRAS else f" and the fsspec filesystem for {protocol}://"
    )


def fsspec_storage(uri: str, protocol: str) -> FsspecStorage:
    """The fsspec storage for ``uri``: a clear error when fsspec or its filesystem is missing."""
    if "@" in urlparse(uri).netloc:
        raise StorageError(
            f"{uri}: credentials in a storage URI are refused (they would be printed and "
            "handed on)",
            fix="drop the user:password@ part and configure credentials the "
            "filesystem's standard way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
            "for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://, AZURE_STORAGE_* for abfss://)",
        )
    try:
        fsspec = importlib.import_module("fsspec")
    except ImportError as exc:
        raise StorageError(
            f"{uri}: {protocol}:// URIs go through fsspec, which is not installed",
            fix=_install_hint(protocol),
        ) from exc
    try:
        fs = fsspec.filesystem(protocol)
    except ImportError as exc:
        raise StorageError(
            f"{uri}: fsspec has no {protocol}:// filesystem installed ({exc})",
            fix=_install_hint(protocol),
        ) from exc
    except ValueError as exc:
        raise StorageError(
            f"{uri}: unsupported scheme {protocol!r} (use a path, file:, /Volumes, dbfs: or "
            f"an fsspec protocol such as s3://, gs://, abfss://): {exc}"
        ) from exc
    return FsspecStorage(fs, protocol)


def _mtime(info: dict[str, Any]) -> float:
    """Seconds since the epoch from whichever key the filesystem uses (0.0 if none)."""
    for key in ("LastModified", "last_modified", "mtime", "updated", "created"):
        value = info.get(key)
        if isinstance(value, _dt.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


class FsspecStorage:
    """A run-folder store on any fsspec filesystem (see the module's notes on publishing)."""

    def __init__(self, fs: Any, protocol: str, *, conditional_put: bool | None = None) -> None:
        self._fs = fs
        self.protocol = protocol
        self.conditional_put = (
            protocol in CONDITIONAL_PUT if conditional_put is None else conditional_put
        )

    @property
    def via(self) -> str:
        return f"fsspec ({type(self._fs).__module__.partition('.')[0]}, {self.protocol}://)"

    def local_path(self, uri: str) -> Path | None:
        return None

    def _fresh(self, uri: str) -> None:
        """Forget cached listings: another process may have written since."""
        self._fs.invalidate_cache(uri)
        self._fs.invalidate_cache(parent_and_name(uri)[0])

    def _error(self, what: str, uri: str, exc: BaseException) -> StorageError:
        return StorageError(f"cannot {what} {uri} through {self.via}: {type(exc).__name__}: {exc}")

    def stat(self, uri: str) -> Entry | None:
        try:
            self._fresh(uri)
            info = self._fs.info(uri)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error("read", uri, exc) from exc
        is_dir = info.get("type") == "directory"
        return Entry(parent_and_name(uri)[1], is_dir, _mtime(info), int(info.get("size") or 0))

    def exists(self, uri: str) -> bool:
        return self.stat(uri) is not None

    def download(self, uri: str, local: Path) -> None:
        try:
            self._fs.get_file(uri, os.fspath(local))
        except FileNotFoundError as exc:
            raise StorageError(f"{uri} does not exist") from exc
        except Exception as exc:
            raise self._error("copy", uri, exc) from exc

    def publish(self, local: Path, uri: str, *, exclusive: bool = False) -> None:
        self._writable(uri)
        try:
            if exclusive and self.conditional_put:
                self._fs.put_file(os.fspath(local), uri, mode="create")
            else:
                if exclusive:
                    self._claim(uri)
                self._fs.put_file(os.fspath(local), uri)
        except PublishConflict:
            raise
        except FileExistsError as exc:  # the conditional put lost: 412 Precondition Failed
            raise PublishConflict(f"{uri} already exists") from exc
        except Exception as exc:
            raise self._error("publish", uri, exc) from exc
        finally:
            self._fresh(uri)

    def executor_url(self, uri: str) -> str | None:
        """A presigned URL (s3, gs): executors fetch the object from the store, not the driver.

        Valid for ``SPARKDEPS_PRESIGN_SECONDS`` (default 7 days, SigV4's longest): an
        executor that starts later fetches it again (docs/facts.md, fact 2). 0 turns it off.
        """
        if self.protocol in _READ_ONLY:  # already a URL: executors fetch it as it is
            return uri if urlparse(uri).path.endswith(".zip") else None
        seconds = presign_seconds()
        if seconds <= 0:
            return None
        try:
            return str(self._fs.sign(uri, expiration=seconds))
        except NotImplementedError:
            return None
        except Exception as exc:
            logger.warning(
                "could not presign %s through %s (%s): executors fetch it from the driver",
                uri,
                self.via,
                type(exc).__name__,
            )
            return None

    def _claim(self, uri: str) -> None:
        """Win ``uri`` by the claim protocol (the module's notes), else :class:`PublishConflict`."""
        claims = uri + _CLAIMS
        mine = f"{time.time_ns():020d}-{os.urandom(8).hex()}"
        self._fs.pipe_file(f"{claims}/{mine}", b"")
        self._fresh(f"{claims}/{mine}")
        found = [parent_and_name(str(path))[1] for path in self._fs.ls(claims, detail=False)]
        if found != [mine] or self._fs.exists(uri):
            raise PublishConflict(f"{uri} already exists or is being published ({len(found)})")

    def _writable(self, uri: str) -> None:
        if self.protocol in _READ_ONLY:
            raise StorageError(
                f"{uri}: {self.protocol}:// URIs can be read (load, inspect), not published to",
                fix="publish to object storage (s3://, gs://, abfss://) or a path",
            )

    def remove_tree(self, uri: str) -> bool:
        self._writable(uri)
        if not self.exists(uri):
            return False
        try:
            self._fs.rm(uri, recursive=True)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._error("remove", uri, exc) from exc
        finally:
            self._fresh(uri)
        return True

    def list_dir(self, uri: str) -> list[Entry]:
        try:
            self._fresh(uri.rstrip("/") + "/x")
            infos = self._fs.ls(uri, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._error("list", uri, exc) from exc
        base = self._fs._strip_protocol(uri).rstrip("/")
        entries = []
        for info in infos:
            name = str(info.get("name", "")).rstrip("/")
            if name == base:  # some filesystems list a folder's own marker object
                continue
            is_dir = info.get("type") == "directory"
            size = int(info.get("size") or 0)
            entries.append(Entry(parent_and_name(name)[1], is_dir, _mtime(info), size))
        return entries

    def check_writable(self, uri: str) -> None:
        """The bucket (or container) exists and these credentials can see it."""
        self._writable(uri)
        bucket = urlparse(uri).netloc
        root = f"{self.protocol}://{bucket}"
        try:
            found = self._fs.exists(root)
        except Exception as exc:
            raise StorageError(
                f"cannot reach dest {uri} through {self.via}: {type(exc).__name__}: {exc}",
                fix="configure credentials the filesystem's standard way (for s3://: "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, AWS_ENDPOINT_URL for "
                "an S3-compatible server)",
            ) from exc
        if not found:
            raise StorageError(
                f"dest {uri}: {root} does not exist or these credentials cannot see it",
                fix="create the bucket (or container) or pass one that exists",
            )
