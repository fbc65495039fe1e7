"""What the log has published, as the public pages and the JSON API show it: the current
signed checkpoint and an entry's inclusion proof against it.

Thin reads over the log (``tallylog.composition.get_log``). The checkpoint is read with
``tallylog.tlog``'s strict parsers: the note's signature is verified with the log's own
key and its body must be a canonical C2SP tlog-checkpoint.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

from tallylog.composition import get_log
from tallylog.registry.entries.models import LogEntry
from tallylog.tlog import checkpoint as tlog_checkpoint
from tallylog.tlog import note as tlog_note
from tallylog.tlog.hashes import leaf_hash


@dataclass(frozen=True)
class CheckpointInfo:
    """A published signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note):
    ``text`` is the whole note, signatures included."""

    text: str
    origin: str
    size: int
    root_b64: str


@functools.lru_cache(maxsize=8)
def read_checkpoint(signed_note: bytes, verifier_key: str) -> CheckpointInfo:
    """The ``CheckpointInfo`` of ``signed_note``, a checkpoint signed by ``verifier_key``.

    Strict: the signature must verify (``tlog.note.open_note``) and the body must be a
    canonical checkpoint (``tlog.checkpoint.parse_checkpoint``); their errors
    (``tallylog.tlog.FormatError``, ``VerificationError``) pass through. The answers for
    the last few notes are kept: every page reads the same checkpoint until the next one
    is published, and verifying its signature costs about half a millisecond.
    """
    opened = tlog_note.open_note(signed_note, [tlog_note.Verifier(verifier_key)])
    cp = tlog_checkpoint.parse_checkpoint(opened.text)
    return CheckpointInfo(
        text=signed_note.decode("utf-8"),
        origin=cp.origin,
        size=cp.size,
        root_b64=base64.b64encode(cp.root).decode("ascii"),
    )


def current_checkpoint() -> CheckpointInfo | None:
    """The checkpoint the log serves at ``/log/checkpoint``, or None before the first."""
    log = get_log()
    signed_note = log.checkpoint()
    return read_checkpoint(signed_note, log.verifier_key) if signed_note is not None else None


@dataclass(frozen=True)
class EntryProof:
    """A sequenced entry and its RFC 6962 §2.1.1 inclusion proof in the tree of
    ``checkpoint.size`` leaves. ``leaf_hash`` is SHA-256(0x00 ‖ leaf) (RFC 6962 §2.1)."""

    index: int
    leaf: bytes
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: CheckpointInfo

    @property
    def proof_b64(self) -> list[str]:
        return [base64.b64encode(h).decode("ascii") for h in self.proof]

    @property
    def leaf_hash_b64(self) -> str:
        return base64.b64encode(self.leaf_hash).decode("ascii")


def entry_proof(entry: LogEntry | None, checkpoint: CheckpointInfo | None = None) -> EntryProof | None:
    """The inclusion proof of ``entry`` against ``checkpoint`` (default: the current one).

    None when the entry is not sequenced yet or the published checkpoint does not cover it
    (the sequencer commits the index before it publishes the checkpoint).
    """
    if entry is None or entry.log_index is None or entry.leaf is None:
        return None
    checkpoint = checkpoint or current_checkpoint()
    if checkpoint is None or entry.log_index >= checkpoint.size:
        return None
    leaf = bytes(entry.leaf)
    return EntryProof(
        index=entry.log_index,
        leaf=leaf,
        leaf_hash=leaf_hash(leaf),
        proof=get_log().inclusion_proof(entry.log_index, checkpoint.size, base64.b64decode(checkpoint.root_b64)),
        checkpoint=checkpoint,
    )


def entry_tlog_proof(index: int) -> bytes | None:
    """The C2SP tlog-proof (``c2sp.org/tlog-proof@v1``) of entry ``index`` against the
    published checkpoint, cosignatures included, the entry in its extra line (what
    ``tallylog verify-proof`` checks offline); None when no published checkpoint covers it."""
    from tallylog.tlog.proof import format_proof, make_proof
    from tallylog.tlog.tiles import TileHashReader

    log = get_log()
    note = log.checkpoint()
    if note is None:
        return None
    checkpoint = read_checkpoint(note, log.verifier_key)
    if not 0 <= index < checkpoint.size:
        return None
    leaf = LogEntry.objects.filter(log_index=index).values_list("leaf", flat=True).first()
    if leaf is None:
        return None
    reader = TileHashReader(checkpoint.size, base64.b64decode(checkpoint.root_b64), log.store)
    return format_proof(make_proof(note, index, reader, bytes(leaf)))
