"""A PEP 503 index on 127.0.0.1 for the benchmark mirror.

Like tests/support/index.py, but the sha256 of every file is computed once at
start and files are streamed: the test index hashes every file on every
project page, which on W2 (hundreds of MB) would time the server, not the client.
"""

from __future__ import annotations

import hashlib
import html
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return canonicalize_name(parse_sdist_filename(filename)[0])
    except ValueError:
        return None
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class MirrorIndex:
    """Serve the distributions in ``root`` as ``http://127.0.0.1:<port>/simple/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests = 0
        self._files: dict[str, Path] = {}
        self._pages: dict[str, bytes] = {}
        projects: dict[str, list[Path]] = {}
        for path in sorted(root.iterdir()):
            project = _project_of(path.name)
            if project and path.is_file():
                projects.setdefault(project, []).append(path)
                self._files[path.name] = path
        for project, files in projects.items():
            links = "".join(
                f'<a href="/files/{html.escape(f.name)}#sha256={_sha256(f)}">'
                f"{html.escape(f.name)}</a>\n"
                for f in files
            )
            self._pages[project] = self._html(links)
        self._root_page = self._html(
            "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(projects))
        )
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self, head=False)

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @staticmethod
    def _html(body: str) -> bytes:
        return f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/simple/"

    def __enter__(self) -> MirrorIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        self.requests += 1
        path = unquote(handler.path.split("?", 1)[0])
        if path in ("/simple", "/simple/"):
            self._send(handler, self._root_page, "text/html", head)
        elif path.startswith("/simple/"):
            page = self._pages.get(canonicalize_name(path[len("/simple/") :].strip("/")))
            if page is None:
                handler.send_error(404)
            else:
                self._send(handler, page, "text/html", head)
        elif path.startswith("/files/") and path[len("/files/") :] in self._files:
            file = self._files[path[len("/files/") :]]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(file.stat().st_size))
            handler.end_headers()
            if not head:
                with file.open("rb") as source:
                    shutil.copyfileobj(source, handler.wfile, 1 << 20)
        else:
            handler.send_error(404)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, data: bytes, kind: str, head: bool) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not head:
            handler.wfile.write(data)
