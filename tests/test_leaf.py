"""Leaf version 2 (issue 15 item 2): a receipt tag bound to a public per-entry salt, so that
each guess of a code tests one entry only; version 1 leaves stay valid, counted and found."""

from __future__ import annotations

import hashlib

import pytest

from tallylog import leaf
from tallylog.cli.auditcmds import count_bundle
from tallylog.composition import LogServices
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations import actions
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.entries.sequencer import sequence_pending

CODE = "01886-70025-12345-67890-24680"
SALT = "00112233445566778899aabbccddeeff"
FIELDS = {
    "kind": "declaration",
    "campaign": "three-withdrawals",
    "day": "2026-12-03",
    "channel": "web",
    "commit": "c" * 64,
    "orgs": ["league", "party"],
}


def test_the_v2_tag_is_sha256_of_prefix_salt_and_digits() -> None:
    # The byte layout, spelled out: what any other implementation (a browser page) computes.
    data = b"tallylog receipt tag v2\n" + bytes.fromhex(SALT) + b"0188670025123456789024680"
    assert leaf.receipt_tag(CODE, SALT) == hashlib.sha256(data).hexdigest()
    assert leaf.receipt_tag("０１８８６ ７００２５ 12345 67890 24680", SALT) == leaf.receipt_tag(CODE, SALT)
    # One code, two entries: two unrelated tags. A guess is tested against one salt at a time.
    other = "ffeeddccbbaa99887766554433221100"
    assert leaf.receipt_tag(CODE, other) != leaf.receipt_tag(CODE, SALT)
    assert leaf.receipt_tag(CODE, SALT) != leaf.receipt_tag_v1(CODE)
    for bad in ("", SALT.upper(), SALT[:-2], SALT + "00", "g" * 32):
        with pytest.raises(ValueError):
            leaf.receipt_tag(CODE, bad)


def test_v2_and_v1_leaves_round_trip() -> None:
    tag = leaf.receipt_tag(CODE, SALT)
    data = leaf.encode_leaf(**FIELDS, tag=tag, tag_salt=SALT)
    assert data.endswith(f'"tag":"{tag}","tag_salt":"{SALT}","v":2}}'.encode())
    assert leaf.parse_leaf(data) == {**FIELDS, "tag": tag, "tag_salt": SALT, "v": 2}
    assert leaf.encode_leaf(**{k: v for k, v in leaf.parse_leaf(data).items() if k != "v"}) == data
    # The fast path and the general one (a non-ASCII organisation code is refused by both).
    assert data == leaf.canonical_json({**FIELDS, "tag": tag, "tag_salt": SALT, "v": 2})
    old = leaf.encode_leaf(**FIELDS, tag=leaf.receipt_tag_v1(CODE))
    assert leaf.parse_leaf(old)["v"] == 1 and b"tag_salt" not in old


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 2, "tag_salt": None}, "leaf lacks tag_salt"),
        ({"v": 1}, "unknown field tag_salt"),
        ({"v": 3}, "unknown version"),
        ({"tag_salt": SALT.upper()}, "tag_salt is not 32 lowercase hex digits"),
        ({"tag_salt": SALT[:30]}, "tag_salt is not 32 lowercase hex digits"),
        ({"tag_salt": 7}, "tag_salt is not 32 lowercase hex digits"),
    ],
)
def test_malformed_v2_leaves_are_refused(change: dict, message: str) -> None:
    value = {**FIELDS, "tag": "a" * 64, "tag_salt": SALT, "v": 2, **change}
    value = {k: v for k, v in value.items() if v is not None}
    with pytest.raises(leaf.LeafError, match=message):
        leaf.parse_leaf(leaf.canonical_json(value))


def test_the_matcher_finds_both_versions_and_nothing_else() -> None:
    v2 = leaf.encode_leaf(**FIELDS, tag=leaf.receipt_tag(CODE, SALT), tag_salt=SALT)
    v1 = leaf.encode_leaf(**FIELDS, tag=leaf.receipt_tag_v1(CODE))
    other = "01886-70025-12345-67890-24681"
    matches, misses = leaf.receipt_matcher(CODE), leaf.receipt_matcher(other)
    assert matches(v2) and matches(v1)
    assert not misses(v2) and not misses(v1)
    assert not matches(v2 + b" ") and not matches(b" " + v1)  # not canonical: not a leaf
    assert not matches(b"not a leaf") and not matches(b"")
    assert leaf.receipt_matches(leaf.parse_leaf(v2), CODE) and leaf.receipt_matches(leaf.parse_leaf(v1), CODE)
    with pytest.raises(ValueError):
        leaf.receipt_matcher("12345")
    # Both versions are counted alike.
    counts = count_bundle(0, [v1, v2, b"other"])
    assert counts["total", "three-withdrawals"] == 2 and counts["other",] == 1


def test_new_declarations_get_v2_leaves_with_their_own_salt(campaign: Campaign, log: LogServices) -> None:
    subs = [actions.submit_declaration(campaign, alias=f"v2-{i}", orgs=["party"]) for i in range(3)]
    assert sequence_pending(log, batch_size=10) == 3
    salts = set()
    for sub in subs:
        d = Declaration.objects.select_related("entry").get(pk=sub.declaration.pk)
        parsed = leaf.parse_leaf(bytes(d.entry.leaf))
        assert parsed["v"] == 2 and parsed["tag_salt"] == d.tag_salt
        assert parsed["tag"] == leaf.receipt_tag(sub.receipt_code, d.tag_salt)
        assert leaf.receipt_matcher(sub.receipt_code)(bytes(d.entry.leaf))
        assert actions.find_by_receipt(sub.receipt_code) == d  # the server: by keyed hash
        salts.add(d.tag_salt)
    assert len(salts) == 3


def test_a_declaration_made_before_v2_is_logged_as_v1_and_found(review_campaign: Campaign, log: LogServices) -> None:
    # Made (pending) before the upgrade: an unsalted tag, no tag_salt.
    sub = actions.submit_declaration(review_campaign, alias="旧的", orgs=["league"])
    Declaration.objects.filter(pk=sub.declaration.pk).update(
        tag=leaf.receipt_tag_v1(sub.receipt_code), tag_salt=None
    )
    d = Declaration.objects.get(pk=sub.declaration.pk)
    actions.publish(d)
    assert sequence_pending(log, batch_size=10) == 1
    data = bytes(LogEntry.objects.get(declaration=d).leaf)
    parsed = leaf.parse_leaf(data)
    assert parsed["v"] == 1 and "tag_salt" not in parsed
    assert leaf.receipt_matcher(sub.receipt_code)(data)
    assert actions.find_by_receipt(sub.receipt_code) == d
