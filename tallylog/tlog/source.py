"""Where a log is read from: a directory or an HTTP(S) base URL, in the C2SP tlog-tiles
layout (``checkpoint``, ``tile/<L>/<N>``, ``tile/entries/<N>``), read-only.

A ``Source`` answers ``read(path)`` with the file's bytes, ``None`` when it is absent, and
raises ``SourceError`` when it cannot tell (network, permissions, an HTTP status other
than 200 and 404) and ``MalformedFileError`` when the file is larger than any honest log
file at that path (``size_limit``): a hostile mirror cannot make a client read without
bound. Every source is picklable, so the audit's worker processes can share one.

``HTTPSource`` keeps one connection alive per process (an audit reads thousands of small
files), reconnects once when the server closed it, sends ``Accept-Encoding: gzip`` and
decodes gzip whether or not it asked (C2SP tlog-tiles lets a server compress tiles and
entry bundles), bounded by the same limits after decoding.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
import zlib
from pathlib import Path
from typing import Any, Protocol

from tallylog.tlog.checkpoint import MAX_CHECKPOINT_SIZE
from tallylog.tlog.dayindex import DAY_INDEX_PATH, MAX_DAY_INDEX_SIZE
from tallylog.tlog.errors import FormatError
from tallylog.tlog.hashes import HASH_SIZE
from tallylog.tlog.storage import CHECKPOINT_PATH, check_path
from tallylog.tlog.tiles import MAX_ENTRY_SIZE, TILE_WIDTH

__all__ = [
    "MAX_BUNDLE_SIZE",
    "MAX_TILE_SIZE",
    "DirectorySource",
    "HTTPSource",
    "MalformedFileError",
    "Source",
    "SourceError",
    "open_source",
    "size_limit",
]

MAX_TILE_SIZE = TILE_WIDTH * HASH_SIZE
"""A full hash tile: 256 hashes of 32 bytes (C2SP tlog-tiles)."""
MAX_BUNDLE_SIZE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
"""The largest entry bundle: 256 entries of 65,535 bytes, each with its 2-byte length."""


def size_limit(path: str) -> int:
    """The most bytes an honest log serves at ``path``: ``checkpoint.MAX_CHECKPOINT_SIZE``,
    ``dayindex.MAX_DAY_INDEX_SIZE``, ``MAX_TILE_SIZE`` or ``MAX_BUNDLE_SIZE``."""
    if path == CHECKPOINT_PATH:
        return MAX_CHECKPOINT_SIZE
    if path == DAY_INDEX_PATH:
        return MAX_DAY_INDEX_SIZE
    if path.startswith("tile/") and not path.startswith("tile/entries/"):
        return MAX_TILE_SIZE
    return MAX_BUNDLE_SIZE


class SourceError(OSError):
    """A file could not be fetched (network, permissions, HTTP status)."""


class MalformedFileError(FormatError):
    """A log file that does not parse (or is too large); ``path`` names where it is."""

    def __init__(self, where: str, detail: str) -> None:
        self.path, self.detail = where, detail
        super().__init__(f"malformed file at {where}: {detail}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # raised in audit workers
        return type(self), (self.path, self.detail)


class Source(Protocol):
    """Read-only access to a log's files by log-relative path."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, None if absent; ``SourceError`` if it cannot tell."""
        ...

    def where(self, path: str) -> str:
        """Where ``path`` is, for messages (a file path or URL)."""
        ...


class DirectorySource:
    """A log in a local directory (a ``FileStore``'s root or a mirror of it)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"no log directory at {self.root}")

    def read(self, path: str) -> bytes | None:
        limit = size_limit(path)
        try:
            with open(self.root / check_path(path), "rb") as f:
                data = f.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise SourceError(f"couldn't read {self.where(path)}: {exc.strerror}") from None
        if len(data) > limit:
            raise MalformedFileError(self.where(path), f"larger than {limit} bytes")
        return data

    def where(self, path: str) -> str:
        return str(self.root / path)


class HTTPSource:
    """A log served over HTTP(S) below ``base`` (C2SP tlog-tiles URLs), read over one
    kept-alive connection per process (see the module docstring)."""

    def __init__(self, base: str, timeout: float = 60.0) -> None:
        if not base.endswith("/"):
            base += "/"
        url = urllib.parse.urlsplit(base)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SourceError(f"not an http(s):// base URL: {base}")
        self.base = base
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._pid = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"base": self.base, "timeout": self.timeout, "_conn": None, "_pid": 0}

    def where(self, path: str) -> str:
        return urllib.parse.urljoin(self.base, path)

    def read(self, path: str) -> bytes | None:
        url = urllib.parse.urlsplit(self.where(check_path(path)))
        target = url.path + (f"?{url.query}" if url.query else "")
        headers = {"User-Agent": "tallylog-tlog", "Accept-Encoding": "gzip"}
        limit = size_limit(path)
        wire = limit + (limit >> 6) + 1024  # incompressible data grows a little in gzip
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection(url)
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                data = resp.read(wire + 1)
                if len(data) > wire or resp.will_close:
                    self._close()  # never drain a body larger than any honest file
                elif not resp.isclosed():
                    resp.read()  # the (empty) rest, to keep the connection usable
                break
            except (OSError, http.client.HTTPException) as exc:
                self._close()
                if attempt == 2:
                    raise SourceError(f"couldn't fetch {self.where(path)}: {exc}") from None
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise SourceError(f"couldn't fetch {self.where(path)}: HTTP {resp.status} {resp.reason}")
        encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip" and len(data) <= wire:
            return gunzip(data, limit, self.where(path))
        if len(data) > limit:
            raise MalformedFileError(self.where(path), f"larger than {limit} bytes")
        if encoding != "identity":
            raise MalformedFileError(self.where(path), f"unsupported Content-Encoding {encoding!r}")
        return data

    def _connection(self, url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        if self._conn is None or self._pid != os.getpid():
            cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            self._conn, self._pid = cls(url.netloc, timeout=self.timeout), os.getpid()
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


def gunzip(data: bytes, limit: int, where: str) -> bytes:
    """The gzip member ``data`` decoded, at most ``limit`` bytes (``MalformedFileError``
    for a larger, truncated or corrupt one, or for trailing bytes)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise MalformedFileError(where, f"larger than {limit} bytes once decompressed")
        out += d.flush()
    except zlib.error as exc:
        raise MalformedFileError(where, f"bad gzip encoding: {exc}") from None
    if not d.eof or d.unused_data:
        raise MalformedFileError(where, "bad gzip encoding: truncated or followed by other bytes")
    if len(out) > limit:
        raise MalformedFileError(where, f"larger than {limit} bytes once decompressed")
    return out


def open_source(location: str | os.PathLike[str] | Source) -> Source:
    """A ``Source`` for an ``http://``/``https://`` base URL or a directory path (a
    ``Source`` is returned as it is); ``SourceError`` when it is neither."""
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        return HTTPSource(location)
    if isinstance(location, (str, os.PathLike)):
        if not os.path.isdir(location):
            raise SourceError(f"{os.fspath(location)} is neither a directory nor an http(s):// URL")
        return DirectorySource(location)
    return location
