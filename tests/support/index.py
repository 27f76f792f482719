"""A PEP 503 simple index served on 127.0.0.1 from a folder of wheels and sdists.

Real HTTP, so pip and uv talk to it exactly as they talk to PyPI. Counts the
requests it serves (a cache test asserts a rebuild made none), can require
basic auth (the secrets tests), and can be made to hang (fault tests).

Also the benchmarks' mirror (benchmarks/run.py): each file's sha256 is computed
once (kept by name, size and mtime, so a file a test adds or replaces is hashed
again) and files are streamed, so a mirror of hundreds of MB times the client,
not the server.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import threading
import time
import zipfile
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from sparkdeps._core.hashing import CHUNK, sha256_file


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return canonicalize_name(parse_sdist_filename(filename)[0])
    except ValueError:
        return None
    return None


class IndexServer:
    """Serve ``root`` as ``http://127.0.0.1:<port>/simple/``."""

    def __init__(
        self,
        root: Path,
        *,
        username: str | None = None,
        password: str | None = None,
        json_pages: bool = False,
        core_metadata: bool = False,
    ) -> None:
        self.root = root
        self.json_pages = json_pages
        """Answer a client that asks for PEP 691 JSON with it (with PEP 700 ``size``)."""
        self.core_metadata = core_metadata
        """Serve each wheel's METADATA as ``<wheel>.metadata`` (PEP 658), as PyPI does."""
        self.username = username
        self.password = password
        self.requests: list[str] = []
        self.agents: list[tuple[str, str]] = []
        """(user agent, path) of every request: tells pip's downloads from uv's metadata reads."""
        self.hang_seconds = 0.0
        self._lock = threading.Lock()
        self._digests: dict[tuple[str, int, int], str] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The index URL (with credentials when auth is on)."""
        if self.username is not None:
            return f"http://{self.username}:{self.password}@127.0.0.1:{self.port}/simple/"
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def plain_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def start(self) -> IndexServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.agents.clear()

    def _projects(self) -> dict[str, list[Path]]:
        projects: dict[str, list[Path]] = defaultdict(list)
        for path in sorted(self.root.iterdir()):
            project = _project_of(path.name)
            if project and path.is_file():
                projects[project].append(path)
        return projects

    def _sha256(self, file: Path) -> str:
        info = file.stat()
        key = (file.name, info.st_size, info.st_mtime_ns)
        with self._lock:
            known = self._digests.get(key)
        if known is None:
            known = sha256_file(file)
            with self._lock:
                self._digests[key] = known
        return known

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.username is None:
            return True
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return handler.headers.get("Authorization", "") == f"Basic {expected}"

    def _handle(self, handler: BaseHTTPRequestHandler, *, head: bool = False) -> None:
        with self._lock:
            self.requests.append(handler.path)
            self.agents.append((handler.headers.get("User-Agent", ""), handler.path))
        if self.hang_seconds:
            time.sleep(self.hang_seconds)
        if not self._authorized(handler):
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="test index"')
            handler.end_headers()
            return
        path = unquote(handler.path.split("?", 1)[0])
        projects = self._projects()
        if path in ("/simple", "/simple/"):
            links = "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(projects))
            self._send_html(handler, links, head=head)
        elif path.startswith("/simple/"):
            project = canonicalize_name(path[len("/simple/") :].strip("/"))
            if project not in projects:
                handler.send_error(404)
                return
            if self.json_pages and "json" in handler.headers.get("Accept", ""):
                self._send_json(handler, project, projects[project], head=head)
                return
            links = ""
            for file in projects[project]:
                digest = self._sha256(file)
                links += (
                    f'<a href="/files/{html.escape(file.name)}#sha256={digest}">'
                    f"{html.escape(file.name)}</a>\n"
                )
            self._send_html(handler, links, head=head)
        elif self.core_metadata and path.startswith("/files/") and path.endswith(".whl.metadata"):
            self._send_metadata(handler, self.root / Path(path).name.removesuffix(".metadata"))
        elif path.startswith("/files/"):
            file = self.root / Path(path[len("/files/") :]).name
            if not file.is_file():
                handler.send_error(404)
                return
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(file.stat().st_size))
            handler.end_headers()
            if not head:
                with file.open("rb") as source:  # streamed: pyspark wheels are 300+ MB
                    shutil.copyfileobj(source, handler.wfile, CHUNK)
        else:
            handler.send_error(404)

    @staticmethod
    def _send_metadata(handler: BaseHTTPRequestHandler, wheel: Path) -> None:
        if not wheel.is_file():
            handler.send_error(404)
            return
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            data = archive.read(name)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send_json(
        self, handler: BaseHTTPRequestHandler, project: str, files: list[Path], *, head: bool
    ) -> None:
        page = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "versions": sorted(
                {str(parse_wheel_filename(f.name)[1]) for f in files if f.suffix == ".whl"}
            ),
            "files": [
                {
                    "filename": file.name,
                    "url": f"/files/{file.name}",
                    "hashes": {"sha256": self._sha256(file)},
                    "size": file.stat().st_size,
                }
                for file in files
            ],
        }
        data = json.dumps(page).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not head:
            handler.wfile.write(data)

    @staticmethod
    def _send_html(handler: BaseHTTPRequestHandler, body: str, *, head: bool = False) -> None:
        data = f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not head:
            handler.wfile.write(data)
