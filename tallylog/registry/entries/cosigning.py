"""Witness cosignatures of the published checkpoint (C2SP tlog-witness, tlog-cosignature).

After each checkpoint the sequencer publishes (step 5 of its commit protocol), it calls
``after_publish``, which only wakes the log's ``Cosigner`` thread and returns: the witnesses
are asked outside the sequencer's write path, so a witness that is down or slow delays the
cosignature, never a declaration or the signed checkpoint.

The cosigner submits the newest signed checkpoint (``LogState.checkpoint``) to every
configured witness (``Witness`` rows) through one ``tallylog.tlog.witness.WitnessPool``
(kept-alive connections, started from the sizes stored on the rows), records each witness's
outcome on its row (size cosigned, when, or why it failed), and, when at least
``TALLYLOG_WITNESS_QUORUM`` cosigned, replaces the published ``checkpoint`` atomically by
the same note with their cosignature lines appended — only if that signed note is still
the one published (``publishing()`` is held by the sequencer while it writes a new one, so
a cosigned checkpoint never replaces a newer one: the published size never goes back).
Checkpoints published while the witnesses are being asked are not queued: the next round
takes the newest.

Configuration: ``add_witness``/``remove_witness`` (``tallylog witness add/remove``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, close_old_connections, connections, transaction
from django.utils import timezone

from tallylog.composition import CHECKPOINT_PATH, LogServices
from tallylog.config import config
from tallylog.fastpath import write_turn
from tallylog.registry.entries.models import LogState, Witness

log = logging.getLogger("tallylog.cosigning")

# Seconds each witness request may take (the cosigner's thread waits, nothing else does).
TIMEOUT = 5.0
# Seconds between rounds on the same checkpoint while it is not cosigned by the quorum.
RETRY = 30.0

_publishing = threading.Lock()


@contextlib.contextmanager
def publishing() -> Iterator[None]:
    """Held while the checkpoint file is replaced, by the sequencer (a new signed
    checkpoint) and by the cosigner (the cosigned one): the cosigner's check that its note
    is still the published one and its write are one step."""
    with _publishing:
        yield


class WitnessConfigError(ValueError):
    """A witness that cannot be added or removed: the message says why."""


def add_witness(vkey: str, url: str) -> Witness:
    """Configure the witness of verifier key ``vkey`` (cosignature/v1) at submission prefix
    ``url``; its name is the key's. ``WitnessConfigError`` for a bad key or URL, or a name
    already configured."""
    from tallylog.tlog.cosignature import CosignatureVerifier
    from tallylog.tlog.witness import Connection

    try:
        verifier = CosignatureVerifier(vkey.strip())
    except ValueError as exc:
        raise WitnessConfigError(f"bad witness verifier key {vkey!r}: {exc}") from None
    try:
        Connection(url)
    except ValueError as exc:
        raise WitnessConfigError(str(exc)) from None
    try:
        with write_turn(), transaction.atomic():
            return Witness.objects.create(name=verifier.name, vkey=vkey.strip(), url=url)
    except IntegrityError:
        raise WitnessConfigError(f"a witness named {verifier.name} is configured already") from None


def remove_witness(name: str) -> None:
    """Stop asking witness ``name``; ``WitnessConfigError`` if there is none."""
    with write_turn():
        deleted, _ = Witness.objects.filter(name=name).delete()
    if not deleted:
        raise WitnessConfigError(f"no witness named {name!r} is configured")


@dataclass
class Round:
    """One cosigning round: the ``size`` submitted, the witnesses that ``cosigned``, the
    ``failures`` (name: message) and whether the cosigned checkpoint was ``published``."""

    size: int
    cosigned: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    published: bool = False


class _Pool:
    """The ``WitnessPool`` of the configured witnesses, rebuilt when they change."""

    def __init__(self) -> None:
        self.key: tuple[tuple[str, str, str], ...] = ()
        self.pool: Any = None

    def get(self, rows: list[Witness]) -> Any:
        from tallylog.tlog.cosignature import CosignatureVerifier
        from tallylog.tlog.witness import Witness as Remote
        from tallylog.tlog.witness import WitnessPool

        key = tuple((w.name, w.vkey, w.url) for w in rows)
        if key != self.key or self.pool is None:
            self.close()
            remotes = [Remote(CosignatureVerifier(w.vkey), w.url) for w in rows]
            self.pool, self.key = WitnessPool(remotes, TIMEOUT), key
        # The stored sizes win over remembered ones: they are what every process agrees on.
        self.pool.sizes = {w.name: w.cosigned_size for w in rows}
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def cosign_current(ls: LogServices, pool: _Pool | None = None) -> Round | None:
    """One round: submit the current signed checkpoint to every configured witness, record
    the outcomes, publish the cosigned checkpoint when the quorum cosigned and it is still
    the current one. None when there is nothing to do (no witness, no checkpoint, or the
    published one is already cosigned)."""
    from tallylog.tlog import open_checkpoint
    from tallylog.tlog.tiles import TileHashReader

    rows = list(Witness.objects.order_by("name"))
    signed = LogState.current().checkpoint.encode("utf-8")
    if not rows or not signed:
        return None
    published = ls.checkpoint()
    if published is not None and published != signed and published.startswith(_body(signed)):
        return None  # cosigned already (the same checkpoint, with cosignature lines)
    cp = open_checkpoint(signed, ls.signer.verifier)
    own = pool or _Pool()
    try:
        result = own.get(rows).cosign(signed, TileHashReader(cp.size, cp.root, ls.store))
    finally:
        if pool is None:
            own.close()
    outcome = Round(cp.size, sorted(result.cosignatures), {n: str(e) for n, e in result.failures.items()})
    _record(rows, result, outcome)
    if len(result.cosignatures) >= config().witness_quorum:
        with publishing():
            if ls.checkpoint() == signed:
                ls.store.write(CHECKPOINT_PATH, result.cosigned_note())
                outcome.published = True
    else:
        log.warning(
            "checkpoint %d: %d of %d witnesses cosigned, %d needed; the signed checkpoint stays",
            cp.size, len(result.cosignatures), len(rows), config().witness_quorum,
        )
    return outcome


def _body(note: bytes) -> bytes:
    """The checkpoint body and the blank line of a signed note (what cosigning keeps)."""
    return note[: note.index(b"\n\n") + 2]


def _record(rows: list[Witness], result: Any, outcome: Round) -> None:
    now = timezone.now()
    with write_turn():
        for w in rows:
            fields: dict[str, Any] = {"last_attempt_at": now}
            if w.name in result.sizes:
                fields["cosigned_size"] = result.sizes[w.name]
            if w.name in result.cosignatures:
                fields.update(cosigned_at=now, last_error="")
            else:
                fields["last_error"] = outcome.failures.get(w.name, "")[:2000]
                log.warning("%s", fields["last_error"])
            Witness.objects.filter(pk=w.pk, vkey=w.vkey).update(**fields)


class Cosigner(threading.Thread):
    """The cosigning rounds of one log, in a thread of the sequencer's process: each
    ``wake()`` asks for a round on the newest checkpoint (wakes while a round runs are
    folded into one next round); without one, a checkpoint not yet cosigned by the quorum
    is tried again every ``RETRY`` seconds."""

    def __init__(self, ls: LogServices) -> None:
        super().__init__(name="tallylog-cosigner", daemon=True)
        self.ls = ls
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._pool = _Pool()
        self.rounds = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._wake.wait(RETRY)
                self._wake.clear()
                if self._halt.is_set():
                    break
                try:
                    cosign_current(self.ls, self._pool)
                except Exception:
                    log.exception("couldn't get the checkpoint cosigned; the next checkpoint tries again")
                finally:
                    self.rounds += 1
                    close_old_connections()
        finally:
            self._pool.close()
            connections.close_all()


_cosigners: dict[str, Cosigner] = {}
_cosigners_lock = threading.Lock()


def after_publish(ls: LogServices) -> None:
    """Called by the sequencer after it published a checkpoint: wake the log's cosigner
    (started on first use) when witnesses are configured. Never blocks on a witness and
    never raises for one."""
    try:
        if not Witness.objects.exists():
            return
    except Exception:
        log.exception("couldn't read the configured witnesses")
        return
    with _cosigners_lock:
        key = str(ls.log_dir)
        cosigner = _cosigners.get(key)
        if cosigner is None or not cosigner.is_alive():
            cosigner = _cosigners[key] = Cosigner(ls)
            cosigner.start()
    cosigner.wake()


@dataclass(frozen=True)
class WitnessStatus:
    """What the transparency page and the API show of one configured witness: the size it
    last cosigned, how many entries that is ``behind`` the published checkpoint, when, its
    last error, and whether its valid cosignature is on the published checkpoint."""

    name: str
    vkey: str
    url: str
    cosigned_size: int
    behind: int
    cosigned_at: Any
    last_error: str
    on_checkpoint: bool


def witness_report(note: bytes | None, verifier_key: str) -> list[WitnessStatus]:
    """The configured witnesses against the published checkpoint ``note`` (signed by
    ``verifier_key``; None before the first), by name."""
    rows = list(Witness.objects.order_by("name"))
    if not rows:
        return []
    size, on = _cosigned_by(note, verifier_key, tuple(w.vkey for w in rows)) if note else (0, frozenset())
    return [
        WitnessStatus(
            w.name, w.vkey, w.url, w.cosigned_size, max(0, size - w.cosigned_size),
            w.cosigned_at, w.last_error, w.vkey in on,
        )
        for w in rows
    ]


@functools.lru_cache(maxsize=8)
def _cosigned_by(note: bytes, verifier_key: str, vkeys: tuple[str, ...]) -> tuple[int, frozenset[str]]:
    """The checkpoint's size and the keys (of ``vkeys``) whose cosignature on it verifies."""
    from tallylog.tlog import FormatError, VerificationError
    from tallylog.tlog.cosignature import CosignatureVerifier, open_cosigned
    from tallylog.tlog.note import Verifier

    verifiers = {CosignatureVerifier(v): v for v in vkeys}
    try:
        opened = open_cosigned(note, Verifier(verifier_key), list(verifiers))
    except (FormatError, VerificationError):
        # A bad cosignature by a configured witness: count none of that note's, but still
        # report the size the log signed.
        from tallylog.tlog import open_checkpoint

        try:
            return open_checkpoint(note, Verifier(verifier_key)).size, frozenset()
        except (FormatError, VerificationError):
            return 0, frozenset()
    keys = {v for w, v in verifiers.items() if any(w.matches(c) for c in opened.cosignatures)}
    return opened.checkpoint.size, frozenset(keys)
