"""Fixtures for the public pages: the default campaign, a fresh log, declarations."""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Callable

import pytest
from django.test import Client

from tallylog.composition import LogServices, get_log
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import Submission, submit_declaration
from tallylog.registry.entries.sequencer import sequence_pending
from tests.registry.conftest import campaign, home, log  # noqa: F401  (shared fixtures)

LANGS = ("zh-hans", "zh-hant", "en")


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def declare(campaign: Campaign) -> Callable[..., Submission]:
    """``declare(alias=…, orgs=…)``: a declaration through the registry's one action."""

    def make(alias: str = "Lin", orgs: tuple[str, ...] = ("party",), **kw: str) -> Submission:
        return submit_declaration(campaign, alias=alias, orgs=list(orgs), **kw)

    return make


@pytest.fixture
def sequence(log: LogServices) -> Callable[..., int]:
    """Run the sequencer until nothing waits, with leaf ``day`` (default: today, UTC);
    returns how many entries it logged."""

    def run(day: datetime.date | None = None) -> int:
        return sequence_pending(get_log(), batch_size=10_000, day=day)

    return run


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root hash an inclusion proof implies (written here apart from
    ``tallylog.tlog`` so the pages are checked against an independent reading of the RFC)."""
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in proof:
        if sn == 0:
            raise AssertionError("proof too long")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AssertionError("proof too short")
    return r


def checkpoint_root(note: str) -> tuple[int, bytes]:
    lines = note.split("\n")
    return int(lines[1]), base64.b64decode(lines[2])
