"""Hypothesis fuzzing of the leaf parser (``tallylog.leaf.parse_leaf``).

Any byte string either parses to a leaf that re-encodes to exactly the same bytes, or is
refused with ``LeafError`` and nothing else; every valid leaf survives a round trip; any
single-byte change to a valid leaf is refused or yields a different leaf.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallylog.leaf import MAX_LEAF_BYTES, LeafError, canonical_json, encode_leaf, parse_leaf

slug = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
day = st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10)


@st.composite
def leaves(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["declaration", "signature"]))
    orgs = draw(st.lists(slug, min_size=1, max_size=4, unique=True)) if kind == "declaration" else draw(
        st.none() | st.lists(slug, min_size=1, max_size=3, unique=True)
    )
    return encode_leaf(
        kind=kind,
        campaign=draw(slug),
        day=draw(day),
        channel=draw(slug),
        commit=draw(hex64),
        tag=draw(hex64),
        orgs=orgs,
        tag_salt=draw(st.none() | hex32),  # version 1 or 2
    )


def parses_strictly(data: bytes) -> None:
    try:
        value = parse_leaf(data)
    except LeafError:
        return
    assert canonical_json(value) == data


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_random_bytes_refused_or_canonical(data):
    parses_strictly(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from(["v", "kind", "campaign", "day", "channel", "commit", "tag", "tag_salt", "orgs", "x"]), json_values))
def test_random_json_objects_refused_or_canonical(obj):
    parses_strictly(json.dumps(obj).encode())
    parses_strictly(canonical_json(obj))


@given(leaves())
def test_valid_leaves_round_trip(data):
    value = parse_leaf(data)
    assert canonical_json(value) == data
    fields = {k: value[k] for k in ("kind", "campaign", "day", "channel", "commit", "tag")}
    assert encode_leaf(**fields, orgs=value.get("orgs"), tag_salt=value.get("tag_salt")) == data
    assert value["v"] == (2 if "tag_salt" in value else 1)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(leaves(), st.data())
def test_mutated_leaves_refused_or_different(data, draw):
    original = parse_leaf(data)
    position = draw.draw(st.integers(0, len(data) - 1))
    byte = draw.draw(st.integers(0, 255).filter(lambda b: b != data[position]))
    mutated = data[:position] + bytes([byte]) + data[position + 1 :]
    try:
        value = parse_leaf(mutated)
    except LeafError:
        return
    assert value != original and canonical_json(value) == mutated


@given(leaves(), st.sampled_from([b" ", b"\n", b"\xef\xbb\xbf"]), st.booleans())
def test_padding_refused(data, pad, front):
    try:
        parse_leaf(pad + data if front else data + pad)
    except LeafError:
        return
    raise AssertionError("padded leaf accepted")


def test_oversized_refused():
    try:
        parse_leaf(b" " * (MAX_LEAF_BYTES + 1))
    except LeafError as exc:
        assert "65535" in str(exc)
    else:
        raise AssertionError("oversized leaf accepted")
