"""C2SP tlog-cosignature, the Ed25519 type (``cosignature/v1``, signature type 0x04).

A cosignature is a signed-note signature line on a checkpoint, by a witness::

    — <witness name> base64(key ID ‖ timestamp ‖ Ed25519 signature)

- key ID (tlog-cosignature §Format): SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[:4];
- ``timestamped_signature`` (§Format): a big-endian u64 POSIX timestamp (at most 2^63 - 1)
  followed by the 64-byte Ed25519 signature;
- signed message (§Ed25519 signed message): ``cosignature/v1\\n``, ``time <t>\\n`` (decimal,
  no leading zeroes), then the whole checkpoint body, extension lines included;
- verifier key (signed-note §Verifier keys): ``name+hexid+base64(0x04 ‖ public key)``.

The witness's signer key file uses Go's signer-key layout with the cosignature type byte,
``PRIVATE+KEY+name+hexid+base64(0x04 ‖ seed)``, so it can never be mistaken for a log key
(type 0x01, ``tallylog.tlog.note``) and vice versa.

``open_cosigned`` opens a checkpoint note with the log's key and checks the cosignatures of
the given witnesses (a bad one rejects the note, as signed-note says of known keys);
``append_cosignatures`` puts cosignature lines on a signed note. Inverse pairs:
``format_cosignature``/``parse_cosignature`` (one line), ``format_timestamped_signature``/
``parse_timestamped_signature`` (the 72 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from tallylog.tlog.checkpoint import Checkpoint, parse_checkpoint
from tallylog.tlog.errors import FormatError, VerificationError
from tallylog.tlog.note import (
    SIG_PREFIX,
    KeyFormatError,
    Verifier,
    _b64decode,
    _parse_key,
    _valid_name,
    open_note,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosignature",
    "CosignatureFormatError",
    "CosignatureSigner",
    "CosignatureVerifier",
    "CosignedCheckpoint",
    "InvalidCosignatureError",
    "QuorumError",
    "append_cosignatures",
    "check_quorum",
    "cosignature_key_id",
    "cosigned_message",
    "format_cosignature",
    "format_timestamped_signature",
    "generate_witness_key",
    "open_cosigned",
    "parse_cosignature",
    "parse_decimal",
    "parse_timestamped_signature",
    "split_checkpoint_note",
    "verify_cosigned",
]

ALG_COSIGNATURE_V1 = 0x04
"""signed-note §Signature types: timestamped Ed25519 checkpoint cosignatures."""
MAX_TIMESTAMP = (1 << 63) - 1
"""tlog-cosignature §Format: the timestamp MUST NOT exceed 2^63 - 1."""
SIGNATURE_SIZE = 8 + 64
HEADER = b"cosignature/v1\n"


class CosignatureFormatError(FormatError):
    """A cosignature line, timestamped signature or witness key that is malformed."""


class InvalidCosignatureError(VerificationError):
    """A cosignature by a known witness key does not verify. ``witness`` names the key."""

    def __init__(self, witness: str, detail: str = "") -> None:
        self.witness = witness
        super().__init__(
            f"invalid cosignature by witness {witness}"
            + (f": {detail}" if detail else "")
        )


class QuorumError(VerificationError):
    """Fewer than ``need`` of the configured witnesses cosigned; ``got`` names those that did."""

    def __init__(self, got: Sequence[str], need: int, total: int) -> None:
        self.got, self.need, self.total = list(got), need, total
        names = ", ".join(self.got) if self.got else "none"
        super().__init__(
            f"{len(self.got)} of {total} witnesses cosigned (need {need}; cosigned: {names})"
        )


def cosignature_key_id(name: str, public_key: bytes) -> int:
    """tlog-cosignature §Format: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4], big-endian."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def cosigned_message(checkpoint_text: str | bytes, timestamp: int) -> bytes:
    """The message an Ed25519 cosignature signs (tlog-cosignature §Ed25519 signed message):
    ``cosignature/v1\\ntime <timestamp>\\n`` then the whole checkpoint body. The body must
    be a canonical C2SP tlog-checkpoint (``CheckpointFormatError`` otherwise)."""
    text = (
        checkpoint_text.decode("utf-8")
        if isinstance(checkpoint_text, bytes)
        else checkpoint_text
    )
    parse_checkpoint(text)
    _check_timestamp(timestamp)
    return HEADER + f"time {timestamp}\n".encode() + text.encode("utf-8")


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureFormatError(
            f"cosignature timestamp {timestamp} out of range (0 to 2^63 - 1)"
        )


@dataclass(frozen=True)
class Cosignature:
    """One Ed25519 cosignature: the witness key's ``name`` and ``key_id``, the POSIX
    ``timestamp`` it signed and the 64-byte Ed25519 ``signature``."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes


def format_timestamped_signature(timestamp: int, signature: bytes) -> bytes:
    """tlog-cosignature ``timestamped_signature``: u64 big-endian timestamp ‖ 64-byte
    signature. Inverse of ``parse_timestamped_signature``."""
    _check_timestamp(timestamp)
    if len(signature) != 64:
        raise CosignatureFormatError("an Ed25519 signature is 64 bytes")
    return timestamp.to_bytes(8, "big") + signature


def parse_timestamped_signature(raw: bytes) -> tuple[int, bytes]:
    """``(timestamp, signature)`` from 72 bytes. Inverse of ``format_timestamped_signature``."""
    if len(raw) != SIGNATURE_SIZE:
        raise CosignatureFormatError(
            f"a cosignature/v1 signature is {SIGNATURE_SIZE} bytes, not {len(raw)}"
        )
    timestamp = int.from_bytes(raw[:8], "big")
    _check_timestamp(timestamp)
    return timestamp, raw[8:]


def format_cosignature(c: Cosignature) -> str:
    """The signed-note signature line of ``c``, with its final newline. Inverse of
    ``parse_cosignature``."""
    if not _valid_name(c.name):
        raise CosignatureFormatError(f"invalid witness name {c.name!r}")
    if not 0 <= c.key_id < 1 << 32:
        raise CosignatureFormatError("a key ID is 32 bits")
    raw = c.key_id.to_bytes(4, "big") + format_timestamped_signature(
        c.timestamp, c.signature
    )
    return f"{SIG_PREFIX}{c.name} {base64.b64encode(raw).decode()}\n"


def parse_cosignature(line: str) -> Cosignature:
    """The ``Cosignature`` in one signature line (with or without its final newline).
    Strict: em dash and space, a valid key name, one space, canonical base64 of exactly
    4 + 8 + 64 bytes. Inverse of ``format_cosignature``."""
    body = line.removesuffix("\n")
    if not body.startswith(SIG_PREFIX):
        raise CosignatureFormatError(
            "a signature line starts with an em dash and a space"
        )
    name, sep, b64 = body[len(SIG_PREFIX) :].partition(" ")
    if not sep or not _valid_name(name) or not b64:
        raise CosignatureFormatError("malformed signature line")
    raw = _b64decode(b64, "a cosignature", CosignatureFormatError)
    if len(raw) != 4 + SIGNATURE_SIZE:
        raise CosignatureFormatError(
            f"a cosignature/v1 line holds {4 + SIGNATURE_SIZE} bytes, not {len(raw)}"
        )
    timestamp, sig = parse_timestamped_signature(raw[4:])
    return Cosignature(name, int.from_bytes(raw[:4], "big"), timestamp, sig)


def _parse_witness_key(parts: list[str], what: str) -> tuple[str, int, bytes]:
    return _parse_key(
        parts,
        what,
        ALG_COSIGNATURE_V1,
        "an Ed25519 cosignature key (type 0x04 and 32 bytes)",
    )


class CosignatureVerifier:
    """A witness's public key, from its verifier key ``name+hexid+base64(0x04‖pubkey)``
    (tlog-cosignature §Format, signed-note §Verifier keys)."""

    def __init__(self, vkey: str) -> None:
        name, kid, pub = _parse_witness_key(vkey.split("+", 2), "witness verifier key")
        if cosignature_key_id(name, pub) != kid:
            raise KeyFormatError(
                "malformed witness verifier key: the key ID does not match the key"
            )
        self.name, self.key_id, self.public_key = name, kid, pub
        self.verifier_key = vkey
        self._key = Ed25519PublicKey.from_public_bytes(pub)

    def matches(self, c: Cosignature) -> bool:
        """True when ``c`` is by this key's (name, key ID): only those are verified."""
        return c.name == self.name and c.key_id == self.key_id

    def verify(self, checkpoint_text: str | bytes, c: Cosignature) -> bool:
        """True when ``c`` is this key's valid cosignature of the checkpoint body."""
        if not self.matches(c):
            return False
        try:
            self._key.verify(
                c.signature, cosigned_message(checkpoint_text, c.timestamp)
            )
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.verifier_key!r})"


class CosignatureSigner:
    """A witness's signing key, from ``PRIVATE+KEY+name+hexid+base64(0x04‖seed)``."""

    def __init__(self, skey: str) -> None:
        if not skey.startswith("PRIVATE+KEY+"):
            raise KeyFormatError(
                "malformed witness signer key: must start with PRIVATE+KEY+"
            )
        name, kid, seed = _parse_witness_key(
            skey[len("PRIVATE+KEY+") :].split("+", 2), "witness signer key"
        )
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        pub = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if cosignature_key_id(name, pub) != kid:
            raise KeyFormatError(
                "malformed witness signer key: the key ID does not match the key"
            )
        self.name, self.key_id, self.public_key = name, kid, pub
        self.verifier_key = (
            f"{name}+{kid:08x}+"
            + base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + pub).decode()
        )

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.verifier_key)

    def cosign(
        self, checkpoint_text: str | bytes, timestamp: int | None = None
    ) -> Cosignature:
        """This witness's cosignature of the checkpoint body, at ``timestamp`` (default:
        now). Whether the checkpoint deserves it is the caller's business."""
        t = int(time.time()) if timestamp is None else timestamp
        sig = self._key.sign(cosigned_message(checkpoint_text, t))
        return Cosignature(self.name, self.key_id, t, sig)

    def __repr__(self) -> str:
        return f"CosignatureSigner(<{self.name}+{self.key_id:08x}>)"


def witness_key_from_seed(name: str, seed: bytes) -> str:
    """The witness signer key string of the Ed25519 key with this 32-byte ``seed``."""
    if len(seed) != 32:
        raise KeyFormatError("an Ed25519 seed is 32 bytes")
    if not _valid_name(name):
        raise KeyFormatError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
    pub = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    kid = cosignature_key_id(name, pub)
    return (
        f"PRIVATE+KEY+{name}+{kid:08x}+"
        + base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
    )


def generate_witness_key(name: str) -> tuple[str, str]:
    """A new witness key named ``name``: ``(signer key, verifier key)``. Keep the first secret."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    skey = witness_key_from_seed(name, seed)
    return skey, CosignatureSigner(skey).verifier_key


def parse_decimal(s: str, what: str, error: type[FormatError] = FormatError) -> int:
    """An ASCII decimal with no leading zeroes, below 2^64: the sizes and indexes of the
    C2SP tlog specs. Raises ``error`` naming ``what`` otherwise."""
    if (
        not s.isascii()
        or not s.isdigit()
        or (s != "0" and s.startswith("0"))
        or len(s) > 20
    ):
        raise error(f"malformed {what} {s[:32]!r}")
    if int(s) >= 1 << 64:
        raise error(f"{what} {s} out of range")
    return int(s)


def split_checkpoint_note(note: bytes) -> tuple[str, Checkpoint]:
    """The text and parsed checkpoint of a signed checkpoint note, NOT verified: UTF-8, no
    control characters but newlines, a canonical C2SP tlog-checkpoint, a blank line, then
    signature lines (signed-note §Format). ``FormatError`` otherwise."""
    try:
        whole = note.decode("utf-8")
    except UnicodeDecodeError:
        raise CosignatureFormatError("the checkpoint note is not valid UTF-8") from None
    split = whole.rfind("\n\n")
    if (
        split < 0
        or not whole.endswith("\n")
        or not whole[split + 2 :].startswith(SIG_PREFIX)
    ):
        raise CosignatureFormatError("the checkpoint is not a signed note")
    if any(ord(c) < 0x20 and c != "\n" for c in whole):
        raise CosignatureFormatError("the checkpoint note contains control characters")
    text = whole[: split + 1]
    return text, parse_checkpoint(text)


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint verified with the log key: its parsed ``checkpoint``, its ``text``
    (the note body), the ``note`` bytes and the valid ``cosignatures`` of known witnesses."""

    checkpoint: Checkpoint
    text: str
    note: bytes
    cosignatures: tuple[Cosignature, ...]

    @property
    def witnesses(self) -> list[str]:
        """The names of the witnesses whose cosignature verified."""
        return [c.name for c in self.cosignatures]


def open_cosigned(
    note: bytes, log: Verifier, witnesses: Iterable[CosignatureVerifier] = ()
) -> CosignedCheckpoint:
    """Open a checkpoint note (C2SP signed-note, tlog-checkpoint) signed by the ``log`` key
    and check the cosignatures of ``witnesses`` (tlog-cosignature).

    Lines by unknown keys are ignored. A line by a known witness (same name and key ID)
    that is malformed or does not verify raises ``InvalidCosignatureError`` (signed-note:
    a failed signature by a known key rejects the whole note). The checkpoint's origin
    must be the log key's name. Does not check any quorum: see ``check_quorum``."""
    opened = open_note(note, [log])
    cp = parse_checkpoint(opened.text)
    if cp.origin != log.name:
        raise VerificationError(
            f"the checkpoint is for log {cp.origin!r}, the key for {log.name!r}"
        )
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[tuple[str, int], Cosignature] = {}
    for sig in opened.unverified:
        w = known.get((sig.name, sig.key_id))
        if w is None or (sig.name, sig.key_id) in found:
            continue
        try:
            c = parse_cosignature(f"{SIG_PREFIX}{sig.name} {sig.base64}")
        except CosignatureFormatError as exc:
            raise InvalidCosignatureError(w.name, str(exc)) from None
        if not w.verify(opened.text, c):
            raise InvalidCosignatureError(w.name, "the signature does not verify")
        found[(sig.name, sig.key_id)] = c
    return CosignedCheckpoint(cp, opened.text, note, tuple(found.values()))


def check_quorum(
    cosigned: CosignedCheckpoint | Sequence[Cosignature],
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
) -> None:
    """Raise ``QuorumError`` unless at least ``quorum`` distinct ``witnesses`` cosigned
    (a k-of-n policy, tlog-proof §Verifying step 3)."""
    if not 0 <= quorum <= len(witnesses):
        raise ValueError(
            f"a quorum of {quorum} out of {len(witnesses)} witnesses is impossible"
        )
    cosigs = (
        cosigned.cosignatures if isinstance(cosigned, CosignedCheckpoint) else cosigned
    )
    got = [w.name for w in witnesses if any(w.matches(c) for c in cosigs)]
    if len(got) < quorum:
        raise QuorumError(got, quorum, len(witnesses))


def verify_cosigned(
    note: bytes, log: Verifier, witnesses: Sequence[CosignatureVerifier], quorum: int
) -> CosignedCheckpoint:
    """``open_cosigned`` then ``check_quorum``: the checkpoint note signed by ``log`` and
    validly cosigned by at least ``quorum`` of ``witnesses`` (what ``verify --witness``
    needs), or ``VerificationError`` (``InvalidCosignatureError``, ``QuorumError``)."""
    cosigned = open_cosigned(note, log, witnesses)
    check_quorum(cosigned, witnesses, quorum)
    return cosigned


def append_cosignatures(note: bytes, cosignatures: Iterable[Cosignature]) -> bytes:
    """``note`` with a signature line for each of ``cosignatures`` appended, replacing any
    line already there by the same (name, key ID). The note must be a signed note (ends in
    a signature line); nothing is verified here."""
    body, _ = split_checkpoint_note(note)
    text = note.decode("utf-8")
    split = len(body) - 1
    new = list(cosignatures)
    replaced = {(c.name, c.key_id) for c in new}
    kept = []
    for line in text[split + 2 : -1].split("\n"):
        try:
            old = parse_cosignature(line)
        except FormatError:
            kept.append(line + "\n")
            continue
        if (old.name, old.key_id) not in replaced:
            kept.append(line + "\n")
    lines = kept + [format_cosignature(c) for c in new]
    return (text[: split + 2] + "".join(lines)).encode("utf-8")
