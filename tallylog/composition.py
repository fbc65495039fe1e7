"""The composition root: builds the transparency log's services from settings.

Django views, the CLI and the tests all get the log from ``get_log()``; nothing else
constructs a store, a signer or an appender. Settings are read here, at the edge, and the
core (``tallylog.tlog``) receives ready objects.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tallylog.home import Home, write_private
from tallylog.tlog.dayindex import DAY_INDEX_PATH
from tallylog.tlog.storage import CHECKPOINT_PATH

if TYPE_CHECKING:  # imported where used: the web and CLI start without loading cryptography
    from tallylog.tlog.appender import Appender
    from tallylog.tlog.note import Signer
    from tallylog.tlog.storage import TileStore

__all__ = [
    "CHECKPOINT_PATH",
    "DAY_INDEX_PATH",
    "DEFAULT_ORIGIN",
    "LogServices",
    "SigningKeyMissing",
    "build_log",
    "ensure_signing_key",
    "get_log",
    "reset_log_for_tests",
]

DEFAULT_ORIGIN = "localhost/tallylog"


class SigningKeyMissing(RuntimeError):
    """The home has no signing key: run ``tallylog init`` (system check tallylog.E002)."""


@dataclass
class LogServices:
    """The log of one home: its storage, signer and (for the sequencer) appender.

    ``origin`` is the checkpoint's origin line and the signing key's name;
    ``verifier_key`` is the C2SP signed-note verifier key (``name+hexid+base64``) that
    auditors pass as ``--key``.
    """

    home: Home
    store: TileStore  # a tallylog.tlog.storage.FileStore in the home's log directory
    signer: Signer
    verifier_key: str
    origin: str
    _appender: Appender | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def log_dir(self) -> Path:
        return self.home.log_dir

    def appender(self, committed_size: int, committed_root: bytes) -> Appender:
        """The log's ``tallylog.tlog.Appender`` at the committed state (for the sequencer only).

        Reuses the open appender when it already stands at that state, else reopens it
        (``Appender.open`` checks the stored edge tiles against ``committed_root`` and raises
        ``LogInconsistentError`` when they disagree).
        """
        from tallylog.tlog import Appender

        with self._lock:
            current = self._appender
            if current is not None and current.size == committed_size and current.root == committed_root:
                return current
            self._appender = None
            self._appender = opened = Appender.open(
                self.store,
                self.signer,
                self.origin,
                committed_size=committed_size,
                committed_root=committed_root,
            )
            return opened

    def forget_appender(self) -> None:
        """Drop the cached appender (after a failed pass: the next one reopens from the store)."""
        with self._lock:
            self._appender = None

    def checkpoint(self) -> bytes | None:
        """The latest published signed checkpoint note, or None before the first one."""
        return self.store.read(CHECKPOINT_PATH)

    def inclusion_proof(self, index: int, tree_size: int, root: bytes) -> list[bytes]:
        """The RFC 6962 §2.1.1 inclusion proof of leaf ``index`` in the tree of ``tree_size``
        whose root hash is ``root``, from the stored hash tiles (C2SP tlog-tiles), each
        authenticated against that root. ``ValueError`` for an index outside the tree;
        ``VerificationError`` when the stored tiles do not lead to ``root``."""
        from tallylog.tlog import hashes, tiles

        if not 0 <= index < tree_size:
            raise ValueError(f"index {index} is not in a tree of size {tree_size}")
        reader = tiles.TileHashReader(tree_size, root, self.store)
        return list(hashes.prove_inclusion(tree_size, index, reader))


_cache: dict[str, LogServices] = {}
_cache_lock = threading.Lock()


def get_log() -> LogServices:
    """The ``LogServices`` of the configured home (``config().home``), built once.

    Raises ``SigningKeyMissing`` when the home has no signing key.
    """
    from tallylog.config import config

    home = Home(config().home)
    key = str(home.path)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build_log(home)
        return _cache[key]


def build_log(home: Home) -> LogServices:
    """Build the log services of ``home`` from its signing key file and log directory."""
    from tallylog.tlog import note, storage

    try:
        skey = home.signing_key_path.read_text().strip()
    except FileNotFoundError:
        raise SigningKeyMissing(
            f"no signing key at {home.signing_key_path}: run `tallylog init`"
        ) from None
    signer = note.Signer(skey)
    home.log_dir.mkdir(parents=True, exist_ok=True)
    return LogServices(
        home=home,
        store=storage.FileStore(home.log_dir),
        signer=signer,
        verifier_key=signer.verifier_key,
        origin=signer.name,
    )


def ensure_signing_key(home: Home, origin: str | None = None) -> tuple[str, bool]:
    """Create the home's signing key named ``origin`` if absent (idempotent).

    Returns ``(verifier key, created)``. An existing key is kept whatever ``origin`` says:
    the origin of a log never changes (``ValueError`` if ``origin`` differs from it).
    """
    from tallylog.tlog import note

    path = home.signing_key_path
    if path.exists():
        signer = note.Signer(path.read_text().strip())
        if origin and origin != signer.name:
            raise ValueError(
                f"this home's log is named {signer.name!r}; a log's origin never changes"
            )
        return signer.verifier_key, False
    skey, vkey = note.generate_key(origin or DEFAULT_ORIGIN)
    write_private(path, skey.encode() + b"\n")
    return vkey, True


def reset_log_for_tests() -> None:
    """Forget every built ``LogServices`` (tests that switch homes or keys call this)."""
    with _cache_lock:
        _cache.clear()
