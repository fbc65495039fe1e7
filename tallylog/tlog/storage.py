"""Where a log's files live: the ``TileStore`` interface, a filesystem store and an
in-memory store with failure injection.

The contract every ``TileStore`` keeps (checked by tests/tlog/test_storage.py, run against
each implementation):

- Paths are log-relative, ``/``-separated: ``checkpoint``, ``tile/0/000``,
  ``tile/entries/x001/234.p/7``, ``day-index.json`` (``tallylog.tlog.dayindex``: every file
  of the log, tiles or not, is written through the store and keeps this contract). A path with an empty, ``.`` or ``..`` element, a leading
  ``/``, a backslash or a NUL is refused with ``StorePathError`` (a ``ValueError``).
- ``read(path)`` returns the bytes last written at ``path``, or ``None`` if nothing was ever
  written there. It never returns a partly written file. ``OSError`` means the store could
  not answer (not "absent").
- ``write(path, data)`` replaces the file at ``path`` atomically (a reader sees the old bytes
  or the new ones, never a mix) and durably: when it returns, the new bytes survive a crash
  or power loss. When it raises ``OSError``, the file holds the old bytes or the new ones —
  the caller cannot know which, and must treat the write as not done (retry it or reopen).
- ``write_many(items)`` is ``write`` for each item, possibly faster (fsyncs batched); each
  file is atomic and all are durable when it returns; on ``OSError`` any subset of them was
  written. Not atomic as a group.
- Concurrency: one writer and any number of readers (threads or processes) at once. Two
  writers are not supported: the caller holds a lock (the sequencer's writer lock).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Protocol

from tallylog.tlog.errors import FormatError

__all__ = [
    "CHECKPOINT_PATH",
    "FileStore",
    "InjectedFailure",
    "MemoryStore",
    "StorePathError",
    "TileStore",
    "check_path",
]

CHECKPOINT_PATH = "checkpoint"


class StorePathError(FormatError):
    """A path that is not a log-relative path."""


class InjectedFailure(OSError):
    """A write failure injected by ``MemoryStore`` for tests."""


class TileStore(Protocol):
    """The files of one log (see the module docstring for the full contract)."""

    def read(self, path: str) -> bytes | None:
        """The bytes at ``path``, or None if absent."""
        ...

    def write(self, path: str, data: bytes) -> None:
        """Atomically and durably replace the file at ``path`` with ``data``."""
        ...

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """``write`` each ``(path, data)``; each atomic, all durable on return."""
        ...


def check_path(path: str) -> str:
    """``path`` if it is a log-relative path (see the contract), else ``StorePathError``."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise StorePathError(f"not a log-relative path: {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise StorePathError(f"not a log-relative path: {path!r}")
    return path


class FileStore:
    """A ``TileStore`` in the directory ``root`` (created if absent).

    ``write_many`` writes each file to a temporary file in the target's directory, makes all
    their bytes durable, renames each over its target (atomic: a reader sees the old file or
    the new one), then makes the renames and any new directories durable, all before it
    returns. On Linux both durability steps are one ``syncfs(2)`` each on the store's
    filesystem instead of an ``fsync`` per file and per directory (since Linux 5.8 syncfs
    reports any writeback error on the filesystem since its descriptor was opened, and
    the descriptor is opened before the first file is written); elsewhere, or if
    ``syncfs`` fails with ``ENOSYS``, the files and the touched directories are fsynced one
    by one. Either way the contract holds: each file
    is atomic and, when ``write_many`` returns, all are durable. ``syncfs`` also flushes
    other writers' dirty data on the same filesystem, so its cost depends on their load.
    The files can be served as they are by any static web server (C2SP tlog-tiles).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._prefix = os.fspath(self.root) + os.sep
        self._known_dirs: set[str] = set()
        self._tmp_seq = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def read(self, path: str) -> bytes | None:
        try:
            with open(self._prefix + check_path(path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

    def write(self, path: str, data: bytes) -> None:
        self.write_many([(path, data)])

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        prefix = self._prefix
        tag = f".{os.getpid()}.{self._next_tmp()}."
        staged: list[tuple[str, str]] = []
        dirs: set[str] = set()
        known = self._known_dirs
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        # Opened before any file is written: syncfs reports the filesystem's writeback
        # errors since this descriptor was opened, so none of ours can go unreported.
        root_fd = os.open(prefix, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # 1. Every file to a temporary name in its target's directory.
            for k, (path, data) in enumerate(items):
                target = prefix + check_path(path)
                d, _, name = target.rpartition("/")
                if d not in known:
                    self._ensure_dir(d, dirs)
                dirs.add(d)
                tmp = f"{d}/.{name}{tag}{k}.tmp"
                fd = os.open(tmp, flags, 0o644)
                staged.append((target, tmp))
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            # 2. Their bytes durable, 3. renamed over the targets (atomic), 4. the new names
            #    (and new directories) durable.
            self._sync(root_fd, [tmp for _, tmp in staged], dirs, data_only=True)
            for target, tmp in staged:
                os.replace(tmp, target)
            staged = []
            self._sync(root_fd, [], dirs, data_only=False)
        finally:
            os.close(root_fd)
            for _, tmp in staged:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _sync(self, root_fd: int, files: list[str], dirs: set[str], data_only: bool) -> None:
        """Make ``files`` durable (``data_only``), or the entries of ``dirs``: one
        ``syncfs`` of ``root_fd``'s filesystem where available, else an fsync of each."""
        if _syncfs is not None:
            if _syncfs(root_fd) == 0:
                return
            err = ctypes.get_errno()
            if err != errno.ENOSYS:
                raise OSError(err, f"syncfs {self.root}: {os.strerror(err)}")
        paths = files if data_only else sorted(dirs)
        fds: list[int] = []
        try:
            for p in paths:
                fds.append(os.open(p, os.O_RDONLY if not data_only else os.O_WRONLY))
            _fsync_all(fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _next_tmp(self) -> int:
        with self._lock:
            self._tmp_seq += 1
            return self._tmp_seq

    def _ensure_dir(self, d: str, dirs: set[str]) -> None:
        """Create ``d`` and its missing parents; add each parent whose entries changed to
        ``dirs`` (made durable, with the others, before ``write_many`` returns)."""
        missing = []
        p = d
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        for m in reversed(missing):
            try:
                os.mkdir(m)
            except FileExistsError:
                pass
            dirs.add(os.path.dirname(m))
        if len(self._known_dirs) >= 4096:  # bounded memory: forget, re-check with isdir()
            self._known_dirs.clear()
        self._known_dirs.add(d)


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_syncfs = _load_syncfs()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _fsync_all(fds: list[int]) -> None:
    """fsync every descriptor; several at once from threads (fsync releases the GIL), so
    the filesystem can group them into few journal commits. Raises the first error."""
    global _pool
    if len(fds) <= 1:
        for fd in fds:
            os.fsync(fd)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="tlog-fsync")
    for _ in _pool.map(os.fsync, fds):
        pass


Mode = Literal["lost", "written"]


class MemoryStore:
    """A ``TileStore`` in a dict, with failure injection for crash tests.

    ``fail_write(k, mode)`` makes the k-th write from now (0 = the next one) raise
    ``InjectedFailure``: with ``mode="lost"`` nothing is written ("failed, nothing
    written"); with ``mode="written"`` the data is stored first ("errored, but written").
    ``writes`` counts the successful and failed writes so far; ``log`` lists their paths.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes = 0
        self.log: list[str] = []
        self._fail_at: int | None = None
        self._fail_mode: Mode = "lost"
        self._lock = threading.Lock()

    def fail_write(self, k: int = 0, mode: Mode = "lost") -> None:
        """Make the ``k``-th write from now fail, in ``mode`` (see the class docstring)."""
        if mode not in ("lost", "written"):
            raise ValueError(f"unknown failure mode {mode!r}")
        self._fail_at = self.writes + k
        self._fail_mode = mode

    def read(self, path: str) -> bytes | None:
        return self.files.get(check_path(path))

    def write(self, path: str, data: bytes) -> None:
        check_path(path)
        with self._lock:
            n = self.writes
            self.writes += 1
            self.log.append(path)
            if self._fail_at == n:
                self._fail_at = None
                if self._fail_mode == "written":
                    self.files[path] = bytes(data)
                raise InjectedFailure(f"injected failure writing {path} ({self._fail_mode})")
            self.files[path] = bytes(data)

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        for path, data in items:
            self.write(path, data)
