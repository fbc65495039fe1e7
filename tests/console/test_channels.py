"""Issue 17: every channel a service centre receives declarations by, and whole families.

Each staff channel (phone, email, fax, letter, in person) is chosen in the console's
intake, recorded, sequenced with that channel in its leaf, counted apart on
/transparency/ in the three languages and by the auditor's recount. A family is recorded
in one sending, each member with their own declaration and receipt code, shown under
their alias; one bad member saves nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.utils import translation

from tallylog import leaf
from tallylog.cli import main as tallylog_main
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import FAMILY_MAX, find_by_receipt, receipt_code_for_token
from tallylog.registry.declarations.models import STAFF_CHANNELS, Channel, Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.entries.sequencer import sequence_pending
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import AssistedDeclaration, Call

from .conftest import Team, login, once_in, receipt_in

LANGUAGES = ["zh-hans", "zh-hant", "en"]
RECEIPTS = re.compile(
    r'<li><p class="receipt-alias">[^<]*?(?:Alias: |化名：)([^<]*)</p>\s*'
    r'<p class="receipt-code"[^>]*>(\d{5}(?:-\d{5}){4})</p></li>'
)


def _call(team: Team) -> tuple[Call, str]:
    call = actions.record_call(team.volunteer, outcome="declared", language="mandarin", duration="5-15")
    return call, f"/console/calls/{call.pk}/intake/"


def _checked_channel(html: str) -> str:
    checked = re.findall(r'<input type="radio" name="channel" value="([^"]+)"[^>]*\bchecked\b', html)
    assert len(checked) == 1, checked
    return checked[0]


def _recount(log_home: object, capsys: pytest.CaptureFixture[str]) -> dict:
    """The auditor's ``tallylog recount --json`` (in this process: one job)."""
    capsys.readouterr()
    log_dir = log_home.log_dir  # type: ignore[attr-defined]
    key = log_home.verifier_key  # type: ignore[attr-defined]
    assert tallylog_main(["recount", str(log_dir), "--key", key, "--json", "--jobs", "1"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("channel", [c.value for c in STAFF_CHANNELS])
def test_each_staff_channel_from_the_console_to_the_log_the_transparency_page_and_the_recount(
    campaign: Campaign, team: Team, log_home: object, channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = login(team.volunteer)
    call, url = _call(team)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert _checked_channel(page) == "phone"  # phone unless the volunteer chooses another
    assert [m for m in re.findall(r'name="channel" value="([^"]+)"', page)] == [c.value for c in STAFF_CHANNELS]
    response = client.post(
        url, {"channel": channel, "alias": "老周", "orgs": ["party"], "once": once_in(page)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    html = response.content.decode()
    code = receipt_in(html)
    assert _checked_channel(html) == channel  # the next declaration: the same channel unless changed
    spoken = channel in ("phone", "in-person")
    assert ("Read this receipt code out to the caller" in html) is spoken
    assert ("Give this receipt code to the declarant" in html) is not spoken
    declaration = find_by_receipt(code)
    assert declaration is not None and declaration.channel == channel
    assert AssistedDeclaration.objects.get().call == call

    # Sequenced: the leaf carries the channel.
    assert sequence_pending(log_home, batch_size=100) == 1  # type: ignore[arg-type]
    fields = leaf.parse_leaf(bytes(LogEntry.objects.sequenced().get().leaf))
    assert fields["channel"] == channel and leaf.receipt_matches(fields, code)

    # Counted apart on the transparency page, in each language, beside every other channel (0).
    for language in LANGUAGES:
        html = Client().get("/transparency/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        with translation.override(language):
            counts = {str(c.label): ("1" if c.value == channel else "0") for c in Channel}
        for label, n in counts.items():
            assert f'<tr><td>{label}</td><td class="n">{n}</td></tr>' in html, (language, label, n)

    # The auditor's recount, from the log alone.
    tally = _recount(log_home, capsys)
    assert tally["campaigns"][campaign.slug]["channels"] == {channel: 1}


def test_an_unknown_channel_is_refused_on_the_page_and_in_the_api(team: Team) -> None:
    client = login(team.volunteer)
    _, url = _call(team)
    page = client.get(url).content.decode()
    for channel in ("web", "api", "import", "pigeon"):
        refused = client.post(
            url, {"channel": channel, "alias": "老周", "orgs": ["party"], "once": once_in(page)}, HTTP_ACCEPT_LANGUAGE="en"
        )
        assert refused.status_code == 422
        assert "Select a valid choice" in refused.content.decode()
    call, _ = _call(team)
    api = f"/api/v1/console/calls/{call.pk}/declarations"
    for channel in ("web", "pigeon", ""):
        answer = client.post(api, {"alias": "老周", "orgs": ["party"], "channel": channel}, content_type="application/json")
        assert answer.status_code == 422, answer.content
        error = answer.json()["error"]
        assert error["code"] == "unknown_channel" and "channel" in error["fields"]
        assert "phone, email, fax, letter, in-person" in error["message"]
    assert Declaration.objects.count() == 0
    for channel in ("letter", "in-person"):
        answer = client.post(api, {"alias": "老周", "orgs": ["party"], "channel": channel}, content_type="application/json")
        assert answer.status_code == 201, answer.content
        assert Declaration.objects.get(pk=answer.json()["declaration"]).channel == channel
    default = client.post(api, {"alias": "老吴", "orgs": ["party"]}, content_type="application/json")
    assert Declaration.objects.get(pk=default.json()["declaration"]).channel == "phone"


def _family(once: str, aliases: list[str], **extra: object) -> dict[str, object]:
    data: dict[str, object] = {"once": once, "members": str(len(aliases)), **extra}
    for position, alias in enumerate(aliases):
        prefix = "" if position == 0 else f"m{position}-"
        data[f"{prefix}alias"] = alias
        data[f"{prefix}orgs"] = ["party", "league"] if position == 0 else ["pioneers"]
    return data


def test_a_family_is_recorded_in_one_sending_each_code_under_its_alias(team: Team) -> None:
    client = login(team.volunteer)
    call, url = _call(team)
    once = once_in(client.get(url).content.decode())
    aliases = ["张家老大", "张家媳妇", "张家小妹"]
    data = _family(once, aliases, channel="letter")
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.content.decode()[:3000]
    html = response.content.decode()
    shown = RECEIPTS.findall(html)
    assert [alias for alias, _ in shown] == aliases
    assert [code for _, code in shown] == [receipt_code_for_token(once, i) for i in range(3)]
    assert "Give each member their own receipt code, with their alias" in html
    for alias, code in shown:
        d = find_by_receipt(code)
        assert d is not None and d.alias == alias and d.channel == "letter"
    assert Declaration.objects.count() == 3
    call.refresh_from_db()
    assert call.declarations == 3 and AssistedDeclaration.objects.filter(call=call).count() == 3
    # The answer's form is a fresh one for one person.
    assert 'name="members" value="1"' in html and 'name="m1-alias"' not in html

    # Sent again (a lost answer): the same codes under the same aliases, nobody recorded twice.
    again = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 200 and RECEIPTS.findall(again.content.decode()) == shown
    assert "each declaration was recorded once" in again.content.decode()
    assert Declaration.objects.count() == 3


@pytest.mark.parametrize("language", LANGUAGES)
def test_add_a_member_keeps_what_was_typed_and_saves_nothing(team: Team, language: str) -> None:
    client = login(team.volunteer)
    _, url = _call(team)
    once = once_in(client.get(url).content.decode())
    data = {**_family(once, ["老李"]), "statement": "我退出", "channel": "fax", "family": "add"}
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    html = response.content.decode()
    assert Declaration.objects.count() == 0
    assert 'name="members" value="2"' in html
    assert re.search(r'<input[^>]*name="alias"[^>]*value="老李"', html)
    assert "我退出</textarea>" in html and _checked_channel(html) == "fax"
    # The new member's alias has the focus (the only autofocus); access keys stay on the first.
    assert re.search(r'<input[^>]*name="m1-alias"[^>]*autofocus', html) and html.count("autofocus") == 1
    assert 'accesskey="a"' in re.search(r'<input[^>]*name="alias"[^>]*>', html).group(0)
    # The record button comes first: Enter in a field records, it never adds or removes a member.
    buttons = re.findall(r'<button type="submit"[^>]*>', html[html.index('name="members"') :])
    assert 'name="family"' not in buttons[0] and 'value="add"' in buttons[1] and 'value="remove"' in buttons[2]
    with translation.override(language):
        from django.utils.translation import gettext

        assert gettext("Add a family member") in html and gettext("Remove the last member") in html
    # Remove brings back one row, with the first member's typing.
    removed = client.post(url, {**data, "members": "2", "m1-alias": "", "family": "remove"})
    assert 'name="members" value="1"' in removed.content.decode() and 'name="m1-alias"' not in removed.content.decode()


def test_one_bad_member_saves_nothing_and_shows_the_error_on_that_member(team: Team) -> None:
    client = login(team.volunteer)
    call, url = _call(team)
    once = once_in(client.get(url).content.decode())
    data = _family(once, ["老王", "13800138000", "王家小弟"])
    refused = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422
    html = refused.content.decode()
    member2 = html[html.index("Member 2") : html.index("Member 3")]
    assert "looks like a phone number" in member2 and "looks like a phone number" not in html[: html.index("Member 2")]
    assert Declaration.objects.count() == 0 and Call.objects.get(pk=call.pk).declarations == 0
    assert re.search(r'name="m2-alias"[^>]*value="王家小弟"', html)
    # A member the registry refuses (no organisation): the same, the error on that member.
    data = {**_family(once, ["老王", "王家媳妇"]), "m1-orgs": []}
    refused = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422 and Declaration.objects.count() == 0
    # Corrected, the same form records the whole family.
    fixed = client.post(url, _family(once, ["老王", "王家媳妇", "王家小弟"]), HTTP_ACCEPT_LANGUAGE="en")
    assert fixed.status_code == 200 and len(RECEIPTS.findall(fixed.content.decode())) == 3
    # An empty extra row is left out, as the formsets of Django do.
    once = once_in(fixed.content.decode())
    blank = client.post(url, {**_family(once, ["老孙"]), "members": "2"}, HTTP_ACCEPT_LANGUAGE="en")
    assert blank.status_code == 200 and len(RECEIPTS.findall(blank.content.decode())) == 1
    assert Declaration.objects.count() == 4


def test_a_family_has_at_most_ten_members(team: Team) -> None:
    client = login(team.volunteer)
    _, url = _call(team)
    once = once_in(client.get(url).content.decode())
    ten = _family(once, [f"家人{'一二三四五六七八九十'[i]}" for i in range(FAMILY_MAX)])
    at_limit = client.post(url, {**ten, "family": "add"}, HTTP_ACCEPT_LANGUAGE="en")
    message = f"At most {FAMILY_MAX} members of a family declare in one form."
    assert at_limit.status_code == 422 and message in at_limit.content.decode()
    assert 'value="add"' not in at_limit.content.decode()  # no button to add an eleventh
    eleven = {**ten, "members": str(FAMILY_MAX + 1), f"m{FAMILY_MAX}-alias": "家人十一", f"m{FAMILY_MAX}-orgs": ["party"]}
    refused = client.post(url, eleven, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422 and message in refused.content.decode()
    assert Declaration.objects.count() == 0
    call, _ = _call(team)
    with translation.override("en"), pytest.raises(actions.ConsoleError, match="At most 10 members"):
        actions.record_family(team.volunteer, call, [{"alias": f"人{i}", "orgs": ["party"]} for i in range(11)])
    assert Declaration.objects.count() == 0
    assert client.post(url, ten, HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    assert Declaration.objects.count() == FAMILY_MAX


def test_the_api_records_a_family_or_nothing(team: Team) -> None:
    client = login(team.volunteer)
    call, _ = _call(team)
    api = f"/api/v1/console/calls/{call.pk}/families"
    members = [{"alias": "赵家老大", "orgs": ["party"]}, {"alias": "赵家老二", "orgs": ["league"], "statement": "退出"}]
    bad = [members[0], {"alias": "赵家老二", "orgs": ["army"]}]
    refused = client.post(api, {"members": bad, "channel": "email"}, content_type="application/json")
    assert refused.status_code == 422 and "members[1].orgs" in refused.json()["error"]["fields"]
    assert Declaration.objects.count() == 0
    answer = client.post(api, {"members": members, "channel": "email"}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert [r["alias"] for r in body["receipts"]] == ["赵家老大", "赵家老二"] and body["call_declarations"] == 2
    for r in body["receipts"]:
        d = find_by_receipt(r["receipt"])
        assert d is not None and d.pk == r["declaration"] and d.channel == "email"


def test_a_held_volunteer_s_family_waits_for_a_moderator(team: Team) -> None:
    actions.set_review_required(team.volunteer, True, by=team.coordinator)
    client = login(team.volunteer)
    _, url = _call(team)
    once = once_in(client.get(url).content.decode())
    html = client.post(url, _family(once, ["韩一", "韩二"]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "These declarations are held for a moderator's review" in html
    assert list(Declaration.objects.values_list("status", flat=True)) == ["pending", "pending"]


@pytest.mark.parametrize("count", [0, FAMILY_MAX + 1, 10_000])
def test_the_api_refuses_an_empty_or_oversized_family_and_records_nothing(team: Team, count: int) -> None:
    client = login(team.volunteer)
    call, _ = _call(team)
    members = [{"alias": f"家人{i}", "orgs": ["party"]} for i in range(count)]
    refused = client.post(f"/api/v1/console/calls/{call.pk}/families", {"members": members}, content_type="application/json")
    assert refused.status_code == 422, refused.content
    assert "members" in refused.json()["error"]["fields"]
    assert Declaration.objects.count() == 0


@pytest.mark.parametrize("who", ["outsider", "colleague"])
def test_a_family_for_someone_elses_call_is_refused(team: Team, who: str) -> None:
    """A volunteer of another centre, or a colleague, posting a family to a call not theirs."""
    call, _ = _call(team)
    refused = login(getattr(team, who)).post(
        f"/api/v1/console/calls/{call.pk}/families", {"members": [{"alias": "某人", "orgs": ["party"]}]},
        content_type="application/json",
    )
    assert refused.status_code in (403, 404), refused.content
    assert "error" in refused.json()
    assert Declaration.objects.count() == 0
