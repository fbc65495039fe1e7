"""C2SP signed-note with Ed25519 keys: keys, signing and opening notes.

A signed note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(key ID ‖ signature)>``. Modelled on Go's golang.org/x/mod/sumdb/note,
whose key strings this module reads and writes, so key files interoperate:

- verifier key: ``<name>+<hex key ID>+<base64(0x01 ‖ public key)>``;
- signer key (Go's format): ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>``;
- key ID: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), big-endian.

``open_note`` follows the spec (and Go's ``note.Open``): signatures by unknown keys are kept
aside as unverified; a signature by a known key that does not verify rejects the whole
note; a note with no verified signature raises ``UnverifiedNoteError`` naming the keys seen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tallylog.tlog.errors import FormatError, VerificationError

__all__ = [
    "MAX_NOTE_SIZE",
    "InvalidSignatureError",
    "KeyFormatError",
    "NoteFormatError",
    "Note",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "VerificationError",
    "Verifier",
    "generate_key",
    "key_id",
    "open_note",
    "sign_note",
    "signer_key_from_seed",
]

ALG_ED25519 = 0x01
SIG_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
MAX_NOTE_SIZE = 1 << 20
"""Notes larger than 1 MiB are rejected (the spec lets implementations bound the size)."""
MAX_SIGNATURES = 100
"""As Go's note.Open: more signature lines than this is malformed."""


class NoteFormatError(FormatError):
    """A note that does not follow the C2SP signed-note format."""


class KeyFormatError(FormatError):
    """A signer or verifier key string that is not in the expected format."""


class InvalidSignatureError(VerificationError):
    """A signature by a known key does not verify: the whole note is rejected."""


class UnverifiedNoteError(VerificationError):
    """No signature on the note is by a known key. ``names`` lists the signers' key names
    (and ``note`` the parsed, unverified note) so the caller can say which key it lacks."""

    def __init__(self, note: Note) -> None:
        self.note = note
        self.names = sorted({s.name for s in note.unverified})
        super().__init__("the note has no signature by a known key (signed by: " + ", ".join(self.names) + ")")


@dataclass(frozen=True)
class Signature:
    """One signature line: key ``name``, key ID ``key_id`` and the base64 of ID ‖ signature."""

    name: str
    key_id: int
    base64: str


@dataclass(frozen=True)
class Note:
    """An opened note: its ``text`` (ending in newline), the verified signatures ``sigs`` and
    the ``unverified`` ones (by keys the caller did not know)."""

    text: str
    sigs: list[Signature] = field(default_factory=list)
    unverified: list[Signature] = field(default_factory=list)


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and _valid_text(name)


def _valid_text(text: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\n" for c in text)


def _b64decode(s: str, what: str, error: type[FormatError]) -> bytes:
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise error(f"malformed base64 in {what}") from None
    if base64.b64encode(raw).decode() != s:
        raise error(f"non-canonical base64 in {what}")
    return raw


def key_id(name: str, public_key: bytes) -> int:
    """The C2SP signed-note key ID of an Ed25519 key: first 4 bytes, big-endian, of
    SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _parse_key(
    parts: list[str], what: str, alg: int = ALG_ED25519, label: str = "an Ed25519 key (0x01 and 32 bytes)"
) -> tuple[str, int, bytes]:
    """``(name, key ID, key bytes)`` of ``name+hexid+base64(alg ‖ 32 bytes)``; ``alg`` is the
    signed-note signature type (0x04 for tlog-cosignature witness keys)."""
    if len(parts) != 3:
        raise KeyFormatError(f"malformed {what}: want name+id+key")
    name, hex_id, key64 = parts
    if not _valid_name(name):
        raise KeyFormatError(f"malformed {what}: invalid key name {name!r}")
    if len(hex_id) != 8 or hex_id != hex_id.lower() or any(c not in "0123456789abcdef" for c in hex_id):
        raise KeyFormatError(f"malformed {what}: the key ID must be 8 lowercase hex digits")
    raw = _b64decode(key64, what, KeyFormatError)
    if len(raw) != 33 or raw[0] != alg:
        raise KeyFormatError(f"malformed {what}: not {label}")
    return name, int(hex_id, 16), raw[1:]


class Verifier:
    """Verifies Ed25519 signatures of the key given as a verifier key string
    ``name+hexid+base64(0x01‖pubkey)`` (Go's ``note.NewVerifier``)."""

    def __init__(self, vkey: str) -> None:
        name, kid, pub = _parse_key(vkey.split("+", 2), "verifier key")
        if key_id(name, pub) != kid:
            raise KeyFormatError("malformed verifier key: the key ID does not match the key")
        self.name = name
        self.key_id = kid
        self.public_key = pub
        self._key = Ed25519PublicKey.from_public_bytes(pub)
        self.verifier_key = vkey

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.verifier_key!r})"


class Signer:
    """Signs with the Ed25519 key given as a signer key string in Go's format
    ``PRIVATE+KEY+name+hexid+base64(0x01‖seed)`` (Go's ``note.NewSigner``)."""

    def __init__(self, skey: str) -> None:
        if not skey.startswith("PRIVATE+KEY+"):
            raise KeyFormatError("malformed signer key: must start with PRIVATE+KEY+")
        name, kid, seed = _parse_key(skey[len("PRIVATE+KEY+") :].split("+", 2), "signer key")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pub = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if key_id(name, pub) != kid:
            raise KeyFormatError("malformed signer key: the key ID does not match the key")
        self.name = name
        self.key_id = kid
        self.public_key = pub
        self.verifier_key = f"{name}+{kid:08x}+" + base64.b64encode(bytes([ALG_ED25519]) + pub).decode()

    @property
    def verifier(self) -> Verifier:
        """The ``Verifier`` of this key."""
        return Verifier(self.verifier_key)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Signer(<{self.name}+{self.key_id:08x}>)"


def generate_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key named ``name``: ``(signer key, verifier key)`` strings (Go's
    ``note.GenerateKey``). Keep the signer key secret."""
    if not _valid_name(name):
        raise KeyFormatError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return signer_key_from_seed(name, seed), Signer(signer_key_from_seed(name, seed)).verifier_key


def signer_key_from_seed(name: str, seed: bytes) -> str:
    """The signer key string of the Ed25519 key with this 32-byte ``seed``."""
    if len(seed) != 32:
        raise KeyFormatError("an Ed25519 seed is 32 bytes")
    if not _valid_name(name):
        raise KeyFormatError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"PRIVATE+KEY+{name}+{key_id(name, pub):08x}+" + base64.b64encode(bytes([ALG_ED25519]) + seed).decode()


def sign_note(text: str, *signers: Signer) -> bytes:
    """The signed note of ``text`` (C2SP signed-note), signed by each of ``signers`` in order.

    ``text`` must end in a newline, be non-empty and contain no control characters but
    newlines (and no blank line at its end). Inverse of ``open_note``.
    """
    if not signers:
        raise NoteFormatError("a note needs at least one signer")
    if not text.endswith("\n") or text.endswith("\n\n") or text == "\n":
        raise NoteFormatError("the note text must be non-empty and end in exactly one newline")
    if not _valid_text(text):
        raise NoteFormatError("the note text contains control characters")
    body = text.encode("utf-8")
    lines = []
    for s in signers:
        sig = s.key_id.to_bytes(4, "big") + s.sign(body)
        lines.append(f"{SIG_PREFIX}{s.name} {base64.b64encode(sig).decode()}\n")
    out = body + b"\n" + "".join(lines).encode("utf-8")
    if len(out) > MAX_NOTE_SIZE:
        raise NoteFormatError(f"the signed note is larger than {MAX_NOTE_SIZE} bytes")
    return out


def open_note(msg: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse the signed note ``msg`` and verify its signatures with ``verifiers``
    (C2SP signed-note; Go's ``note.Open``).

    Strict: valid UTF-8, no control characters but newline, at most ``MAX_NOTE_SIZE`` bytes
    and ``MAX_SIGNATURES`` lines, valid base64, canonical in the signatures of known keys
    (an unknown key's, as Go's ``note.Open``, may set padding bits). Signatures by keys not among
    ``verifiers`` are returned as ``unverified``; a bad signature by a known key raises
    ``InvalidSignatureError``; no verified signature at all raises ``UnverifiedNoteError``;
    malformed input raises ``NoteFormatError``. Inverse of ``sign_note``.
    """
    if len(msg) > MAX_NOTE_SIZE:
        raise NoteFormatError(f"the note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        whole = msg.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteFormatError("the note is not valid UTF-8") from None
    if not _valid_text(whole):
        raise NoteFormatError("the note contains control characters")
    split = whole.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("the note has no blank line before its signatures")
    text, sigs = whole[: split + 1], whole[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteFormatError("the note's signature block is empty or lacks its final newline")
    known: dict[tuple[str, int], Verifier] = {(v.name, v.key_id): v for v in verifiers}
    body = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"the note has more than {MAX_SIGNATURES} signatures")
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteFormatError("a signature line does not start with an em dash and a space")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_name(name) or not b64:
            raise NoteFormatError("malformed signature line")
        try:
            raw = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise NoteFormatError("malformed base64 in a signature line") from None
        if len(raw) < 5:
            raise NoteFormatError("a signature is too short")
        kid = int.from_bytes(raw[:4], "big")
        sig = Signature(name, kid, b64)
        v = known.get((name, kid))
        if v is None:
            # As Go's note.Open: a signature by a key we do not know is kept aside unread,
            # even in non-canonical base64 (non-zero padding bits); only ours must be canonical.
            if sig not in unverified:
                unverified.append(sig)
            continue
        if base64.b64encode(raw).decode() != b64:
            raise NoteFormatError("non-canonical base64 in a signature line")
        if (name, kid) in seen:
            continue  # as Go: repeated signatures by one key are dropped
        seen.add((name, kid))
        if not v.verify(body, raw[4:]):
            raise InvalidSignatureError(f"invalid signature by {name}+{kid:08x}")
        verified.append(sig)
    note = Note(text, verified, unverified)
    if not verified:
        raise UnverifiedNoteError(note)
    return note

