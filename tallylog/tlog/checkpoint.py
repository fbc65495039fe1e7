"""C2SP tlog-checkpoint: the note body naming a tree head.

::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    [<extension line>\\n ...]

The body is signed as a C2SP signed note (``tallylog.tlog.note``): ``sign_checkpoint``
and ``open_checkpoint`` do both steps, and ``open_checkpoint`` is the one way this package
reads a checkpoint it did not just make. Parsing is strict: the checkpoint must re-encode
to exactly the same text.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from tallylog.tlog.errors import FormatError, VerificationError
from tallylog.tlog.hashes import HASH_SIZE
from tallylog.tlog.note import Signer, Verifier, open_note, sign_note

__all__ = [
    "MAX_CHECKPOINT_SIZE",
    "Checkpoint",
    "CheckpointFormatError",
    "format_checkpoint",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]

MAX_SIZE = (1 << 64) - 1
MAX_CHECKPOINT_SIZE = 1 << 16
"""64 KiB for a signed checkpoint note (and so for its body), in the library and the CLI
alike: the body (origin, size, root, a few extension lines) and up to 16 cosignatures of
post-quantum size — an ML-DSA-44 signature is 2,420 bytes, 3,232 in base64 with its key
ID, ~3.4 kB a signature line with a long key name: 16 × 3.4 kB ≈ 54 kB — with room to
spare. Larger is malformed."""


class CheckpointFormatError(FormatError):
    """A checkpoint body that does not follow C2SP tlog-checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's ``origin``, the tree ``size``, its RFC 6962 ``root`` hash and
    optional ``extensions`` (extra non-empty lines, opaque here)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def root_hash(self) -> bytes:
        """Alias of ``root``."""
        return self.root


def _check_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointFormatError(f"the checkpoint's {what} is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in line):
        raise CheckpointFormatError(f"the checkpoint's {what} contains control characters")


def format_checkpoint(cp: Checkpoint) -> str:
    """The C2SP tlog-checkpoint body of ``cp`` (ends in newline). Inverse of ``parse_checkpoint``."""
    _check_line(cp.origin, "origin")
    if not 0 <= cp.size <= MAX_SIZE:
        raise CheckpointFormatError(f"tree size {cp.size} out of range")
    if len(cp.root) != HASH_SIZE:
        raise CheckpointFormatError(f"the root hash must be {HASH_SIZE} bytes")
    for ext in cp.extensions:
        _check_line(ext, "extension line")
    lines = [cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """The ``Checkpoint`` in a C2SP tlog-checkpoint body (the text of an opened note).

    Strict: three lines at least, each ending in newline (the last too), a decimal size
    without sign or leading zeros, a canonical base64 32-byte root, no empty or control
    characters in any line. Inverse of ``format_checkpoint``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointFormatError("the checkpoint is not valid UTF-8") from None
    if len(text) > MAX_CHECKPOINT_SIZE:
        raise CheckpointFormatError("the checkpoint is too large")
    if not text.endswith("\n"):
        raise CheckpointFormatError("the checkpoint does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointFormatError("the checkpoint needs an origin, a size and a root hash line")
    origin, size_s, root_s, *extensions = lines
    if not size_s.isascii() or not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise CheckpointFormatError(f"malformed tree size {size_s!r}")
    if len(size_s) > 20 or int(size_s) > MAX_SIZE:
        raise CheckpointFormatError(f"tree size {size_s} out of range")
    try:
        root = base64.b64decode(root_s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointFormatError("malformed base64 in the root hash") from None
    if len(root) != HASH_SIZE:
        raise CheckpointFormatError(f"the root hash must be {HASH_SIZE} bytes, not {len(root)}")
    cp = Checkpoint(origin, int(size_s), root, tuple(extensions))
    if format_checkpoint(cp) != text:
        raise CheckpointFormatError("the checkpoint is not in canonical form")
    return cp


def make_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> Checkpoint:
    """A ``Checkpoint``, its fields checked by formatting it once."""
    cp = Checkpoint(origin, size, root, tuple(extensions))
    format_checkpoint(cp)
    return cp


def sign_checkpoint(cp: Checkpoint, *signers: Signer) -> bytes:
    """The signed note (C2SP signed-note) of ``cp``'s body, signed by each of ``signers``.
    Inverse of ``open_checkpoint``."""
    note = sign_note(format_checkpoint(cp), *signers)
    if len(note) > MAX_CHECKPOINT_SIZE:
        raise CheckpointFormatError(f"the signed checkpoint is larger than {MAX_CHECKPOINT_SIZE} bytes")
    return note


def open_checkpoint(note: bytes, verifier: Verifier) -> Checkpoint:
    """The checkpoint in the signed note ``note``, its signature by ``verifier``'s key
    verified (C2SP signed-note) and its body parsed strictly (C2SP tlog-checkpoint).

    ``FormatError`` for a malformed note or body, or one over ``MAX_CHECKPOINT_SIZE``;
    ``VerificationError`` (``note.InvalidSignatureError``, ``note.UnverifiedNoteError``) for
    a bad or missing signature, or a checkpoint whose origin is not the key's name.
    Inverse of ``sign_checkpoint``.
    """
    if len(note) > MAX_CHECKPOINT_SIZE:
        raise CheckpointFormatError(f"the signed checkpoint is larger than {MAX_CHECKPOINT_SIZE} bytes")
    cp = parse_checkpoint(open_note(note, [verifier]).text)
    if cp.origin != verifier.name:
        raise VerificationError(f"the checkpoint is for log {cp.origin!r}, the key for {verifier.name!r}")
    return cp
