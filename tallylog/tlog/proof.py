"""C2SP tlog-proof (``c2sp.org/tlog-proof@v1``): an inclusion proof that travels.

::

    c2sp.org/tlog-proof@v1\\n
    [extra <base64 opaque data>\\n]
    index <entry index, decimal>\\n
    <inclusion proof hash, base64>\\n      (zero or more, the leaf's sibling first)
    \\n
    <the checkpoint note, verbatim, signatures and cosignatures included>

(tlog-proof §Format). tallylog puts the entry itself in the ``extra`` line, so that the proof
alone is enough to verify (the spec: the extra data is not trusted; here it is checked, since
its leaf hash must lead to the signed root). Files SHOULD end in ``.tlog-proof``.

``format_proof``/``parse_proof`` are an inverse pair (strict); ``make_proof`` builds one from
a ``HashReader``; ``verify_proof`` follows tlog-proof §Verifying a tlog proof: the leaf hash
(step 1), the log's signature (2), the cosignatures and a k-of-n quorum (3), the inclusion
proof (4).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from tallylog.tlog.checkpoint import Checkpoint
from tallylog.tlog.cosignature import (
    Cosignature,
    CosignatureVerifier,
    parse_decimal,
    split_checkpoint_note,
    verify_cosigned,
)
from tallylog.tlog.errors import FormatError
from tallylog.tlog.hashes import (
    HASH_SIZE,
    HashReader,
    check_inclusion,
    leaf_hash,
    prove_inclusion,
)
from tallylog.tlog.note import MAX_NOTE_SIZE, Verifier, _b64decode

__all__ = [
    "HEADER",
    "ProofFormatError",
    "TlogProof",
    "VerifiedProof",
    "format_proof",
    "make_proof",
    "parse_proof",
    "verify_proof",
]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64
MAX_PROOF_SIZE = MAX_NOTE_SIZE + (1 << 18)


class ProofFormatError(FormatError):
    """A tlog-proof that does not follow C2SP tlog-proof."""


@dataclass(frozen=True)
class TlogProof:
    """A tlog-proof: entry ``index``, the inclusion ``proof`` hashes, the signed
    ``checkpoint`` note (bytes) and optional ``extra`` data (non-empty when present)."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None


@dataclass(frozen=True)
class VerifiedProof:
    """What ``verify_proof`` established: the ``checkpoint``, the ``entry`` (if it was
    given or carried), the leaf hash and the valid ``cosignatures``."""

    checkpoint: Checkpoint
    index: int
    leaf_hash: bytes
    entry: bytes | None
    cosignatures: tuple[Cosignature, ...]


def _note_checkpoint(note: bytes) -> Checkpoint:
    try:
        return split_checkpoint_note(note)[1]
    except FormatError as exc:
        raise ProofFormatError(f"malformed checkpoint: {exc}") from None


def format_proof(p: TlogProof) -> bytes:
    """The tlog-proof text of ``p``. Inverse of ``parse_proof``."""
    if p.extra is not None and not p.extra:
        raise ProofFormatError("extra data, when present, is not empty")
    if any(len(h) != HASH_SIZE for h in p.proof) or len(p.proof) > MAX_PROOF_HASHES:
        raise ProofFormatError(
            f"an inclusion proof is at most {MAX_PROOF_HASHES} hashes of {HASH_SIZE} bytes"
        )
    cp = _note_checkpoint(p.checkpoint)
    if not 0 <= p.index < cp.size:
        raise ProofFormatError(
            f"index {p.index} is not in the checkpoint's tree of size {cp.size}"
        )
    lines = [HEADER]
    if p.extra is not None:
        lines.append("extra " + base64.b64encode(p.extra).decode())
    lines.append(f"index {p.index}")
    lines.extend(base64.b64encode(h).decode() for h in p.proof)
    return ("".join(line + "\n" for line in lines) + "\n").encode() + p.checkpoint


def parse_proof(data: bytes) -> TlogProof:
    """The ``TlogProof`` in ``data``. Strict: the exact header line, an optional ``extra``
    line of canonical non-empty base64, ``index`` in canonical decimal below the
    checkpoint's size, canonical base64 32-byte hashes, an empty line, and a signed note
    whose text is a canonical checkpoint (signatures are checked by ``verify_proof``).
    Inverse of ``format_proof``."""
    if len(data) > MAX_PROOF_SIZE:
        raise ProofFormatError("the proof is too large")
    end = data.find(b"\n\n")
    if end < 0:
        raise ProofFormatError("no empty line before the checkpoint")
    try:
        head = data[:end].decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise ProofFormatError("non-ASCII bytes before the checkpoint") from None
    note = data[end + 2 :]
    if head[0] != HEADER:
        raise ProofFormatError(f"the first line must be {HEADER}")
    rest = head[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest[0][len("extra ") :], "extra data")
        if not extra:
            raise ProofFormatError("an extra line must hold data")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise ProofFormatError("missing index line")
    index = parse_decimal(rest[0][len("index ") :], "index", ProofFormatError)
    if len(rest) - 1 > MAX_PROOF_HASHES:
        raise ProofFormatError(f"more than {MAX_PROOF_HASHES} proof hashes")
    proof = []
    for line in rest[1:]:
        h = _b64(line, "a proof line")
        if len(h) != HASH_SIZE:
            raise ProofFormatError(f"a proof line must hold {HASH_SIZE} bytes")
        proof.append(h)
    p = TlogProof(index, tuple(proof), note, extra)
    if format_proof(p) != data:
        raise ProofFormatError("the proof is not in canonical form")
    return p


def _b64(s: str, what: str) -> bytes:
    return _b64decode(s, what, ProofFormatError)


def make_proof(
    note: bytes, index: int, reader: HashReader, entry: bytes | None = None
) -> TlogProof:
    """The tlog-proof of entry ``index`` in the tree of the signed checkpoint ``note``
    (its cosignatures travel with it), ``reader`` reading that tree's stored hashes; with
    ``entry`` carried in the extra line. Checked before it is returned."""
    cp = _note_checkpoint(note)
    proof = prove_inclusion(cp.size, index, reader)
    if entry is not None:
        check_inclusion(proof, cp.size, cp.root, index, leaf_hash(entry))
    return TlogProof(index, tuple(proof), note, entry)


def verify_proof(
    p: TlogProof,
    log: Verifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    quorum: int = 0,
    entry: bytes | None = None,
    leaf: bytes | None = None,
) -> VerifiedProof:
    """Verify ``p`` offline (tlog-proof §Verifying a tlog proof).

    1. The leaf hash: ``leaf`` if given, else RFC 6962 leaf hash of ``entry``, else of the
       extra data (tallylog's convention); ``FormatError`` if there is none.
    2. The checkpoint's origin is the ``log`` key's name and the log signed it.
    3. The cosignatures of ``witnesses`` verify (a bad one by a known witness fails the
       proof: ``InvalidCosignatureError``) and at least ``quorum`` of them cosigned
       (``QuorumError``).
    4. The inclusion proof binds the leaf hash at ``index`` to the signed root
       (``VerificationError``).
    """
    if leaf is None:
        carried = entry if entry is not None else p.extra
        if carried is None:
            raise ProofFormatError(
                "the proof carries no entry: give the entry or its leaf hash"
            )
        entry = carried
        leaf = leaf_hash(carried)
    cosigned = verify_cosigned(p.checkpoint, log, witnesses, quorum)
    cp = cosigned.checkpoint
    check_inclusion(p.proof, cp.size, cp.root, p.index, leaf)
    return VerifiedProof(cp, p.index, leaf, entry, cosigned.cosignatures)
