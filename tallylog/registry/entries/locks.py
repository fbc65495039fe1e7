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
from typing import TYPE_CHECKING, Self

from tallylog.home import Home

if TYPE_CHECKING:
    from tallylog.leader import SequencerLease

LOCK_NAME = "sequencer.lock"


class SequencerBusy(RuntimeError):
    """Another process holds the writer lock."""


class ReentrantLock:
    """The bookkeeping every lease lock shares: re-entrant within the process, one
    instance per resource and process (``shared``), exclusive between processes by
    the subclass's mechanism.

    The first ``acquire`` of a thread takes the resource (``_take``); a nested one only
    re-checks it (``_recheck``); the last ``release`` gives it back (``_give_back``).
    A thread holds ``_mutex`` from its first ``acquire`` to its last ``release``, so
    other threads of the process wait there rather than on the resource.
    """

    # How often ``acquire(wait=True)`` retries while another process holds the resource.
    poll: float = 0.2
    _shared: dict[tuple[object, ...], "ReentrantLock"] = {}
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._depth = 0

    @classmethod
    def shared(cls, ident: tuple[object, ...], *args: object) -> Self:
        """The process's one instance of ``cls(*args)`` for the resource ``ident``."""
        with ReentrantLock._shared_lock:
            key = (cls, *ident)
            if key not in ReentrantLock._shared:
                ReentrantLock._shared[key] = cls(*args)
            return ReentrantLock._shared[key]  # type: ignore[return-value]

    def acquire(self, *, wait: bool = True, poll: float | None = None) -> None:
        """Take the lock (blocking, retrying every ``poll`` seconds, unless ``wait`` is
        false: then ``SequencerBusy`` at once); nested calls re-check and count."""
        self._mutex.acquire()
        try:
            if self._depth == 0:
                self._take(wait=wait, poll=self.poll if poll is None else poll)
            else:
                self._recheck()
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise

    def release(self) -> None:
        """Undo one ``acquire``; the last gives the resource back."""
        if self._depth <= 0:
            raise AssertionError(f"{type(self).__name__}.release: not held")
        self._depth -= 1
        try:
            if self._depth == 0:
                self._give_back()
        finally:
            self._mutex.release()

    @property
    def held(self) -> bool:
        return self._depth > 0

    def _take(self, *, wait: bool, poll: float) -> None:
        raise NotImplementedError

    def _recheck(self) -> None:
        """On re-entry; the resource is already held (nothing to do by default)."""

    def _give_back(self) -> None:
        raise NotImplementedError


class FileWriterLock(ReentrantLock):
    """A process-wide, re-entrant exclusive lock on a file (``flock``).

    Re-entrant within the process (the sequencer's loop holds it for its life and each
    pass takes it again); exclusive between processes. ``wait`` blocks until the lock is
    free, polling every ``poll`` seconds; otherwise ``SequencerBusy`` is raised at once.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: str) -> "FileWriterLock":
        """The process's lock on ``path``."""
        return cls.shared((path,), path)

    def _take(self, *, wait: bool, poll: float) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    raise SequencerBusy(f"another sequencer holds {self.path}") from None
                time.sleep(poll)
        self._fd = fd

    def _give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def writer_lock(home: Home, *, wait: bool = True) -> "SequencerLease":
    """A context manager holding the log's writer lock (see the module docstring): the
    sequencer lease of ``tallylog.leader`` — a PostgreSQL session advisory lock when the
    database is PostgreSQL, else ``flock`` on the home's lock file (``FileWriterLock``),
    each polled at its own pace while ``wait``-ing."""
    from tallylog.leader import SequencerLease

    return SequencerLease(home, wait=wait, poll=None)
