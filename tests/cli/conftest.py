"""A log directory served over HTTP on loopback for the command-line tests (the helpers that
run ``tallylog`` are in tests/support/cli.py)."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def serve() -> Iterator[functools.partial[str]]:
    """``serve(log)`` serves a log directory over HTTP on 127.0.0.1 (with a stdlib
    http.server in a thread) and returns its base URL ``http://127.0.0.1:PORT/<name>/``;
    the requested paths are recorded in ``serve.requests``, with each request's
    Accept-Encoding in ``serve.encodings``. ``serve(log, gzip=True)`` sends every file
    gzip-encoded, asked for or not (a server MAY)."""
    servers: list[http.server.ThreadingHTTPServer] = []
    requests: list[str] = []
    encodings: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    class GzipHandler(Handler):
        def do_GET(self) -> None:
            encodings.append(self.headers.get("Accept-Encoding", ""))
            path = Path(self.translate_path(self.path))
            if not path.is_file():
                self.send_error(404)
                return
            body = gzip.compress(path.read_bytes())
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def start(log: Path, gzip: bool = False) -> str:
        handler = functools.partial(GzipHandler if gzip else Handler, directory=str(log.parent))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/{log.name}/"

    fn = functools.partial(start)
    fn.requests = requests  # type: ignore[attr-defined]
    fn.encodings = encodings  # type: ignore[attr-defined]
    yield fn
    for server in servers:
        server.shutdown()
        server.server_close()

