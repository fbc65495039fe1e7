"""``encode_leaf`` without its JSON round trip (issue 6) writes exactly the bytes, and
raises exactly the errors, of the self-checking writer it replaced; ``canonical_json``
with one shared encoder is ``json.dumps`` with the same options.

The writer before issue 6 is kept, verbatim, as the reference in tests/support/reference.py (its
self-check is the strict reader ``parse_leaf`` as it was then).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tallylog.leaf import MAX_LEAF_BYTES, LeafError, canonical_json, encode_leaf, parse_leaf
from tests.support.reference import reference_canonical_json, reference_encode_leaf


def outcome(encode: Any, fields: dict[str, Any]) -> Any:
    """The bytes written, or the exception's type and message."""
    fields = {k: (list(v) if isinstance(v, list) else v) for k, v in fields.items()}
    try:
        return encode(**fields)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return (type(exc), str(exc))


slug = st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
day = st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)


@st.composite
def valid_fields(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["declaration", "signature"]))
    orgs = draw(st.lists(slug, min_size=1, max_size=6, unique=True).flatmap(st.permutations))
    if kind == "signature":
        orgs = draw(st.none() | st.just(orgs))
    return {
        "kind": kind,
        "campaign": draw(slug),
        "day": draw(day),
        "channel": draw(slug),
        "commit": draw(hex64),
        "tag": draw(hex64),
        "orgs": orgs,
    }


@settings(max_examples=300)
@given(valid_fields())
def test_valid_fields_encode_as_before_and_parse_back(fields: dict[str, Any]) -> None:
    data = encode_leaf(**fields)
    assert data == reference_encode_leaf(**fields)
    expected = {k: v for k, v in fields.items() if v is not None} | {"v": 1}
    if fields["orgs"] is not None:
        expected["orgs"] = sorted(fields["orgs"])
    assert parse_leaf(data) == expected


# Near misses of every check: not slugs, other digits, upper-case hex, wrong lengths,
# non-strings, line breaks (the fast path's own separator), quotes and escapes.


def mutate(value: str, at: int, how: str) -> str:
    """``value`` with one character deleted, doubled, upper-cased or one inserted."""
    i = at % (len(value) + 1)
    if how == "delete":
        return value[:i] + value[i + 1 :]
    if how == "double":
        return value[:i] + value[i : i + 1] * 2 + value[i + 1 :]
    if how == "upper":
        return value[:i] + value[i : i + 1].upper() + value[i + 1 :]
    return value[:i] + how + value[i:]


mutated = st.builds(
    mutate,
    st.one_of(slug, hex64, day, st.sampled_from(["declaration", "signature"])),
    st.integers(0, 70),
    st.sampled_from(["delete", "double", "upper", "\n", " ", "-", "0", "a", "\u0663", '"']),
)
near_text = st.one_of(
    slug,
    hex64,
    day,
    mutated,
    st.sampled_from(
        [
            "",
            "-web",
            "Web",
            "web\n",
            "\nweb",
            "a\nb",
            'a","b',
            "a\\b",
            "a" * 64,
            "a" * 65,
            "0" * 63,
            "0" * 65,
            "A" * 64,
            "２０２６-１１-２５",
            "\u0662\u0660\u0662\u0666-11-25",  # Arabic-Indic digits: \d, so the reader takes them
            "2026-1-25",
            "2026-11-25\n",
            "declaration",
            "signature",
            "petition",
            "party",
            "王",
        ]
    ),
    st.text(max_size=8),
)
near_value = st.one_of(near_text, st.none(), st.integers(), st.booleans(), st.floats(), st.binary(max_size=3))
near_orgs = st.one_of(
    st.none(),
    st.lists(slug, max_size=4),
    st.lists(near_text, max_size=4),
    st.lists(near_value, max_size=3),
    st.lists(slug, min_size=2, max_size=3).map(lambda xs: xs + xs[:1]),  # a duplicate
    st.lists(slug, max_size=3).map(tuple),
    st.sets(slug, max_size=3),
    st.just("party"),
    st.integers(),
)


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@settings(max_examples=1000)
@given(
    st.fixed_dictionaries(
        {
            "kind": st.one_of(st.sampled_from(["declaration", "signature"]), near_value),
            "campaign": near_value,
            "day": near_value,
            "channel": near_value,
            "commit": near_value,
            "tag": near_value,
            "orgs": near_orgs,
        }
    )
)
@example(
    {
        "kind": "declaration",
        "campaign": "a",
        "day": "2026-11-25",
        "channel": "web",
        "commit": "0" * 64,
        "tag": "0" * 64,
        "orgs": [f"org-{i:059d}" for i in range(1100)],  # over 65,535 bytes
    }
)
def test_any_fields_encode_or_fail_as_before(fields: dict[str, Any]) -> None:
    new = outcome(encode_leaf, fields)
    assert new == outcome(reference_encode_leaf, fields)
    if isinstance(new, bytes):
        assert len(new) <= MAX_LEAF_BYTES
        assert canonical_json(parse_leaf(new)) == new


HOW = st.sampled_from(["delete", "double", "upper", "\n", " ", "-", "0", "a", "\u0663", '"'])
NAMES = st.sampled_from(["kind", "campaign", "day", "channel", "commit", "tag", "orgs"])


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@settings(max_examples=600)
@given(valid_fields(), NAMES, st.integers(0, 70), HOW)
def test_one_field_off_by_a_character_fails_as_before(fields: dict[str, Any], name: str, at: int, how: str) -> None:
    if name == "orgs":
        if fields["orgs"] is None:
            return
        orgs = list(fields["orgs"])
        orgs[at % len(orgs)] = mutate(orgs[at % len(orgs)], at // 7, how)
        fields["orgs"] = orgs
    else:
        fields[name] = mutate(fields[name], at, how)
    assert outcome(encode_leaf, fields) == outcome(reference_encode_leaf, fields)


@settings(max_examples=300)
@given(valid_fields(), NAMES, near_value)
def test_one_bad_field_is_a_leaf_error_as_before(fields: dict[str, Any], name: str, value: Any) -> None:
    fields[name] = value
    assert outcome(encode_leaf, fields) == outcome(reference_encode_leaf, fields)


def test_a_bad_field_is_refused_with_the_readers_message() -> None:
    good = dict(kind="declaration", campaign="c", day="2026-11-25", channel="web", commit="a" * 64, tag="b" * 64)
    for bad, message in [
        ({"orgs": ["party", "party"]}, "leaf orgs is not a sorted list of distinct codes"),
        ({"orgs": None}, "declaration leaf lacks orgs"),
        ({"orgs": ["party"], "tag": "B" * 64}, "leaf tag is not 64 lowercase hex digits"),
        ({"orgs": ["party"], "campaign": "a\nb"}, "leaf campaign is not a slug"),
        ({"orgs": ["a\nb"]}, "leaf orgs is not a sorted list of distinct codes"),
        ({"orgs": ["a", "b\nc"]}, "leaf orgs is not a sorted list of distinct codes"),
    ]:
        try:
            encode_leaf(**(good | bad))
        except LeafError as exc:
            assert str(exc) == message
        else:
            raise AssertionError(f"encode_leaf accepted {bad}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_canonical_json_is_json_dumps_with_the_same_options(value: Any) -> None:
    try:
        expected: Any = reference_canonical_json(value)
    except ValueError as exc:  # NaN and infinities
        expected = str(exc)
    try:
        got: Any = canonical_json(value)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


def test_new_receipt_code_is_25_digits_that_normalise_back() -> None:
    """One ``new_receipt_code`` (tallylog.leaf), used by declarations and petitions alike:
    grouped 5 × 5, and ``normalise_receipt_code`` / ``format_receipt_code`` invert it."""
    from tallylog import leaf
    from tallylog.registry.declarations import actions

    assert actions.new_receipt_code is leaf.new_receipt_code
    codes = {leaf.new_receipt_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        digits = leaf.normalise_receipt_code(code)
        assert len(digits) == 25 and digits.isdigit() and leaf.format_receipt_code(digits) == code
    # every digit position takes every value (uniform, zero-padded: leading zeros occur)
    for position in range(25):
        assert {leaf.normalise_receipt_code(c)[position] for c in codes} == set("0123456789")
