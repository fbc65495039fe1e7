"""Issue 17: the console speaks the reader's language. Codes (regions, statuses, channels,
organisations, outcomes) are shown by their translated labels; the call form's date is an
ISO value that a date input shows (today, by default), and its outcome radios start with
none chosen; who removed a declaration's content is said as it happened; every page
links to the same page in the other languages."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone, translation

from tallylog.registry.declarations.actions import redact
from tallylog.registry.declarations.models import Channel, Declaration, RedactedBy, RedactionReason
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Outcome

from .conftest import Team, login

LANGUAGES = ["zh-hans", "zh-hant", "en"]


def _in(language: str, label: object) -> str:
    """``label`` (a lazy label, or a message id) in ``language``."""
    with translation.override(language):
        return translation.gettext(label) if isinstance(label, str) else str(label)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_call_form_dates_today_in_iso_and_chooses_no_outcome(team: Team, language: str) -> None:
    html = login(team.volunteer).get("/console/calls/new/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    date = re.search(r'<input type="date" name="called_on"[^>]*>', html)
    assert date, html
    assert f'value="{timezone.localdate().isoformat()}"' in date.group(0)
    radios = re.findall(r'<input type="radio" name="outcome"[^>]*>', html)
    assert len(radios) == len(Outcome.choices)  # no blank choice among them
    assert not any("checked" in radio for radio in radios)
    assert "---------" not in html
    assert f"<option value=\"\" selected>{_in(language, '(choose the language)')}</option>" in html


def test_a_call_without_outcome_is_refused_with_a_clear_message(team: Team) -> None:
    response = login(team.volunteer).post(
        "/console/calls/new/", {"language": "mandarin", "duration": "1-5"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 422
    assert "请选择这通电话的结果。" in response.content.decode()


def test_chinese_pages_show_labels_not_codes(team: Team) -> None:
    actions.record_call(team.volunteer, outcome="thanked", language="mandarin", duration="1-5", region="henan")
    call = actions.record_call(team.volunteer, outcome="declared", language="cantonese", duration="5-15")
    kept = actions.record_declaration(team.volunteer, call, alias="老王", orgs=["party"], region="guangdong")
    removed = actions.record_declaration(team.volunteer, call, alias="老李", orgs=["league"])
    own = actions.record_declaration(team.volunteer, call, alias="老赵", orgs=["league"])
    redact(removed.declaration, by=RedactedBy.MODERATOR, reason=RedactionReason.ABUSE)
    redact(own.declaration, by=RedactedBy.DECLARANT)
    assert kept.declaration.status == Declaration.Status.PUBLISHED
    client = login(team.coordinator)

    calls = client.get("/console/calls/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">河南<" in calls and "henan" not in calls
    assert f">{_in('zh-hans', Outcome.THANKED.label)}<" in calls and ">thanked<" not in calls

    recorded = client.get("/console/recorded/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">已发布<" in recorded and ">published<" not in recorded
    assert f">{_in('zh-hans', Channel.PHONE.label)}<" in recorded
    assert "已由审核员删除（滥用）" in recorded  # a moderator's removal, with its reason
    assert "声明人已撤下" in recorded  # the declarant's own
    assert recorded.count("已由审核员删除") == 1

    english = client.get("/console/recorded/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "removed by a moderator (abuse)" in english and "withdrawn by the declarant" in english


def test_the_review_queue_names_organisations_and_regions(team: Team) -> None:
    actions.set_review_required(team.volunteer, True)
    call = actions.record_call(team.volunteer, outcome="declared", language="mandarin", duration="5-15")
    actions.record_declaration(team.volunteer, call, alias="老王", orgs=["party", "league"], region="guangdong")
    page = login(team.moderator).get("/console/review/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "中國共產黨" in page and "廣東" in page
    assert "guangdong" not in page and "party" not in page.split("<main>")[1].split('name="declaration"')[0]
    assert _in("zh-hant", Channel.PHONE.label) in page


@pytest.mark.parametrize("path", ["/console/login/", "/console/calls/"])
def test_every_console_page_links_to_the_other_languages(team: Team, path: str) -> None:
    html = login(team.volunteer).get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for code in ("zh-hans", "zh-hant", "en"):
        assert f'href="/lang/{code}/?next={path.replace("/", "%2F")}"' in html
    assert '<html lang="zh-Hans">' in html
