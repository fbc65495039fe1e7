"""Every public page renders in the three languages; the home page shows the tally."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.web.conftest import LANGS

PAGES = ("/", "/declare/", "/declarations/", "/receipt/", "/withdraw/", "/transparency/")
HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}
# The navigation's "Check my receipt" link in each language.
NAV_DECLARATIONS = {"zh-hans": "查询回执", "zh-hant": "查詢回執", "en": "Check my receipt"}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_every_language(path: str, lang: str, declare, sequence) -> None:
    declare()
    sequence()
    response = Client(HTTP_ACCEPT_LANGUAGE=lang).get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{HTML_LANG[lang]}">' in html
    assert NAV_DECLARATIONS[lang] in html
    # No inline script or style, and nothing from another host.
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html)


def test_declaration_page_in_every_language(declare, sequence) -> None:
    d = declare(alias="小明", statement="我退出").declaration
    sequence()
    d.refresh_from_db()
    for lang in LANGS:
        response = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/entries/{d.entry.log_index}/")
        assert response.status_code == 200
        assert "小明" in response.content.decode()


def test_language_from_accept_language_and_switcher(declare) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-TW,zh;q=0.9")
    assert '<html lang="zh-Hant">' in client.get("/").content.decode()
    html = client.get("/declarations/?day=2026-01-02").content.decode()
    assert 'href="/lang/en/?next=%2Fdeclarations%2F%3Fday%3D2026-01-02"' in html
    response = client.get("/lang/en/", {"next": "/declarations/?day=2026-01-02"})
    assert response.status_code == 302
    assert response["Location"] == "/declarations/?day=2026-01-02"
    assert response.cookies["django_language"].value == "en"
    assert '<html lang="en">' in client.get("/").content.decode()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "\\\\evil"])
def test_language_switch_never_redirects_off_site(target: str, campaign) -> None:
    response = Client().get("/lang/en/", {"next": target})
    assert response["Location"] == "/"


def test_unknown_language_is_404(campaign) -> None:
    assert Client().get("/lang/fr/").status_code == 404


def test_public_pages_set_no_cookie(declare, sequence) -> None:
    declare()
    sequence()
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for path in ("/", "/declarations/", "/transparency/"):
        assert not client.get(path).cookies, path


def test_home_shows_the_tally_and_chart(declare, sequence) -> None:
    declare(orgs=("party", "league"))
    declare(orgs=("league",))
    declare(orgs=("pioneers",))
    sequence()
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert re.search(r'<p class="total">3</p>', html)
    # A stat card starts with a capital, though the name reads "the …" inside a sentence.
    assert re.search(r"The Communist Youth League<b>2</b>", html)
    assert re.search(r"The Chinese Communist Party<b>1</b>", html)
    assert re.search(r"Today \(UTC\)<b>3</b>", html)
    assert '<svg class="chart"' in html
    # Milestone 1, crossed in this batch of 3, with the checkpoint that proves it.
    assert re.search(r'<td class="n">1</td><td>[^<]+</td><td><details><summary>Signed checkpoint of 3 entries</summary>', html)


def test_a_checkpoint_of_one_entry_is_singular(declare, sequence) -> None:
    declare()
    sequence()
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert "<summary>Signed checkpoint of 1 entry</summary>" in html
    entry = Client(HTTP_ACCEPT_LANGUAGE="en").get("/entries/0/").content.decode()
    assert "Inclusion proof in the tree of 1 entry</dt>" in entry


def test_stylesheet_is_versioned_and_immutable(campaign) -> None:
    html = Client().get("/").content.decode()
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)
    response = Client().get(href)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert "immutable" in response["Cache-Control"]
    assert "immutable" not in Client().get("/assets/site.css?v=old").get("Cache-Control", "")


def test_transparency_page(log, declare, sequence) -> None:
    declare()
    sequence()
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/transparency/").content.decode()
    assert f"tallylog-audit verify http://testserver/log/ --key {log.verifier_key}" in html
    assert log.origin in html
    assert "distinct people" in html
    assert "web form" in html  # how entries arrived, by channel
    assert "0 published entries are waiting" in html
    checkpoint = log.checkpoint().decode()
    assert checkpoint.split("\n")[2] in html


def test_pages_404_without_a_campaign(db) -> None:
    assert Client().get("/").status_code == 404


def test_not_found_page_is_translated(campaign) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/no/such/page/")
    assert response.status_code == 404
    assert "There is no page at this address." in response.content.decode()


def test_the_declare_form_needs_its_csrf_token(campaign) -> None:
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    assert client.post("/declare/", {"alias": "A", "orgs": ["party"]}).status_code == 403
    html = client.get("/declare/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post("/declare/", {"alias": "A", "orgs": ["party"], "csrfmiddlewaretoken": token})
    assert response.status_code == 200 and '<p class="receipt">' in response.content.decode()


def visible_text(html: str) -> str:
    """The text a reader sees: no scripts, styles, preformatted blocks (commands, proofs) or tags."""
    html = re.sub(r"<(script|style|pre|code|select)\b.*?</\1>", " ", html, flags=re.S)
    # A block's edge is a break, not a space inside a line of text.
    html = re.sub(r"</?(?:p|h\d|li|dt|dd|div|t[rdh]|ul|ol|table|header|footer|main|nav|blockquote|form|label|summary|br)\b[^>]*>", "|", html)
    return re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'")


CJK = "\u4e00-\u9fff"


@pytest.mark.parametrize("lang", ["zh-hans", "zh-hant"])
@pytest.mark.parametrize("path", [*PAGES, "/verify/", "/news/", "/newsletter/", "/entries/0/"])
def test_chinese_pages_read_as_chinese(path: str, lang: str, declare, sequence, settings) -> None:
    """No ASCII , : ; ? ! beside Chinese, and no English space after 。 or ： (issue 17)."""
    declare(orgs=("party", "league"), statement="我退出。")
    sequence()
    declare(alias="waiting")  # the transparency page then says what waits, and since when
    text = visible_text(Client(HTTP_ACCEPT_LANGUAGE=lang).get(path).content.decode())
    assert not re.findall(rf"[{CJK}][,:;?!]|[,:;?!][{CJK}]", text)
    assert not re.findall(rf"[。：]\s+[{CJK}（]", text)
