"""Known-answer trees for the log tests: entry ``i`` and an in-memory list of stored hashes
(used by tests/tlog and tests/witness)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from tallylog.tlog.hashes import stored_hashes


def entry(i: int) -> bytes:
    """Entry i of the known-answer trees: the ASCII text ``entry i``."""
    return f"entry {i}".encode()


def b64(s: str) -> bytes:
    return base64.b64decode(s)


class HashList:
    """Every stored hash of a tree, in a list (a ``HashReader`` for tests)."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0
        self.reads = 0

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads += 1
        return [self.hashes[i] for i in indexes]

    def append(self, data: bytes) -> None:
        self.hashes.extend(stored_hashes(self.size, data, self))
        self.size += 1
