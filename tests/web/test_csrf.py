"""Issue 15 item 6: a failed CSRF check shows our page in the reader's language, and the
declare and sign forms come back filled in with what was typed and a fresh token, so one
more click sends them. Nothing is saved by the failed sending."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.petitions.models import Signature
from tests.support.mail import make_petition

from .test_declare import CODE

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
NOT_SENT = {
    "zh-hans": "您的声明尚未发送。",
    "zh-hant": "您的聲明尚未送出。",
    "en": "Your declaration was not sent yet.",
}


def browser(lang: str = "en") -> Client:
    return Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=lang)


@pytest.mark.parametrize("lang", sorted(NOT_SENT))
def test_cookies_blocked_the_declare_form_comes_back_filled_in(lang: str, campaign) -> None:
    client = browser(lang)  # never had the CSRF cookie: cookies blocked, or the cookie expired
    typed = {"alias": "林<b>伟</b>", "orgs": ["party", "league"], "statement": "我退出。\n再见", "region": "beijing", "token": "t" * 24}
    response = client.post("/declare/", typed)
    html = response.content.decode()
    assert response.status_code == 403
    assert f'<html lang="{ {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}[lang] }">' in html
    assert NOT_SENT[lang] in html
    assert "禁止访问" not in html and "DEBUG" not in html and "CSRF" not in html
    assert 'value="林&lt;b&gt;伟&lt;/b&gt;"' in html  # kept, and escaped
    assert "我退出。\n再见</textarea>" in html
    assert re.search(r'value="party"[^>]*checked', html) and re.search(r'value="league"[^>]*checked', html)
    assert re.search(r'<option value="beijing" selected>', html)
    assert "no-store" in response["Cache-Control"]
    assert TOKEN.search(html).group(1) != "t" * 24  # a fresh one-time token
    assert Declaration.objects.count() == 0 and not CODE.search(html)
    # One more click sends it: the page set a fresh CSRF cookie and carries its token.
    sent = client.post("/declare/", {**typed, "csrfmiddlewaretoken": CSRF.search(html).group(1), "token": TOKEN.search(html).group(1)})
    assert sent.status_code == 200 and CODE.search(sent.content.decode())
    assert Declaration.objects.get().alias == "林<b>伟</b>"


def test_an_expired_form_comes_back_on_a_campaigns_own_declare_page(campaign) -> None:
    client = browser()
    page = client.get(f"/c/{campaign.slug}/declare/").content.decode()
    client.cookies["csrftoken"] = "x" * 32  # the cookie changed since the page was made
    response = client.post(f"/c/{campaign.slug}/declare/", {"alias": "Lin", "orgs": ["party"], "csrfmiddlewaretoken": CSRF.search(page).group(1)})
    assert response.status_code == 403 and NOT_SENT["en"] in response.content.decode()
    assert 'value="Lin"' in response.content.decode()
    assert Declaration.objects.count() == 0


def test_the_petition_form_comes_back_filled_in(db) -> None:
    campaign = make_petition(confirm=False)
    response = browser("zh-hant").post(f"/petitions/{campaign.slug}/", {"name": "王小明", "country": "TW", "email": "w@example.org", "show_name": "on"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "您的簽名尚未送出。" in html
    assert 'value="王小明"' in html and 'value="w@example.org"' in html
    assert re.search(r'<option value="TW" selected>', html)
    assert Signature.objects.count() == 0


@pytest.mark.parametrize(
    ("lang", "words"), [("zh-hans", "表单未能发送"), ("zh-hant", "表單未能送出"), ("en", "The form could not be sent")]
)
def test_other_forms_get_a_plain_explanation_in_the_readers_language(lang: str, words: str, db) -> None:
    get_user_model().objects.create_user("someone", password="pw")
    for url in ("/console/login/", "/admin/login/", "/receipt/"):
        response = browser(lang).post(url, {"username": "someone", "password": "pw"})
        html = response.content.decode()
        assert response.status_code == 403, url
        assert words in html and "禁止访问" not in html and "DEBUG" not in html, url
        assert "someone" not in html  # nothing typed is echoed back on these pages
