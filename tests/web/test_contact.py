"""Issue 15 item 4: the public form (and the API) refuse phone numbers and email
addresses however they are typed, at the field, in the reader's language, with one
detector shared with the console (``tallylog.registry.declarations.contact``)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from tallylog.registry.declarations.contact import (
    looks_like_email,
    looks_like_phone_number,
)
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers import validators

from .test_declare import CODE, post

PHONES = [
    "有事打我电话 138 1234 5678",
    "１３８１２３４５６７８",  # full-width digits
    "一三八一二三四五六七八",  # Chinese numerals
    "幺三八 幺二三四 五六七八",  # as dictated
    "+86 (138) 1234-5678",
    "QQ 12345678",
    "壹叁捌壹贰叁肆伍陆柒捌",
]
EMAILS = [
    "写信给 lin.wei@example.com",
    "lin＠example．com",  # full-width @ and dot
    "lin @ example . com",
    "lin (at) example (dot) com",
    "LIN[AT]EXAMPLE.ORG",
]
HARMLESS = ["我于2026-11-25退出共青团", "一九八九年六月四日", "我退出了少先队，三十年了", "Email me? No.", "I left @ 25", "林 伟"]


@pytest.mark.parametrize("text", PHONES)
def test_phone_numbers_are_refused_at_their_field(text: str, campaign) -> None:
    for field in ("alias", "statement"):
        response = post(Client(HTTP_ACCEPT_LANGUAGE="en"), **{"alias": "Lin", "orgs": ["party"], field: text})
        html = response.content.decode()
        errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.DOTALL)
        assert response.status_code == 400 and errors, (field, text)
        assert "looks like a phone number" in errors.group(1) and "published" in errors.group(1)
        assert not CODE.search(html)
    assert Declaration.objects.count() == 0


@pytest.mark.parametrize("text", EMAILS)
def test_email_addresses_are_refused_at_their_field(text: str, campaign) -> None:
    response = post(Client(HTTP_ACCEPT_LANGUAGE="en"), alias="Lin", orgs=["party"], statement=text)
    errors = re.search(r'<ul class="errorlist" id="id_statement_error">(.*?)</ul>', response.content.decode(), re.DOTALL)
    assert response.status_code == 400 and errors and "looks like an email address" in errors.group(1)
    assert Declaration.objects.count() == 0


@pytest.mark.parametrize(
    ("lang", "phone", "email"),
    [
        ("zh-hans", "这看起来像电话号码", "这看起来像电子邮件地址"),
        ("zh-hant", "這看起來像電話號碼", "這看起來像電子郵件地址"),
        ("en", "This looks like a phone number", "This looks like an email address"),
    ],
)
def test_the_explanation_is_in_the_readers_language(lang: str, phone: str, email: str, campaign) -> None:
    response = post(Client(HTTP_ACCEPT_LANGUAGE=lang), alias="138 1234 5678", orgs=["party"], statement="a@b.cn")
    html = response.content.decode()
    assert phone in html and email in html


@pytest.mark.parametrize("text", HARMLESS)
def test_dates_numerals_and_plain_words_are_accepted(text: str, campaign) -> None:
    assert not looks_like_phone_number(text) and not looks_like_email(text)
    response = post(Client(HTTP_ACCEPT_LANGUAGE="en"), alias="Lin", orgs=["party"], statement=text)
    assert CODE.search(response.content.decode()), text


def test_the_api_refuses_them_too(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    path = "/api/v1/campaigns/three-withdrawals/declarations"
    body = {"alias": "Lin", "orgs": ["party"], "statement": "call 一三八一二三四五六七八 or mail lin@example.com"}
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    error = response.json()["error"]
    assert "phone number" in error["fields"]["statement"][0]
    assert Declaration.objects.count() == 0
    body = {"alias": "lin@example.com", "orgs": ["party"]}
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 422 and "email" in response.json()["error"]["fields"]["alias"][0]


def test_the_console_and_the_public_form_share_one_detector() -> None:
    assert validators.looks_like_phone_number is looks_like_phone_number


def test_the_console_refuses_an_email_address_too(campaign) -> None:
    """Through the console's API (channel ``phone``): the same detector, the same rule."""
    from tallylog.registry.volunteers import actions

    centre = actions.create_centre("Los Angeles")
    wei = actions.add_staff("wei", role="volunteer", centre=centre, password="correct horse battery staple")
    token = actions.issue_token(wei.user)
    call = actions.record_call(wei, outcome="declared", language="mandarin", duration="1-5")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    response = api.post(
        f"/api/v1/console/calls/{call.pk}/declarations",
        json.dumps({"alias": "老李", "orgs": ["party"], "statement": "写信 li＠example.com"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "email address" in response.json()["error"]["fields"]["statement"][0]
    assert Declaration.objects.count() == 0
