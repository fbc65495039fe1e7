"""The tallylog home directory: where the database, the signing key and the log live.

Every command takes ``--home DIR`` (or ``TALLYLOG_HOME``). This module is plain Python
(no Django) so the CLI can prepare a home before Django is configured.

Layout::

    HOME/
      secrets.json      Django SECRET_KEY and the receipt-hash key (mode 0600)
      signing.key       the log's Ed25519 signer key, C2SP signed-note format (mode 0600)
      db.sqlite3        the embedded database (unless DATABASE_URL is set)
      log/              the transparency log: checkpoint, tile/…, tile/entries/…
      DEMONSTRATION     present in a demonstration home (``tallylog init --demo``)

The home is private to the service's user: mode 0700, its secrets and database 0600
(``Home.ensure`` sets both, on an existing home too), and every tallylog process starts
with ``private_umask()`` so that whatever it creates there is private as well. The system
check ``tallylog.E005``/``W002`` (``Home.exposure``) reports a home that is not.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "TALLYLOG_HOME"
DEFAULT_HOME = "var"
# Files of the home that hold secrets or personal data (sessions, password hashes, call
# records): mode 0600. The database's -wal, -shm and -journal hold the same data.
PRIVATE_FILES = (
    "secrets.json",
    "signing.key",
    "db.sqlite3",
    "db.sqlite3-wal",
    "db.sqlite3-shm",
    "db.sqlite3-journal",
)
DEMO_MARKER = "DEMONSTRATION"
DEMO_MARKER_TEXT = (
    b"This is a demonstration home: its log holds demonstration entries made by `tallylog demo`,\n"
    b"not real declarations. Never publish it as a real registry.\n"
)
DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_umask() -> int:
    """Make the files and directories this process creates private to its user (umask
    0077, added to the current one); returns the previous umask. Called at the start of
    every ``tallylog`` command and of the WSGI application."""
    old = os.umask(UMASK)
    os.umask(old | UMASK)
    return old


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def from_env(cls, explicit: str | os.PathLike[str] | None = None) -> Home:
        """The home named by ``explicit``, else ``$TALLYLOG_HOME``, else ``./var``."""
        raw = explicit or os.environ.get(ENV_VAR) or DEFAULT_HOME
        return cls(Path(raw).expanduser().resolve())

    @property
    def secrets_path(self) -> Path:
        return self.path / "secrets.json"

    @property
    def signing_key_path(self) -> Path:
        return self.path / "signing.key"

    @property
    def db_path(self) -> Path:
        return self.path / "db.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.path / "log"

    @property
    def demo_marker_path(self) -> Path:
        return self.path / DEMO_MARKER

    @property
    def is_demo(self) -> bool:
        """Whether this is a demonstration home (``mark_demo``): ``tallylog demo`` may add
        fake entries to its log."""
        return self.demo_marker_path.exists()

    def mark_demo(self) -> None:
        """Mark this home as a demonstration home (idempotent); inverse of nothing: a log
        with demonstration entries stays one. Callers check first that it holds no real data."""
        if not self.is_demo:
            write_private(self.demo_marker_path, DEMO_MARKER_TEXT)

    def ensure(self) -> None:
        """Create the directory and its secrets file if absent, and make the home private
        (``make_private``): idempotent."""
        self.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.make_private()
        self.log_dir.mkdir(exist_ok=True)
        if not self.secrets_path.exists():
            data = {
                "secret_key": secrets.token_urlsafe(50),
                "receipt_key": secrets.token_hex(32),
            }
            write_private(self.secrets_path, json.dumps(data, indent=1).encode() + b"\n")

    def make_private(self) -> list[Path]:
        """Set the home to mode 0700 and its ``PRIVATE_FILES`` that exist to 0600; returns
        the paths whose mode changed. The log (public) is left as it is."""
        changed = []
        for path, mode in [(self.path, DIR_MODE)] + [(self.path / n, FILE_MODE) for n in PRIVATE_FILES]:
            try:
                current = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                continue
            if current != mode:
                os.chmod(path, mode)
                changed.append(path)
        return changed

    def exposure(self, extra_files: tuple[Path, ...] = ()) -> tuple[list[Path], bool]:
        """What other users can reach: the ``PRIVATE_FILES`` (and ``extra_files``, e.g. a
        database kept elsewhere) that they can read — readable by group or others through
        a home (or folder) they may enter — and whether the home itself is open to them
        (listable or writable by group or others; enter-only, as an ACL for a web server
        that serves ``log/`` gives, is not). Inverse of ``make_private``."""
        try:
            home_mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return [], False
        readable = []
        for path in [self.path / n for n in PRIVATE_FILES] + list(extra_files):
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
                folder = home_mode if path.parent == self.path else stat.S_IMODE(path.parent.stat().st_mode)
            except FileNotFoundError:
                continue
            if (mode & stat.S_IRGRP and folder & stat.S_IXGRP) or (mode & stat.S_IROTH and folder & stat.S_IXOTH):
                readable.append(path)
        return readable, bool(home_mode & 0o066)

    def read_secrets(self) -> dict[str, str]:
        """The secrets file, or an empty dict when the home was never initialised."""
        try:
            return json.loads(self.secrets_path.read_text())
        except FileNotFoundError:
            return {}


def write_private(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a new file readable only by its owner (mode 0600), durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
