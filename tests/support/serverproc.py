"""A real ``tallylog serve`` in a subprocess, and an HTTP client that picks its source address.

Used by the end-to-end safety tests (no IP stored, crashes) and the browser tests. The
server runs in its own process group with its stdout/stderr in files under ``logs`` so a
test can search every byte it wrote, and ``kill()`` sends SIGKILL to the whole group (the
web workers and the sequencer with them).
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = "three-withdrawals"


def tallylog_command() -> list[str]:
    return [sys.executable, "-m", "tallylog.cli"]


def server_env(home: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a tallylog subprocess: ours without Django's, pytest's or tallylog's."""
    # DATABASE_URL dropped too: each server runs on its own home's SQLite database, whose
    # every byte the privacy tests can search (the PostgreSQL path of the sequencer has
    # its own end-to-end test in tests/scale/).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "TALLYLOG_")) and k != "DATABASE_URL"
    }
    if home is not None:
        env["TALLYLOG_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    env["TALLYLOG_PUBLISH_INTERVAL"] = "0"  # publish at once (tests/settings.py's value)
    env.update(extra)
    return env


# Ports for the servers tests start: below Linux's ephemeral range (32768-60999), where no
# outgoing connection (ours, or the other pass's of `make test` running beside this one)
# takes a port between our choosing it and the server binding it, and picked at random, so
# that two test processes seldom try the same one.
_TEST_PORTS = range(20000, 32000)
_random_port = random.SystemRandom()


def free_port() -> int:
    """A loopback port nothing listens on now (a server to be started binds it next)."""
    for _ in range(200):
        port = _random_port.choice(_TEST_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("free_port: no free port in 20000-31999")


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tallylog ARGS --home HOME`` to completion; its result (never raises on failure)."""
    return subprocess.run(
        [*tallylog_command(), *args, "--home", str(home)],
        env=env or server_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last of repeated headers
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    tls: ssl.SSLContext | None = None,
) -> Response:
    """One HTTP request to 127.0.0.1:PORT from the loopback address ``source`` (over TLS
    with ``tls``)."""
    conn: http.client.HTTPConnection
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0), context=tls)
    try:
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=all_headers)
        resp = conn.getresponse()
        raw = resp.getheaders()
        return Response(resp.status, {k.lower(): v for k, v in raw}, resp.read(), raw)
    finally:
        conn.close()


class PortTaken(RuntimeError):
    """The server could not bind its port: another process took it first."""


@dataclass
class Server:
    """``tallylog serve`` on ``port`` for ``home``; logs in ``logs/serve-N.{out,err}``."""

    home: Path
    logs: Path
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, timeout: float = 60) -> None:
        first = self.starts == 0
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if not first or attempt == 2:
                    raise  # a restart keeps its port: the test's clients know it
                self.port = free_port()  # another process took it between choosing and binding

    def _start(self, timeout: float) -> None:
        _SERVED_HOMES.add(self.home)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        out = open(self.logs / f"serve-{self.starts}.out", "wb")  # noqa: SIM115 (closed once the child has them)
        err = open(self.logs / f"serve-{self.starts}.err", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*tallylog_command(), "serve", "--port", str(self.port), "--home", str(self.home), *self.args],
            env=server_env(self.home, **self.env_extra),
            stdout=out,
            stderr=err,
            cwd=REPO,
            start_new_session=True,
        )
        out.close()
        err.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()  # never leave a server that did not come up running
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.stderr_tail()
                error = PortTaken if "Address already in use" in tail else RuntimeError
                raise error(f"tallylog serve exited with {self.proc.returncode}:\n{tail}")
            try:
                if request(self.port, "GET", "/api/v1/log", timeout=2).status == 200:
                    return
            except (OSError, http.client.HTTPException):
                # HTTPException: before the server binds its (ephemeral-range) port, a
                # connection to it can be the kernel's self-connect, which echoes the request.
                pass
            time.sleep(0.05)
        raise RuntimeError(f"tallylog serve not ready after {timeout}s:\n{self.stderr_tail()}")

    def stderr_tail(self) -> str:
        path = self.logs / f"serve-{self.starts}.err"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def processes(self) -> list[int]:
        """Every live process of this server: its group (master, workers) and any process
        whose command line names this home (the sequencer runs in a session of its own)."""
        pids = set()
        home = str(self.home).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                pgid = os.getpgid(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
            if (self.proc is not None and pgid == self.proc.pid) or (home in cmdline.split(b"\0") and b"tallylog.cli" in cmdline):
                pids.add(int(entry.name))
        return sorted(pids)

    def kill(self) -> None:
        """SIGKILL the server: master, web workers and sequencer, all at once."""
        if self.proc is None:
            return
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        self.proc = None
        deadline = time.monotonic() + 30
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then make sure nothing of the group is left."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def get(self, path: str, **kwargs: Any) -> Response:
        return request(self.port, "GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Response:
        return request(self.port, "POST", path, body=body, **kwargs)


def init_home(home: Path) -> None:
    result = run_cli(home, "init")
    if result.returncode != 0:
        raise RuntimeError(f"tallylog init failed: {result.stderr}")


class _FormParser(HTMLParser):
    """The forms of a page: action, method and the inputs' default values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": [], "names": set()})
        elif self.forms and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            self.forms[-1]["names"].add(name)
            kind = a.get("type", "text").lower()
            if tag == "button":  # a submit button: sent only when ``submit`` is given it
                return
            if kind in ("hidden",) or (kind in ("checkbox", "radio") and "checked" in a):
                self.forms[-1]["fields"].append((name, a.get("value", "")))


@dataclass
class WebClient:
    """A cookie-keeping client for the HTML pages, from loopback address ``source``."""

    port: int
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=lambda: {"Accept-Language": "zh-Hans"})
    tls: ssl.SSLContext | None = None

    def _send(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Response:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        response = request(self.port, method, path, body=body, source=self.source, headers=headers, tls=self.tls)
        conn_cookies = [v for k, v in response.raw_headers if k.lower() == "set-cookie"]
        for cookie in conn_cookies:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response

    def get(self, path: str) -> Response:
        response = self._send("GET", path)
        return self._follow(response)

    def _follow(self, response: Response, hops: int = 5) -> Response:
        while response.status in (301, 302, 303, 307, 308) and hops:
            location = response.headers["location"]
            parts = urlsplit(location)
            response = self._send("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            hops -= 1
        return response

    def submit(self, path: str, values: dict[str, str | list[str]], form_index: int = -1) -> Response:
        """GET ``path``, fill its form (hidden fields kept) with ``values``, submit it."""
        page = self.get(path)
        parser = _FormParser()
        parser.feed(page.body.decode("utf-8", "replace"))
        forms = [f for f in parser.forms if set(values) <= f["names"]]
        if not forms:
            raise AssertionError(f"no form on {path} with fields {sorted(values)}")
        form = forms[form_index]
        fields = [(k, v) for k, v in form["fields"] if k not in values]
        for name, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                fields.append((name, item))
        action = form["action"] or path
        encoded = urlencode(fields)
        if form["method"] == "post":
            response = self._send("POST", action, encoded.encode(), "application/x-www-form-urlencoded")
        else:
            response = self._send("GET", f"{action}?{encoded}")
        return self._follow(response)


def shared_cache_dir(home: Path) -> Path:
    """Where ``tallylog serve`` on ``home`` keeps its default shared cache (tmpfs)."""
    from tallylog.config import caches

    return Path(caches(home.resolve(), {})["default"].get("LOCATION", "/nonexistent/x")).parent


# Every home a Server ran on: their shared caches on tmpfs are removed when the tests end
# (kept until then: a test may restart a server and expect its counters).
_SERVED_HOMES: set[Path] = set()


@atexit.register
def _forget_shared_caches() -> None:
    for home in _SERVED_HOMES:
        shutil.rmtree(shared_cache_dir(home), ignore_errors=True)


@dataclass
class RedisServer:
    """Debian's redis-server on a free loopback port, memory only (no RDB, no AOF), its
    working directory ``directory``; ``url(db)`` for ``TALLYLOG_CACHE_URL``."""

    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.directory), "--daemonize", "no", "--logfile", ""]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(100).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
