"""The declare form: good input gets a receipt code shown once; bad input gets an error at
its field, in the reader's language, and saves nothing."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry

CODE = re.compile(r'<p class="receipt">(\d{5}-\d{5}-\d{5}-\d{5}-\d{5})</p>')


def form_token(client: Client) -> str:
    html = client.get("/declare/").content.decode()
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def post(client: Client, **data: object) -> object:
    data.setdefault("token", form_token(client))
    return client.post("/declare/", data)


def test_declare_shows_the_receipt_code_once_and_stores_only_its_hash(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = post(client, alias="  Lin\u200b Wei ", orgs=["party", "league"], statement="I leave.", region="beijing")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    code = CODE.search(response.content.decode()).group(1)
    d = Declaration.objects.get()
    assert (d.alias, d.orgs, d.statement, d.region, d.channel) == ("Lin Wei", ["league", "party"], "I leave.", "beijing", "web")
    assert d.status == Declaration.Status.PUBLISHED
    digits = code.replace("-", "")
    for row in Declaration.objects.values_list():
        assert digits not in repr(row) and code not in repr(row)
    # The code is in no URL, no cookie and no session.
    assert not response.cookies.get("sessionid")
    assert "Do not keep it if holding it could endanger you" in response.content.decode()


def test_sending_the_same_form_again_does_not_declare_twice(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    first = client.post("/declare/", {"alias": "A", "orgs": ["party"], "token": token})
    code = CODE.search(first.content.decode()).group(1)
    again = client.post("/declare/", {"alias": "A", "orgs": ["party"], "token": token})
    assert again.status_code == 200
    assert CODE.search(again.content.decode()).group(1) == code  # the same code again (tests/web/test_resend.py)
    assert "already sent" in again.content.decode()
    assert Declaration.objects.count() == 1


BAD = [
    ({"alias": "", "orgs": ["party"]}, "alias", "Please enter an alias (any name you choose)."),
    ({"alias": " \u200b\t", "orgs": ["party"]}, "alias", "Please enter an alias"),
    ({"alias": "x" * 41, "orgs": ["party"]}, "alias", "The alias is too long: at most 40 characters (you wrote 41)."),
    ({"alias": "A"}, "orgs", "Choose at least one organisation."),
    ({"alias": "A", "orgs": ["army"]}, "orgs", "Choose the organisations from the list."),
    ({"alias": "A", "orgs": ["party"], "statement": "s" * 1001}, "statement", "at most 1000 characters (you wrote 1001)."),
    ({"alias": "A", "orgs": ["party"], "region": "atlantis"}, "region", "Choose a region from the list, or none."),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD)
def test_bad_input_is_refused_at_its_field_and_nothing_is_saved(data, field, message, campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = post(client, **data)
    assert response.status_code == 400
    html = response.content.decode()
    assert not CODE.search(html)
    errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert errors, f"no error list at {field}"
    assert message in errors.group(1).replace("&#x27;", "'")
    assert Declaration.objects.count() == 0 and LogEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("zh-hans", "化名太长：最多 40 个字符（您写了 41 个）。"),
        ("zh-hant", "化名太長：最多 40 個字元（您寫了 41 個）。"),
        ("en", "The alias is too long: at most 40 characters (you wrote 41)."),
    ],
)
def test_errors_are_in_the_readers_language_and_our_own(lang, message, campaign) -> None:
    """Not Django's "确保该变量包含不超过 40 字符", which names neither the field nor the fix."""
    html = post(Client(HTTP_ACCEPT_LANGUAGE=lang), alias="x" * 41, orgs=["party"]).content.decode()
    assert message in html
    assert "确保" not in html and "確保" not in html and "Ensure this value" not in html


@pytest.mark.parametrize(("lang", "message"), [("zh-hans", "请选择至少一个组织。"), ("zh-hant", "請選擇至少一個組織。")])
def test_registry_messages_are_translated(lang, message, campaign) -> None:
    response = post(Client(HTTP_ACCEPT_LANGUAGE=lang), alias="A")
    assert message in response.content.decode()


def test_declare_form_offers_organisations_and_regions(campaign) -> None:
    html = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get("/declare/").content.decode()
    for code in ("party", "league", "pioneers"):
        assert f'value="{code}"' in html
    assert "中国共产党" in html and "北京" in html
    assert "<form" in html and 'name="csrfmiddlewaretoken"' in html


def test_review_campaign_says_it_waits_for_a_moderator(campaign) -> None:
    campaign.policy = "review"
    campaign.save()
    response = post(Client(HTTP_ACCEPT_LANGUAGE="en"), alias="A", orgs=["party"])
    assert CODE.search(response.content.decode())
    assert "after a moderator reviews it" in response.content.decode()
    assert Declaration.objects.get().status == "pending"


def test_a_failed_save_lets_the_same_form_be_sent_again(campaign, monkeypatch) -> None:
    """Failure injection: the registry fails once (nothing saved); the token is released."""
    from tallylog.web import flows

    real = flows.submit_family
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(flows, "submit_family", failing_once)
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    token = form_token(client)
    assert client.post("/declare/", {"alias": "A", "orgs": ["party"], "token": token}).status_code == 500
    assert Declaration.objects.count() == 0
    again = client.post("/declare/", {"alias": "A", "orgs": ["party"], "token": token})
    assert CODE.search(again.content.decode())
    assert Declaration.objects.count() == 1


def test_a_form_over_the_upload_limit_gets_a_page_in_the_readers_language(campaign, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-Hans")
    response = post(client, alias="李", orgs=["party"], statement="长" * 1000)
    assert response.status_code == 400
    page = response.content.decode()
    assert "无法读取这个请求" in page and "什么都没有保存" in page
    assert Declaration.objects.count() == 0 and LogEntry.objects.count() == 0


def test_the_error_pages_render_without_a_request_in_the_active_language() -> None:
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("zh-hant"):
        page = render_to_string("500.html")
    assert '<html lang="zh-Hant">' in page and "<h1>" in page and "/assets/site." in page
    assert "<title>出錯了</title>" in page and "<h1>出錯了</h1>" in page and "返回統計" in page
