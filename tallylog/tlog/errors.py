"""The errors of ``tallylog.tlog``, in one place so every module raises the same types.

- ``ValueError`` subclasses: malformed input (a bad path, note, checkpoint, proof shape).
- ``VerificationError``: well-formed input that fails cryptographic verification (a proof
  that does not check, a signature that does not verify, a tile that does not hash to the
  signed root). Deliberately NOT a ``ValueError``: callers must not confuse "garbage" with
  "evidence of misbehaviour".
- ``LogInconsistentError``: the stored log disagrees with the state the caller committed to.
"""

from __future__ import annotations


class FormatError(ValueError):
    """Malformed input: the bytes or arguments do not follow the format's spec."""


class VerificationError(Exception):
    """A proof, signature or tile failed verification (RFC 9162 §2.1.3/§2.1.4, C2SP signed-note)."""


class TileMismatchError(VerificationError):
    """A stored tile does not match what the signed tree (or the entries) say it must hold.

    ``level`` is -1 for an entry bundle; ``path`` is the tile's log-relative path.
    """

    def __init__(self, level: int, n: int, path: str, detail: str) -> None:
        self.level, self.n, self.path, self.detail = level, n, path, detail
        where = f"entry bundle {n}" if level < 0 else f"tile {level}/{n}"
        super().__init__(f"hash mismatch in {where} ({path}): {detail}")

    def __reduce__(self) -> tuple[type, tuple[int, int, str, str]]:  # raised in audit workers
        return type(self), (self.level, self.n, self.path, self.detail)


class MissingTileError(FormatError):
    """A tile or bundle the tree needs is absent from the store."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"missing file at {path}")

    def __reduce__(self) -> tuple[type, tuple[str]]:  # raised in audit workers
        return type(self), (self.path,)


class LogInconsistentError(ValueError):
    """The stored log disagrees with the committed state (size, root, checkpoint).

    Raised instead of guessing: the operator must look before the log is written again.
    """
