"""The tallylog home directory: where the database, the signing key and the log live.

Every command takes ``--home DIR`` (or ``TALLYLOG_HOME``). This module is plain Python
(no Django) so the CLI can prepare a home before Django is configured.

Layout::

    HOME/
      secrets.json      Django SECRET_KEY and the receipt-hash key (mode 0600)
      signing.key       the log's Ed25519 signer key, C2SP signed-note format (mode 0600)
      db.sqlite3        the embedded database (unless DATABASE_URL is set)
      log/              the transparency log: checkpoint, tile/…, tile/entries/…
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "TALLYLOG_HOME"
DEFAULT_HOME = "var"


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def from_env(cls, explicit: str | os.PathLike[str] | None = None) -> "Home":
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

    def ensure(self) -> None:
        """Create the directory and its secrets file if absent (idempotent)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        if not self.secrets_path.exists():
            data = {
                "secret_key": secrets.token_urlsafe(50),
                "receipt_key": secrets.token_hex(32),
            }
            write_private(self.secrets_path, json.dumps(data, indent=1).encode() + b"\n")

    def read_secrets(self) -> dict[str, str]:
        """The secrets file, or an empty dict when the home was never initialised."""
        try:
            return json.loads(self.secrets_path.read_text())
        except FileNotFoundError:
            return {}


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable only by its owner (mode 0600), durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
