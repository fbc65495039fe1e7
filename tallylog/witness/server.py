"""The witness over HTTP (C2SP tlog-witness §HTTP Interface), with the standard library.

``POST /add-checkpoint`` (the submission prefix is the server's root) and
``GET /<origin hash>/checkpoint`` (the monitoring prefix is the root too). Other paths are
404, other methods 405. Keep-alive (HTTP/1.1), as the spec recommends. The access log names
the method, path and status, never the client's address.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tallylog.tlog.witness import MAX_REQUEST
from tallylog.witness.service import Response, WitnessService

__all__ = ["make_server"]

_CHECKPOINT_PATH = re.compile(r"^/([0-9a-f]{64})/checkpoint$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tallylog-witness"
    sys_version = ""
    service: WitnessService
    quiet = False
    timeout = (
        30  # seconds a connection may stay silent (a slow client holds one thread)
    )

    def _send(self, r: Response) -> None:
        self.send_response(r.status)
        self.send_header("Content-Type", r.content_type)
        self.send_header("Content-Length", str(len(r.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(r.body)

    def _plain(self, status: int, message: str, close: bool = False) -> None:
        if close:
            self.close_connection = True
        self._send(
            Response(status, "text/plain; charset=utf-8", message.encode() + b"\n")
        )

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            return self._plain(404, "not found", close=True)
        length = self.headers.get("Content-Length")
        if length is None or not length.isascii() or not length.isdigit():
            return self._plain(
                411 if length is None else 400,
                "a Content-Length is required",
                close=True,
            )
        if int(length) > MAX_REQUEST:
            return self._plain(413, "request too large", close=True)
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            return self._plain(400, "truncated request", close=True)
        self._send(self.service.add_checkpoint(body))

    def do_GET(self) -> None:
        m = _CHECKPOINT_PATH.match(self.path)
        if m is None:
            return self._plain(404, "not found")
        self._send(self.service.checkpoint(m.group(1)))

    do_HEAD = do_GET

    def _not_allowed(self) -> None:
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD, POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def log_message(self, format: str, *args: object) -> None:
        pass  # http.server's version logs the client's address; log_request says what we keep

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            print(f"{self.command} {self.path} {code}", file=sys.stderr, flush=True)


class _Server(ThreadingHTTPServer):
    """Closes its kept-alive connections when it is closed, so that a stopped witness
    answers nothing more (their threads would otherwise go on serving them)."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def make_server(
    service: WitnessService, host: str = "127.0.0.1", port: int = 0, quiet: bool = False
) -> ThreadingHTTPServer:
    """A threading HTTP server for ``service`` bound to ``host``:``port`` (0: any free
    port; read ``server.server_address``). Call ``serve_forever()``; ``shutdown()`` stops it."""
    handler = type("WitnessHandler", (_Handler,), {"service": service, "quiet": quiet})
    return _Server((host, port), handler)
