"""A stand-in of the Databricks Files API on 127.0.0.1, reached through the real databricks-sdk.

Databricks itself cannot run here, so this follows the documented REST endpoints
(docs/storage.md): ``/api/2.0/fs/files{path}`` (HEAD: metadata in headers; GET: the
bytes; PUT: upload, ``overwrite=false`` refused with 409 ALREADY_EXISTS when the file
exists; DELETE) and ``/api/2.0/fs/directories{path}`` (HEAD; GET: ``contents`` and
``next_page_token``; PUT: create with parents, idempotent; DELETE: only an empty
folder). Errors are Databricks JSON (``error_code``, ``message``). Every request needs
``Authorization: Bearer <token>``. Volumes exist only where a test creates them;
paths outside a Volume answer 404. Files live in a folder on disk; writes are served
one at a time, so an ``overwrite=false`` PUT is atomic (as the service is taken to be:
docs/storage.md lists it among what a real workspace must confirm).
"""

from __future__ import annotations

import email.utils
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "dapi0123456789abcdef0123456789abcdef"
_FILES = "/api/2.0/fs/files"
_DIRS = "/api/2.0/fs/directories"
_PAGE = 2
"""A small page: listings really go through next_page_token."""


class FilesApiStandIn:
    """Serve a Files API over ``root`` at ``http://127.0.0.1:<port>``."""

    def __init__(self, root: Path, *, token: str = TOKEN) -> None:
        self.root = root
        self.token = token
        self.requests: list[tuple[str, str]] = []
        """(method, path without query) of every request."""
        self.lock = threading.Lock()
        stand_in = self

        class Handler(_Handler):
            server_state = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"DATABRICKS_HOST": self.url, "DATABRICKS_TOKEN": self.token}

    def create_volume(self, catalog: str, schema: str, volume: str) -> str:
        (self.root / "Volumes" / catalog / schema / volume).mkdir(parents=True, exist_ok=True)
        return f"/Volumes/{catalog}/{schema}/{volume}"

    def local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def __enter__(self) -> FilesApiStandIn:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    server_state: FilesApiStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    # --- plumbing -------------------------------------------------------------------
    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error_code": code, "message": message}).encode()
        self._reply(status, body, {"Content-Type": "application/json"})

    def _target(self) -> tuple[str, str, dict[str, list[str]]] | None:
        """(endpoint, path, query) of a Files API request; None (and a reply) otherwise."""
        state = self.server_state
        parts = urlsplit(self.path)
        state.requests.append((self.command, parts.path))
        if parts.path == "/.well-known/databricks-config":
            self._reply(200, json.dumps({"oidc_endpoint": f"{state.url}/oidc"}).encode())
            return None
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._error(401, "UNAUTHENTICATED", "Invalid access token.")
            return None
        for endpoint in (_FILES, _DIRS):
            if parts.path.startswith(endpoint + "/"):
                path = unquote(parts.path[len(endpoint) :])
                if ".." in path.split("/"):
                    self._error(400, "INVALID_PARAMETER_VALUE", "a path must be absolute")
                    return None
                return endpoint, path, parse_qs(parts.query)
        self._error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{self.command} {parts.path}'")
        return None

    def _in_volume(self, path: str) -> Path | None:
        """The local file of ``path`` if it lies in an existing Volume, else None (and 404)."""
        parts = path.strip("/").split("/")
        state = self.server_state
        if len(parts) < 4 or parts[0] != "Volumes" or not state.local("/".join(parts[:4])).is_dir():
            self._error(404, "NOT_FOUND", f"The path {path} is not in an existing volume.")
            return None
        return state.local(path)

    def _located(self) -> tuple[str, str, dict[str, list[str]], Path] | None:
        """(endpoint, path, query, local file) of a request in a Volume; None (and a reply)."""
        target = self._target()
        if target is None:
            return None
        endpoint, path, query = target
        local = self._in_volume(path)
        return None if local is None else (endpoint, path, query, local)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- verbs ----------------------------------------------------------------------
    def do_HEAD(self) -> None:
        located = self._located()
        if located is None:
            return
        endpoint, path, _, local = located
        if endpoint == _FILES and local.is_file():
            info = local.stat()
            modified = email.utils.formatdate(info.st_mtime, usegmt=True)
            headers = {"Content-Length": str(info.st_size), "Last-Modified": modified}
            self._reply(200, b"", {**headers, "Content-Type": "application/octet-stream"})
        elif endpoint == _DIRS and local.is_dir():
            self._reply(200)
        else:
            self._error(404, "NOT_FOUND", f"{path} does not exist")

    def do_GET(self) -> None:
        located = self._located()
        if located is None:
            return
        endpoint, path, query, local = located
        if endpoint == _FILES:
            if not local.is_file():
                self._error(404, "NOT_FOUND", f"The file {path} does not exist")
                return
            data = local.read_bytes()
            self._reply(200, data, {"Content-Type": "application/octet-stream"})
            return
        if not local.is_dir():
            self._error(404, "NOT_FOUND", f"The directory {path} does not exist")
            return
        self._reply(200, json.dumps(_page(local, path, query)).encode(), _JSON)

    def do_PUT(self) -> None:
        target = self._target()
        if target is None:
            return
        endpoint, path, query = target
        body = self._body()
        local = self._in_volume(path)
        if local is None:
            return
        with self.server_state.lock:
            if endpoint == _DIRS:
                if local.is_file():
                    self._error(409, "ALREADY_EXISTS", f"{path} is a file")
                    return
                local.mkdir(parents=True, exist_ok=True)
                self._reply(200, b"{}", _JSON)
                return
            overwrite = query.get("overwrite", ["true"])[0].lower() != "false"
            if local.is_dir() or (local.exists() and not overwrite):
                self._error(409, "ALREADY_EXISTS", f"The file {path} already exists")
                return
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.{os.urandom(4).hex()}.upload")
            partial.write_bytes(body)
            os.replace(partial, local)
        self._reply(204)

    def do_DELETE(self) -> None:
        located = self._located()
        if located is None:
            return
        endpoint, path, _, local = located
        with self.server_state.lock:
            if endpoint == _FILES:
                if not local.is_file():
                    self._error(404, "NOT_FOUND", f"The file {path} does not exist")
                    return
                local.unlink()
            else:
                if not local.is_dir():
                    self._error(404, "NOT_FOUND", f"The directory {path} does not exist")
                    return
                if any(local.iterdir()):
                    self._error(409, "DIRECTORY_NOT_EMPTY", f"The directory {path} is not empty")
                    return
                shutil.rmtree(local)
        self._reply(204)


_JSON = {"Content-Type": "application/json"}


def _page(local: Path, path: str, query: dict[str, list[str]]) -> dict[str, object]:
    """One page of a directory listing, ``_PAGE`` entries at most, sorted by name."""
    children = sorted(child for child in local.iterdir() if not child.name.endswith(".upload"))
    start = int(query.get("page_token", ["0"])[0] or 0)
    page = children[start : start + _PAGE]
    contents = []
    for child in page:
        info = child.stat()
        entry: dict[str, object] = {
            "path": f"{path.rstrip('/')}/{child.name}",
            "name": child.name,
            "is_directory": child.is_dir(),
            "last_modified": int(info.st_mtime * 1000),
        }
        if child.is_file():
            entry["file_size"] = info.st_size
        contents.append(entry)
    result: dict[str, object] = {"contents": contents}
    if start + _PAGE < len(children):
        result["next_page_token"] = str(start + _PAGE)
    return result


@contextmanager
def files_api(root: Path) -> Iterator[FilesApiStandIn]:
    with FilesApiStandIn(root) as stand_in:
        yield stand_in
