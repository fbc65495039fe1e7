"""The fast ``clean_text`` and ``validate_declaration`` (issue 6) give exactly what the
per-character implementations they replaced gave, for every input.

The implementations before issue 6 are kept, verbatim, as the reference in tests/support/reference.py.
"""

from __future__ import annotations

import datetime
import sys
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import Channel
from tallylog.registry.declarations.regions import REGIONS
from tallylog.registry.declarations.validation import (
    DeclarationInvalid,
    _today,
    clean_text,
    validate_declaration,
)
from tests.support.reference import reference_clean_text, reference_validate_declaration

# --- clean_text. ---------------------------------------------------------------------------

# Whitespace of every kind, controls, bidi overrides and isolates, zero-width characters,
# the BOM, soft hyphen, private use (BMP and plane 15/16), lone surrogates, combining marks
# (which NFC composes, and which removing a zero-width character can leave uncomposed),
# a CJK compatibility ideograph and Hangul jamo (changed by NFC), CJK text.
AWKWARD = (
    "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0 \u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    "\x00\x07\x1b\x7f\x9f\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2066\u2069\ufeff\u00ad"
    "\u180e\u061c\U000e0001\U000e0041\ue000\uf8ff\U000f0000\U0010fffd\ud800\udbff\udc00\udfff"
    "\u0301\u0300\u0327e\u00e9A\u212b\u00c5\u030a\uf900\u1100\u1161\u11a8\uac00"
    "王李退党。，x1-"
)
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(AWKWARD),
        st.characters(exclude_categories=()),  # any code point, surrogates included
        st.characters(categories=["Cs", "Co", "Cf", "Cc", "Zs", "Zl", "Zp", "Mn"]),
    ),
    max_size=40,
)


@settings(max_examples=3000)
@given(texts, st.booleans())
@example("e\u200b\u0301", False)  # removing the zero-width space leaves e + combining acute
@example(" a\r\n\r\n\r\n\tb \u2028 c \n\n\n", True)
@example("\u3000王\u00a0\u00a0李\x85", False)
@example("a\tb", True)  # multi-line text drops tabs with the other controls
@example("\ud800\ue000x", True)
def test_clean_text_is_the_per_character_implementation(text: str, multiline: bool) -> None:
    assert clean_text(text, multiline=multiline) == reference_clean_text(text, multiline=multiline)


@given(st.lists(st.sampled_from(["", " ", "\t", "\n", "\r", "\r\n", "\x0b", "\u2028", "x", "王", "\u200b"]), max_size=20))
def test_clean_text_line_handling_is_the_per_character_implementation(parts: list[str]) -> None:
    text = "".join(parts)
    for multiline in (False, True):
        assert clean_text(text, multiline=multiline) == reference_clean_text(text, multiline=multiline)


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@pytest.mark.parametrize("multiline", [False, True])
def test_clean_text_on_every_code_point(multiline: bool) -> None:
    """Every code point of the Unicode database Python has, alone and between others."""
    step = 4096
    for start in range(0, sys.maxunicode + 1, step):
        chunk = "".join(map(chr, range(start, min(start + step, sys.maxunicode + 1))))
        for text in (chunk, " ".join(chunk), "a\n".join(chunk)):
            assert clean_text(text, multiline=multiline) == reference_clean_text(
                text, multiline=multiline
            ), hex(start)


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=True),
        st.booleans(),
        st.sampled_from(list(Channel)),
        st.lists(st.text(max_size=3), max_size=2),
        st.dates(),
    ),
    st.booleans(),
)
def test_clean_text_of_other_values_is_the_per_character_implementation(value: object, multiline: bool) -> None:
    cleaned = clean_text(value, multiline=multiline)
    assert type(cleaned) is str
    assert cleaned == reference_clean_text(value, multiline=multiline)


def test_clean_text_keeps_its_documented_rules() -> None:
    assert clean_text(None) == ""
    assert clean_text("  王\u202e小\u200b明 \t ") == "王小明"
    assert clean_text("a\r\nb") == "a b"
    assert clean_text(" one \r\n\r\n\r\n\r\n two\tthree \r", multiline=True) == "one\n\ntwothree"
    assert clean_text("\ufb01") == "\ufb01"  # NFC, not NFKC: ligatures stay
    assert clean_text("A\u030a") == "\u00c5"


# --- validate_declaration. -----------------------------------------------------------------

KNOWN = frozenset({"party", "league", "pioneers"})
today = datetime.datetime.now(datetime.UTC).date()
future = timezone.now() + datetime.timedelta(days=3)
past = timezone.now() - datetime.timedelta(days=3)

campaigns = st.sampled_from(
    [
        Campaign(slug="open", kind=Campaign.Kind.DECLARATION, is_active=True),
        Campaign(slug="closing", kind=Campaign.Kind.DECLARATION, is_active=True, closes_at=future),
        Campaign(slug="closed", kind=Campaign.Kind.DECLARATION, is_active=True, closes_at=past),
        Campaign(slug="inactive", kind=Campaign.Kind.DECLARATION, is_active=False),
        Campaign(slug="petition", kind=Campaign.Kind.PETITION, is_active=True),
    ]
)
code = st.one_of(
    st.sampled_from(sorted(KNOWN)),
    st.sampled_from([" party", "party\u200b", "PARTY", "league\t", "union", "", "\u202eparty"]),
    texts,
)
orgs = st.one_of(
    st.lists(st.sampled_from(sorted(KNOWN)), max_size=4),
    st.lists(code, max_size=4),
    st.lists(code, max_size=3).map(tuple),
    st.sets(st.sampled_from(sorted(KNOWN))),
    st.text(max_size=8),
    st.none(),
    st.integers(),
)
regions = st.one_of(
    st.sampled_from([r.code for r in REGIONS]),
    st.sampled_from(["", " beijing ", "Beijing", "atlantis", "hong kong", "hong-kong\u200b", "\t"]),
    texts,
    st.none(),
    st.integers(),
)
channels = st.one_of(
    st.sampled_from(Channel.values),
    st.sampled_from(list(Channel)),
    st.sampled_from(["", " web", "WEB", "import\n", "pigeon", "web\u200b"]),
    texts,
    st.none(),
)
days = st.one_of(
    st.none(),
    st.just(""),
    st.dates().map(lambda d: d.isoformat()),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=today + datetime.timedelta(days=2)).map(
        lambda d: d.isoformat()
    ),
    st.sampled_from(
        [
            today.isoformat(),
            (today + datetime.timedelta(days=1)).isoformat(),
            "1921-07-01",
            "1921-06-30",
            "2020-13-01",
            "2020-02-30",
            "20200105",
            "2020-W01-1",
            " 2020-01-05 ",
            "２０２０-０１-０５",
            "2020-1-5",
            "2020-01-05\u200b",
            "0000-01-01",
        ]
    ),
    st.dates(),
    st.datetimes(),
    texts,
    st.integers(),
)
aliases = st.one_of(
    texts,
    st.text(alphabet="王李张伟芳 \t", min_size=0, max_size=45),
    st.none(),
    st.integers(),
)
statements = st.one_of(st.just(""), texts, st.text(alphabet="退党。 \n\r", max_size=1010), st.none(), st.integers())


def outcome(validate: Any, campaign: Campaign, fields: dict[str, Any]) -> Any:
    try:
        return validate(campaign, known_orgs=KNOWN, **fields)
    except DeclarationInvalid as exc:
        return ("invalid", exc.errors, str(exc))


@settings(max_examples=1500)
@given(
    campaigns,
    st.fixed_dictionaries(
        {"alias": aliases, "orgs": orgs},
        optional={"statement": statements, "region": regions, "channel": channels, "declared_on": days},
    ),
)
def test_validate_declaration_is_the_reference_implementation(campaign: Campaign, fields: dict[str, Any]) -> None:
    new = outcome(validate_declaration, campaign, fields)
    assert new == outcome(reference_validate_declaration, campaign, fields)
    if isinstance(new, dict):
        assert all(type(new[k]) is str for k in ("alias", "statement", "region", "channel"))
        assert all(type(o) is str for o in new["orgs"])


@pytest.mark.django_db
def test_validate_declaration_reads_the_campaigns_organisations_when_not_given(campaign: Campaign) -> None:
    fields = {"alias": "王", "orgs": ["party", "union"], "region": "beijing", "declared_on": "2005-03-01"}
    with pytest.raises(DeclarationInvalid) as new:
        validate_declaration(campaign, **fields)
    with pytest.raises(DeclarationInvalid) as old:
        reference_validate_declaration(campaign, **fields)
    assert new.value.errors == old.value.errors
    assert list(new.value.errors) == ["orgs"] and "union" in new.value.errors["orgs"][0]
    fields["orgs"] = ["party", " league"]
    assert validate_declaration(campaign, **fields) == reference_validate_declaration(campaign, **fields)


def test_validate_declaration_takes_known_orgs_in_any_container() -> None:
    campaign = Campaign(slug="open", kind=Campaign.Kind.DECLARATION, is_active=True)
    for known in (set(KNOWN), sorted(KNOWN), dict.fromkeys(KNOWN)):
        fields = {"alias": "王", "orgs": ["party", "league"]}
        assert validate_declaration(campaign, known_orgs=known, **fields)["orgs"] == ["league", "party"]  # type: ignore[arg-type]
        fields["orgs"] = ["party", "union"]
        with pytest.raises(DeclarationInvalid) as exc:
            validate_declaration(campaign, known_orgs=known, **fields)  # type: ignore[arg-type]
        assert list(exc.value.errors) == ["orgs"]


def test_today_is_timezone_now() -> None:
    assert _today() == timezone.now().date()
    assert _today() == timezone.now().date()  # the cached value too
