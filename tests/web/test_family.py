"""Issue 17: a family declares in one form on the public site, with JavaScript off.

"Add a family member" sends the page back, one row more, with what was typed; each
member becomes their own declaration with their own receipt code, listed under their
alias; the same form sent again shows the same codes and declares nobody twice; one bad
member saves nothing; at most ``FAMILY_MAX`` members.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import translation

from tallylog.registry.declarations.actions import FAMILY_MAX, find_by_receipt, receipt_code_for_token, submit_family
from tallylog.registry.declarations.models import Declaration

from .conftest import LANGS
from .test_csrf import CSRF, TOKEN, browser
from .test_declare import CODE, form_token

RECEIPTS = re.compile(
    r'<li><p class="receipt-alias">(?:Alias: |化名：)([^<]*)</p>\s*<p class="receipt">(\d{5}(?:-\d{5}){4})</p>'
)


def family(token: str, aliases: list[str], **extra: object) -> dict[str, object]:
    """The declare form's fields for ``aliases``, the first member's unprefixed."""
    data: dict[str, object] = {"token": token, "members": str(len(aliases)), **extra}
    for position, alias in enumerate(aliases):
        prefix = "" if position == 0 else f"m{position}-"
        data[f"{prefix}alias"] = alias
        data[f"{prefix}orgs"] = [["party"], ["league", "party"], ["pioneers"]][position % 3]
        data[f"{prefix}statement"] = f"{alias}退出"
    return data


@pytest.mark.parametrize("lang", LANGS)
def test_add_a_family_member_sends_the_page_back_with_what_was_typed(campaign, lang: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    page = client.get("/declare/").content.decode()
    assert 'name="members" value="1"' in page and "<script" not in page
    with translation.override(lang):
        from django.utils.translation import gettext

        add, remove = gettext("Add a family member"), gettext("Remove the last member")
    # The Declare button comes first: Enter in a field declares, it never adds a member.
    buttons = re.findall(r"<button[^>]*>[^<]*</button>", page[page.index('name="members"') :])
    assert 'name="family"' not in buttons[0] and 'value="add"' in buttons[1] and f'>{add}</button>' in buttons[1]
    typed = {"token": form_token(client), "members": "1", "alias": "林<b>伟</b>", "orgs": ["party", "league"],
             "statement": "我退出。", "region": "beijing", "family": "add"}  # fmt: skip
    response = client.post("/declare/", typed)
    html = response.content.decode()
    assert response.status_code == 200 and Declaration.objects.count() == 0
    assert 'name="members" value="2"' in html and 'name="m1-alias"' in html
    assert re.search(r'<input[^>]*name="m1-alias"[^>]*autofocus', html) and html.count("autofocus") == 1
    assert 'value="林&lt;b&gt;伟&lt;/b&gt;"' in html and "我退出。</textarea>" in html
    assert re.search(r'name="orgs" value="league"[^>]*checked', html) and '<option value="beijing" selected>' in html
    assert not re.search(r'name="m1-orgs" value="\w+"[^>]*checked', html)  # the new row is empty
    assert "errorlist" not in html  # nothing was checked yet
    assert html.count("<fieldset class=\"member\">") == 2 and remove in html
    # Remove the last member: one row again, the first member's typing kept.
    removed = client.post("/declare/", {**typed, "members": "2", "m1-alias": "x", "family": "remove"}).content.decode()
    assert 'name="members" value="1"' in removed and 'name="m1-alias"' not in removed and 'value="林&lt;b&gt;伟&lt;/b&gt;"' in removed


def test_each_member_gets_their_own_declaration_and_code_under_their_alias(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    aliases = ["林家老爷", "林家奶奶", "林家孙女"]
    response = client.post("/declare/", family(token, aliases))
    assert response.status_code == 200, response.content.decode()[:3000]
    html = response.content.decode()
    shown = RECEIPTS.findall(html)
    assert [alias for alias, _ in shown] == aliases
    assert [code for _, code in shown] == [receipt_code_for_token(token, i) for i in range(3)]
    assert len(set(CODE.findall(html))) == 3 and "Your family's declarations are recorded" in html
    assert "They are published and will be added to the log" in html
    assert html.count('name="code" value=') == 3  # a certificate for each member
    for position, (alias, code) in enumerate(shown):
        d = find_by_receipt(code)
        assert d is not None and (d.alias, d.statement, d.channel) == (alias, f"{alias}退出", "web")
        assert d.orgs == sorted([["party"], ["league", "party"], ["pioneers"]][position])
    # Sent again (a lost answer, a double click): the same codes under the same aliases.
    again = client.post("/declare/", family(token, aliases))
    assert again.status_code == 200 and RECEIPTS.findall(again.content.decode()) == shown
    assert "each declaration was recorded once" in again.content.decode()
    assert Declaration.objects.count() == 3


def test_one_person_gets_one_code_under_their_alias_as_before(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    token = form_token(client)
    html = client.post("/declare/", {"token": token, "alias": "李", "orgs": ["party"]}).content.decode()
    assert RECEIPTS.findall(html) == [("李", receipt_code_for_token(token))]
    assert receipt_code_for_token(token) == receipt_code_for_token(token, 0)


def test_one_bad_member_saves_nothing_and_is_marked(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    data = {**family(token, ["周一", "周二", "周三"]), "m1-orgs": [], "m2-region": "atlantis"}
    refused = client.post("/declare/", data)
    html = refused.content.decode()
    assert refused.status_code == 400 and Declaration.objects.count() == 0
    first, second, third = html.split('<fieldset class="member">')[1:4]
    assert "errorlist" not in first
    assert "Choose at least one organisation." in second
    assert "errorlist" in third and 'value="周三"' in third
    # A member the registry refuses after the form's checks (a phone number): the same.
    data = {**family(token, ["周一", "周二"]), "m1-alias": "13800138000"}
    refused = client.post("/declare/", data)
    second = refused.content.decode().split('<fieldset class="member">')[2]
    assert refused.status_code == 400 and "phone" in second and Declaration.objects.count() == 0
    # Corrected, the same form (its token was not used up) declares the whole family.
    sent = client.post("/declare/", family(token, ["周一", "周二"]))
    assert sent.status_code == 200 and len(RECEIPTS.findall(sent.content.decode())) == 2


def test_a_row_left_empty_is_left_out(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    data = {**family(form_token(client), ["吴一"]), "members": "3", "m2-alias": "吴三", "m2-orgs": ["party"]}
    html = client.post("/declare/", data).content.decode()
    assert [alias for alias, _ in RECEIPTS.findall(html)] == ["吴一", "吴三"]
    assert Declaration.objects.count() == 2


def test_a_family_has_at_most_ten_members(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    message = f"At most {FAMILY_MAX} members of a family declare in one form."
    ten = family(token, [f"郑{i}" for i in range(FAMILY_MAX)])
    page = client.post("/declare/", {**ten, "family": "add"})
    assert page.status_code == 400 and message in page.content.decode()
    assert 'value="add"' not in page.content.decode() and page.content.decode().count('<fieldset class="member">') == 10
    eleven = family(token, [f"郑{i}" for i in range(FAMILY_MAX + 1)])
    refused = client.post("/declare/", eleven)
    assert refused.status_code == 400 and message in refused.content.decode()
    assert Declaration.objects.count() == 0
    assert client.post("/declare/", ten).status_code == 200
    assert Declaration.objects.count() == FAMILY_MAX


def test_a_family_first_sent_to_another_worker_is_shown_not_declared_again(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    aliases = ["冯一", "冯二"]
    members = [{"alias": a, "orgs": ["party"]} for a in aliases]
    submit_family(campaign, members, receipt_codes=[receipt_code_for_token(token, i) for i in range(2)])  # the other worker
    again = client.post("/declare/", {**family(token, aliases), "orgs": ["party"], "m1-orgs": ["party"]})
    assert again.status_code == 200
    assert [alias for alias, _ in RECEIPTS.findall(again.content.decode())] == aliases
    assert Declaration.objects.count() == 2


def test_a_failed_csrf_check_brings_every_member_back(campaign) -> None:
    client = browser()
    typed = {**family("t" * 24, ["陈一", "陈二"]), "m1-region": "beijing"}
    response = client.post("/declare/", typed)
    html = response.content.decode()
    assert response.status_code == 403 and Declaration.objects.count() == 0
    assert 'name="members" value="2"' in html and 'value="陈一"' in html and 'value="陈二"' in html
    assert re.search(r'name="m1-orgs" value="league"[^>]*checked', html)
    sent = client.post("/declare/", {**typed, "csrfmiddlewaretoken": CSRF.search(html).group(1), "token": TOKEN.search(html).group(1)})
    assert sent.status_code == 200 and [a for a, _ in RECEIPTS.findall(sent.content.decode())] == ["陈一", "陈二"]


def test_each_member_counts_against_the_declare_limit(campaign, settings) -> None:
    """A family of four is four declarations to the rate limit: a script cannot multiply
    its allowance by declaring "families"."""
    settings.TALLYLOG_RATE_LIMITS = "declare=3/600"
    client = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.40")
    refused = client.post("/declare/", family(form_token(client), ["甲", "乙", "丙", "丁"]))
    assert refused.status_code == 429 and Declaration.objects.count() == 0
    other = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.41")
    assert other.post("/declare/", family(form_token(other), ["甲", "乙", "丙"])).status_code == 200
    assert Declaration.objects.count() == 3
