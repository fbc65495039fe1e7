"""Where a log is read from: size limits, HTTP keep-alive, and gzip, served for real on
loopback by a small http.server that compresses whether or not it was asked."""

from __future__ import annotations

import gzip
import http.server
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.tlog import Appender, FileStore, LogClient, Signer, generate_key
from tallylog.tlog.checkpoint import MAX_CHECKPOINT_SIZE
from tallylog.tlog.dayindex import DAY_INDEX_PATH, MAX_DAY_INDEX_SIZE
from tallylog.tlog.source import (
    MAX_BUNDLE_SIZE,
    MAX_TILE_SIZE,
    DirectorySource,
    HTTPSource,
    MalformedFileError,
    SourceError,
    gunzip,
    open_source,
    size_limit,
)

ORIGIN = "source.example/log"
SKEY, VKEY = generate_key(ORIGIN)
SIZE = 700


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("log")
    Appender.open(FileStore(root), Signer(SKEY), ORIGIN).append([b"entry %d" % i for i in range(SIZE)])
    return root


class Server:
    """A loopback HTTP/1.1 server of one directory. ``mode``: "plain"; "gzip" (only when
    the request accepts it); "always" (gzip whatever the request said); or a dict of
    path → raw body sent with ``Content-Encoding: gzip``. Records requests and
    connections."""

    def __init__(self, root: Path) -> None:
        self.root, self.mode = root, "plain"
        self.requests: list[tuple[str, str]] = []  # (path, Accept-Encoding)
        self.connections = 0
        self.raw: dict[str, bytes] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                accept = self.headers.get("Accept-Encoding", "")
                server.requests.append((self.path, accept))
                rel = self.path.lstrip("/")
                if rel in server.raw:
                    self._send(server.raw[rel], "gzip")
                    return
                file = server.root / rel
                if not file.is_file():
                    self._send(b"not found", None, 404)
                    return
                data = file.read_bytes()
                if server.mode == "always" or (server.mode == "gzip" and "gzip" in accept):
                    self._send(gzip.compress(data), "gzip")
                else:
                    self._send(data, None)

            def _send(self, body: bytes, encoding: str | None, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"


@pytest.fixture
def server(logdir: Path) -> Iterator[Server]:
    s = Server(logdir)
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_size_limits_follow_the_paths() -> None:
    assert size_limit("checkpoint") == MAX_CHECKPOINT_SIZE == 1 << 16
    assert size_limit(DAY_INDEX_PATH) == MAX_DAY_INDEX_SIZE
    assert size_limit("tile/0/000") == size_limit("tile/3/x001/002.p/7") == MAX_TILE_SIZE == 8192
    assert size_limit("tile/entries/000.p/5") == MAX_BUNDLE_SIZE == 256 * (2 + 65535)


@pytest.mark.parametrize("mode", ["plain", "gzip", "always"])
def test_a_gzip_server_gives_the_same_verified_log(logdir: Path, server: Server, mode: str) -> None:
    server.mode = mode
    client = LogClient.open(server.base, VKEY)
    local = LogClient.open(logdir, VKEY)
    assert client.root == local.root and client.recompute_root() == local.root
    assert client.entries(250, 260) == local.entries(250, 260)
    assert client.inclusion_proof(699) == local.inclusion_proof(699)
    assert all(accept == "gzip" for _, accept in server.requests)
    assert server.connections == 1  # one kept-alive connection for every file


def test_gzip_is_bounded_after_decoding(server: Server) -> None:
    bomb = gzip.compress(b"\0" * (MAX_TILE_SIZE + 1))
    server.raw["tile/0/000"] = bomb
    source = HTTPSource(server.base)
    with pytest.raises(MalformedFileError, match="larger than 8192 bytes once decompressed"):
        source.read("tile/0/000")
    server.raw["tile/0/001"] = gzip.compress(b"x" * 64)[:-3]
    with pytest.raises(MalformedFileError, match="bad gzip"):
        source.read("tile/0/001")
    server.raw["tile/0/002"] = gzip.compress(b"x" * 64) + b"junk"
    with pytest.raises(MalformedFileError, match="bad gzip"):
        source.read("tile/0/002")
    server.raw["tile/0/003"] = b"not gzip at all"
    with pytest.raises(MalformedFileError, match="bad gzip"):
        source.read("tile/0/003")
    assert gunzip(gzip.compress(b"y" * 100), 100, "here") == b"y" * 100


def test_http_missing_is_none_and_other_statuses_are_errors(server: Server) -> None:
    source = HTTPSource(server.base)
    assert source.read("tile/0/999") is None
    assert source.read("checkpoint") is not None  # the connection survived the 404
    with pytest.raises(SourceError, match="couldn't fetch"):
        HTTPSource("http://127.0.0.1:9/").read("checkpoint")


def test_a_closed_keep_alive_connection_is_reopened_once(server: Server) -> None:
    source = HTTPSource(server.base)
    assert source.read("checkpoint")
    assert source._conn is not None
    source._conn.sock.close()  # type: ignore[union-attr]  # as if the server had timed it out
    assert source.read("checkpoint")
    assert server.connections == 2


def test_sources_pickle_without_their_connection(server: Server, logdir: Path) -> None:
    source = HTTPSource(server.base)
    source.read("checkpoint")
    copy = pickle.loads(pickle.dumps(source))
    assert copy.base == source.base and copy._conn is None
    assert copy.read("checkpoint") == source.read("checkpoint")
    assert pickle.loads(pickle.dumps(DirectorySource(logdir))).read("checkpoint") == source.read("checkpoint")


def test_a_file_larger_than_its_path_allows_is_malformed(logdir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(logdir, copy)
    (copy / "tile/0/000").write_bytes(bytes(MAX_TILE_SIZE + 1))
    with pytest.raises(MalformedFileError, match="larger than 8192"):
        DirectorySource(copy).read("tile/0/000")
    (copy / "checkpoint").write_bytes(b"x" * (MAX_CHECKPOINT_SIZE + 1))
    with pytest.raises(MalformedFileError, match="checkpoint"):
        LogClient.open(copy, VKEY)


def test_open_source_names_what_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="neither a directory nor"):
        open_source(str(tmp_path / "nowhere"))
    with pytest.raises(SourceError, match="missing file at"):
        LogClient.open(tmp_path, VKEY)
    assert isinstance(open_source("https://example.org/log"), HTTPSource)


def test_worker_processes_each_open_their_own_kept_alive_connection(tmp_path: Path) -> None:
    root = tmp_path / "log"
    Appender.open(FileStore(root), Signer(SKEY), ORIGIN).append([b"e%d" % i for i in range(65536 + 300)])
    server = Server(root)
    server.mode = "always"
    try:
        client = LogClient.open(server.base, VKEY)
        assert client.recompute_root(workers=2) == LogClient.open(root, VKEY).root
        # this process (checkpoint, the top tiles) and one per worker, not one per file
        assert 2 <= server.connections <= 3 < len(server.requests)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
