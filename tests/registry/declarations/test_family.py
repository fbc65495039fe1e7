"""``submit_family``: several members of a family in one submission, all or none; their
receipt codes from one form token (``receipt_code_for_token``'s member positions)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.conf import settings
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations import actions
from tallylog.registry.declarations.actions import (
    FAMILY_MAX,
    DeclarationInvalid,
    FamilyInvalid,
    find_by_receipt,
    receipt_code_for_token,
    submit_family,
)
from tallylog.registry.declarations.models import STAFF_CHANNELS, Channel, Declaration
from tallylog.registry.entries.models import LogEntry


def members(*aliases: str) -> list[dict[str, object]]:
    return [{"alias": alias, "orgs": ["party"], "statement": f"{alias}声明", "region": "beijing"} for alias in aliases]


def test_each_member_is_a_declaration_of_their_own(campaign: Campaign) -> None:
    family = [*members("刘大", "刘二"), {"alias": "刘三", "orgs": ["league", "pioneers"]}]
    submissions = submit_family(campaign, family, channel=Channel.LETTER)
    assert [s.declaration.alias for s in submissions] == ["刘大", "刘二", "刘三"]
    assert len({s.receipt_code for s in submissions}) == 3
    for s in submissions:
        d = find_by_receipt(s.receipt_code)
        assert d is not None and d.pk == s.declaration.pk and d.channel == "letter"
        assert d.status == Declaration.Status.PUBLISHED and d.entry.body["channel"] == "letter"
    assert Declaration.objects.get(alias="刘三").orgs == ["league", "pioneers"]
    assert Declaration.objects.get(alias="刘二").statement == "刘二声明"


def test_one_bad_member_saves_nothing_and_every_bad_member_is_named(campaign: Campaign) -> None:
    family = [*members("何一"), {"alias": "", "orgs": ["party"]}, *members("何三"), {"alias": "何四", "orgs": ["army"]}]
    with pytest.raises(FamilyInvalid) as caught:
        submit_family(campaign, family)
    assert sorted(caught.value.members) == [1, 3]
    assert set(caught.value.members[1]) == {"alias"} and set(caught.value.members[3]) == {"orgs"}
    assert "member 2: alias" in str(caught.value) and "member 4: orgs" in str(caught.value)
    assert isinstance(caught.value, DeclarationInvalid)  # callers of one declaration catch it too
    assert Declaration.objects.count() == LogEntry.objects.count() == 0


def test_a_failure_while_saving_saves_none_of_the_family(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure injection: the third member's row fails to save; the first two roll back."""
    real = actions.save_declaration
    saved: list[object] = []

    def failing_third(declaration: Declaration, entry: object, **kw: object) -> None:
        if len(saved) == 2:
            raise RuntimeError("database went away")
        real(declaration, entry, **kw)  # type: ignore[arg-type]
        saved.append(declaration)

    monkeypatch.setattr(actions, "save_declaration", failing_third)
    with pytest.raises(RuntimeError, match="database went away"):
        submit_family(campaign, members("钱一", "钱二", "钱三"))
    assert len(saved) == 2 and Declaration.objects.count() == LogEntry.objects.count() == 0


@translation.override("en")
def test_a_family_has_one_to_ten_members(campaign: Campaign) -> None:
    with pytest.raises(FamilyInvalid, match="Name at least one member") as none:
        submit_family(campaign, [])
    assert set(none.value.errors) == {"members"}
    with pytest.raises(FamilyInvalid, match=f"At most {FAMILY_MAX} members") as many:
        submit_family(campaign, members(*(f"孙{i}" for i in range(FAMILY_MAX + 1))))
    assert set(many.value.errors) == {"members"} and many.value.members == {}
    assert Declaration.objects.count() == 0
    assert len(submit_family(campaign, members(*(f"孙{i}" for i in range(FAMILY_MAX))))) == FAMILY_MAX


def test_bad_calls_are_programming_errors(campaign: Campaign) -> None:
    with pytest.raises(ValueError, match="2 receipt codes for 1 members"):
        submit_family(campaign, members("周"), receipt_codes=["1" * 25, "2" * 25])
    with pytest.raises(ValueError, match="unknown member field 'channel'"):
        submit_family(campaign, [{"alias": "周", "orgs": ["party"], "channel": "web"}])
    with pytest.raises(ValueError, match="negative"):
        receipt_code_for_token("t", -1)


def test_the_form_token_gives_each_member_a_code_again_and_again(campaign: Campaign) -> None:
    token = "family-token-123456789"
    codes = [receipt_code_for_token(token, i) for i in range(FAMILY_MAX)]
    assert len(set(codes)) == FAMILY_MAX
    assert codes[0] == receipt_code_for_token(token)  # one person's code is what it always was
    assert codes == [receipt_code_for_token(token, i) for i in range(FAMILY_MAX)]
    submissions = submit_family(campaign, members("吴一", "吴二"), receipt_codes=codes[:2])
    assert [s.receipt_code for s in submissions] == codes[:2]
    # The messages, as documented: "receipt member" ‖ NUL ‖ decimal(member) ‖ NUL ‖ token.
    key = settings.TALLYLOG_RECEIPT_KEY.encode()
    digest = hmac.new(key, b"receipt member\x003\x00" + token.encode(), hashlib.sha256).digest()
    expected = leaf.format_receipt_code(f"{int.from_bytes(digest, 'big') % 10**leaf.RECEIPT_DIGITS:025d}")
    assert receipt_code_for_token(token, 3) == expected


@given(st.text(max_size=30), st.integers(0, 20), st.text(max_size=30), st.integers(0, 20))
def test_no_two_token_and_member_pairs_share_a_message(t1: str, m1: int, t2: str, m2: int) -> None:
    """The HMAC messages are injective in (token, member), even for tokens holding NUL or
    digits: distinct pairs never share a code by construction (only by a hash collision)."""

    def message(token: str, member: int) -> bytes:
        prefix = b"receipt\x00" if member == 0 else b"receipt member\x00" + str(member).encode() + b"\x00"
        return prefix + token.encode("utf-8", "surrogatepass")

    if (t1, m1) != (t2, m2):
        assert message(t1, m1) != message(t2, m2)


def test_staff_channels_are_the_console_s_and_each_is_a_leaf_channel() -> None:
    assert [c.value for c in STAFF_CHANNELS] == ["phone", "email", "fax", "letter", "in-person"]
    for channel in STAFF_CHANNELS:
        assert leaf.parse_leaf(
            leaf.encode_leaf(
                kind="declaration", campaign="c", day="2026-12-03", channel=channel.value, commit="0" * 64,
                tag="1" * 64, orgs=["party"], tag_salt="2" * 32,
            )
        )["channel"] == channel.value
