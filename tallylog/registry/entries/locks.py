"""The writer lock: at most one sequencer appends to a log at a time.

On the embedded deployment (SQLite, one machine) the lock is ``flock`` on
``HOME/sequencer.lock``: held by a process, released by the kernel when it dies, so a
standby ``tallylog sequence`` takes over as soon as the active one exits or is killed.

Seam for several machines (issue 6): with PostgreSQL, a session advisory lock on a
dedicated connection replaces the file lock; ``writer_lock`` is the one place to choose.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from types import TracebackType

from tallylog.home import Home

LOCK_NAME = "sequencer.lock"


class SequencerBusy(RuntimeError):
    """Another process holds the writer lock."""


class FileWriterLock:
    """A process-wide, re-entrant exclusive lock on a file (``flock``).

    Re-entrant within the process (the sequencer's loop holds it for its life and each
    pass takes it again); exclusive between processes. ``wait`` blocks until the lock is
    free, polling every ``poll`` seconds; otherwise ``SequencerBusy`` is raised at once.
    """

    _registry: dict[str, "FileWriterLock"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: str) -> "FileWriterLock":
        with cls._registry_lock:
            if path not in cls._registry:
                cls._registry[path] = cls(path)
            return cls._registry[path]

    def acquire(self, *, wait: bool = True, poll: float = 0.2) -> None:
        self._mutex.acquire()
        try:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if not wait:
                            os.close(fd)
                            raise SequencerBusy(
                                f"another sequencer holds {self.path}"
                            ) from None
                        time.sleep(poll)
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise

    def release(self) -> None:
        if self._depth <= 0:
            raise AssertionError("FileWriterLock.release: not held")
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._mutex.release()

    @property
    def held(self) -> bool:
        return self._depth > 0


class _Held:
    def __init__(self, lock: FileWriterLock, wait: bool) -> None:
        self.lock = lock
        self.wait = wait

    def __enter__(self) -> FileWriterLock:
        self.lock.acquire(wait=self.wait)
        return self.lock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.lock.release()


def writer_lock(home: Home, *, wait: bool = True) -> _Held:
    """A context manager holding the log's writer lock (see the module docstring): the
    sequencer lease of ``tallylog.leader`` — a PostgreSQL session advisory lock when the
    database is PostgreSQL, else ``flock`` on the home's lock file (``FileWriterLock``)."""
    from tallylog.leader import lease_lock

    return _Held(lease_lock(home), wait)  # type: ignore[arg-type]
