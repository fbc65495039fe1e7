"""Fixtures for the tlog tests: Go's known answers and a tree of 1000 entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.trees import HashList, entry

VECTORS = Path("/work/shared/testdata/go-tlog-vectors.json")


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="session")
def tree1000() -> HashList:
    t = HashList()
    for i in range(1000):
        t.append(entry(i))
    return t
