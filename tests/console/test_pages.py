"""The console's pages: small, keyboard-first, no script, no inline style, in every
language (the models match their migrations: tests/registry/test_migrations.py)."""

from __future__ import annotations

import re

import pytest

from tallylog.registry.volunteers import actions

from .conftest import Team, login, once_in

PAGES = [
    "/console/", "/console/calls/new/", "/console/calls/", "/console/recorded/", "/console/stats/",
    "/console/centres/", "/console/staff/", "/console/review/", "/console/login/",
]  # fmt: skip
LANGUAGES = ["zh-hans", "zh-hant", "en"]
HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}


def _intake_url(team: Team) -> str:
    call = actions.record_call(team.volunteer, outcome="declared", language="mandarin", duration="5-15")
    return f"/console/calls/{call.pk}/intake/"


def test_the_intake_page_is_keyboard_first_and_small(team: Team) -> None:
    client = login(team.volunteer)
    response = client.get(_intake_url(team))
    html = response.content.decode()
    assert len(response.content) < 30 * 1024
    # The alias has focus, and every field has an access key.
    alias = re.search(r"<input[^>]*name=\"alias\"[^>]*>", html).group(0)
    assert "autofocus" in alias and 'accesskey="a"' in alias
    for key in ("w", "s", "r", "d"):
        assert f'accesskey="{key}"' in html
    # Tab order is the order of speech: no tabindex juggling.
    assert "tabindex" not in html
    order = [html.index(f'name="{name}"') for name in ("alias", "orgs", "statement", "region")]
    assert order == sorted(order)
    # The stylesheet is the only other request, on this host.
    linked = re.findall(r'<link [^>]*href="([^"]+)"', html)
    assert " src=" not in html and len(linked) == 1 and re.fullmatch(r"/console/console\.css\?v=[0-9a-f]{12}", linked[0])


def test_the_receipt_is_shown_large_once_with_a_fresh_form(team: Team) -> None:
    client = login(team.volunteer)
    url = _intake_url(team)
    once = once_in(client.get(url).content.decode())
    response = client.post(url, {"alias": "老王", "orgs": ["party"], "once": once})
    html = response.content.decode()
    assert len(response.content) < 30 * 1024
    assert html.count('class="receipt-code"') == 1
    assert 'value="老王"' not in html  # the form is empty for the next member of the family
    assert re.search(r"<input[^>]*name=\"alias\"[^>]*autofocus", html)
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    css = client.get("/console/console.css").content.decode()
    rule = re.search(r"\.receipt-code\{([^}]*)\}", css).group(1)
    assert "white-space:nowrap" in rule and "2.3rem" in rule  # large, and never broken mid-code


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_have_no_script_and_no_inline_style(team: Team, language: str) -> None:
    actions.record_call(team.volunteer, outcome="thanked", language="mandarin", duration="1-5")
    client = login(team.operator)
    coordinator = login(team.coordinator)
    volunteer = login(team.volunteer)
    for path in PAGES:
        who = volunteer if path == "/console/calls/new/" else coordinator if path == "/console/staff/" else client
        response = who.get(path, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert f'<html lang="{HTML_LANG[language]}">' in html, path
        assert "<script" not in html and "style=" not in html and "<style" not in html, path
        assert len(response.content) < 30 * 1024, path
    page = volunteer.get(_intake_url(team), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "<script" not in page and "style=" not in page


def test_a_form_sent_twice_records_its_declaration_once(team: Team) -> None:
    """Issue 15 item 3: the answer to the first sending is lost (or Enter was pressed
    twice); the second shows the same receipt code again and records nothing more."""
    from tallylog.registry.declarations.models import Declaration

    from .conftest import receipt_in

    client = login(team.volunteer)
    url = _intake_url(team)
    data = {"alias": "老李", "orgs": ["party"], "once": once_in(client.get(url).content.decode())}
    first = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert first.status_code == 200
    code = receipt_in(first.content.decode())
    again = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 200 and receipt_in(again.content.decode()) == code
    assert "already sent" in again.content.decode()
    assert Declaration.objects.count() == 1
    # The fresh form in each answer works once.
    assert client.post(url, {**data, "once": once_in(again.content.decode())}).status_code == 200
    assert Declaration.objects.count() == 2


def test_a_used_intake_token_gives_nothing_to_another_session_or_after_the_window(team: Team) -> None:
    import time

    from django.core.cache import cache

    from tallylog.registry.declarations.models import Declaration
    from tallylog.safety import formtokens

    client = login(team.volunteer)
    url = _intake_url(team)
    data = {"alias": "老李", "orgs": ["party"], "once": once_in(client.get(url).content.decode())}
    assert client.post(url, data).status_code == 200
    # Another session of the same volunteer never had this token: no code, nothing recorded.
    other = login(team.volunteer).post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert other.status_code == 409 and 'class="receipt-code"' not in other.content.decode()
    # Half an hour later the code is not shown again.
    cache.set(formtokens._key("console-intake", data["once"]), time.time() - formtokens.REPLAY_SECONDS - 1, 3600)
    late = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert late.status_code == 409 and 'class="receipt-code"' not in late.content.decode()
    assert Declaration.objects.count() == 1


def test_an_intake_form_first_sent_to_another_worker_is_recorded_once(team: Team) -> None:
    from tallylog.registry.declarations.actions import receipt_code_for_token
    from tallylog.registry.declarations.models import Declaration
    from tallylog.registry.volunteers.models import Call

    from .conftest import receipt_in

    client = login(team.volunteer)
    url = _intake_url(team)
    once = once_in(client.get(url).content.decode())
    call = Call.objects.get(pk=int(url.split("/")[-3]))
    code = receipt_code_for_token(once)
    actions.record_declaration(team.volunteer, call, alias="老李", orgs=["party"], receipt_code=code)  # the other worker
    again = client.post(url, {"alias": "老李", "orgs": ["party"], "once": once}, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 200 and receipt_in(again.content.decode()) == code
    assert Declaration.objects.count() == 1


def test_a_refused_form_can_be_corrected_and_sent(team: Team) -> None:
    from tallylog.registry.declarations.models import Declaration

    client = login(team.volunteer)
    url = _intake_url(team)
    once = once_in(client.get(url).content.decode())
    refused = client.post(url, {"alias": "13800138000", "orgs": ["party"], "once": once})
    assert refused.status_code == 422 and once_in(refused.content.decode()) == once
    assert client.post(url, {"alias": "老李", "orgs": ["party"], "once": once}).status_code == 200
    missing = client.post(url, {"alias": "老赵", "orgs": ["party"]})
    assert missing.status_code == 422
    assert client.post(url, {"alias": "老赵", "orgs": ["party"], "once": once_in(missing.content.decode())}).status_code == 200
    assert Declaration.objects.count() == 2
