"""Shared helpers for the tlog tests: Go's known answers and an in-memory hash store."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tallylog.tlog.hashes import stored_hashes

VECTORS = Path("/work/shared/testdata/go-tlog-vectors.json")


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


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="session")
def tree1000() -> HashList:
    t = HashList()
    for i in range(1000):
        t.append(entry(i))
    return t
