"""Issue 15 item 3: a lost response must not lose the receipt. The same form (the same
one-time token) sent again within the window shows the same receipt code again, counted
once, without the code being stored anywhere; a different form declares anew."""

from __future__ import annotations

import datetime
import time

import pytest
from django.core.cache import cache
from django.test import Client

from tallylog.registry.declarations.actions import (
    find_by_receipt,
    receipt_code_for_token,
    submit_declaration,
)
from tallylog.registry.declarations.models import Declaration
from tallylog.safety import formtokens

from .test_declare import CODE, form_token

FORM = {"alias": "Lin", "orgs": ["party"], "statement": "I leave."}


def code_in(response: object) -> str | None:
    found = CODE.search(response.content.decode())  # type: ignore[attr-defined]
    return found.group(1) if found else None


def test_a_lost_response_then_a_reload_shows_the_same_code_again(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    client.post("/declare/", {**FORM, "token": token})  # the answer is lost on the way
    reload = client.post("/declare/", {**FORM, "token": token})
    code = code_in(reload)
    assert code is not None and "already sent" in reload.content.decode()
    assert "no-store" in reload["Cache-Control"]
    assert Declaration.objects.count() == 1
    assert find_by_receipt(code) == Declaration.objects.get()  # it is the declaration's own code
    # … and a third time, from another browser (the token is what counts, not a cookie).
    assert code_in(Client().post("/declare/", {**FORM, "token": token})) == code
    assert Declaration.objects.count() == 1


def test_the_same_form_with_other_words_still_counts_once(campaign) -> None:
    """An attacker (or a reader who edited the form) re-sending a used token does not
    declare again: the first declaration stands and its code is the answer."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    first = code_in(client.post("/declare/", {**FORM, "token": token}))
    other = client.post("/declare/", {"alias": "Someone else", "orgs": ["league"], "token": token})
    assert code_in(other) == first
    assert list(Declaration.objects.values_list("alias", flat=True)) == ["Lin"]


def test_a_different_form_makes_a_new_declaration_with_a_new_code(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    first = code_in(client.post("/declare/", {**FORM, "token": form_token(client)}))
    second = code_in(client.post("/declare/", {**FORM, "token": form_token(client)}))
    assert first and second and first != second
    assert Declaration.objects.count() == 2


def test_no_code_and_no_token_is_stored(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    code = code_in(client.post("/declare/", {**FORM, "token": token}))
    assert code is not None
    digits = code.replace("-", "")
    for row in Declaration.objects.values_list():
        assert digits not in repr(row) and token not in repr(row)
    kept = repr(list(cache._cache.items()))  # type: ignore[attr-defined]  (the locmem cache)
    assert token not in kept and digits not in kept and code not in kept


def test_after_the_window_the_code_is_not_shown_again(campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    assert code_in(client.post("/declare/", {**FORM, "token": token}))
    # The first sending was REPLAY_SECONDS and a bit ago.
    cache.set(formtokens._key("declare", token), time.time() - formtokens.REPLAY_SECONDS - 1, timeout=3600)
    late = client.post("/declare/", {**FORM, "token": token})
    assert late.status_code == 200 and code_in(late) is None
    assert "already sent" in late.content.decode() and "30 minutes" in late.content.decode()
    assert Declaration.objects.count() == 1


def test_a_double_click_shows_the_code_when_the_first_click_finishes(campaign, monkeypatch) -> None:
    """JS off, a double click: the browser drops the first answer and shows the second,
    which arrives while the first is still saving. The second waits for the first and
    shows its code. (The first sending is played here by a claim and a declaration saved
    while the second waits.)"""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    assert formtokens.claim("declare", token) is None  # the first click, still saving
    code = receipt_code_for_token(token)
    waited = []

    def first_click_finishes() -> None:
        if not waited:
            submit_declaration(campaign, alias="Lin", orgs=["party"], receipt_code=code)
        waited.append(1)

    monkeypatch.setattr(formtokens, "_pause", first_click_finishes)
    second = client.post("/declare/", {**FORM, "token": token})
    assert waited and code_in(second) == code
    assert Declaration.objects.count() == 1


def test_when_the_first_sending_fails_the_second_declares(campaign, monkeypatch) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    assert formtokens.claim("declare", token) is None  # the first sending …
    monkeypatch.setattr(formtokens, "_pause", lambda: formtokens.release("declare", token))  # … gives up
    second = client.post("/declare/", {**FORM, "token": token})
    assert code_in(second) == receipt_code_for_token(token)
    assert Declaration.objects.count() == 1


def test_a_first_sending_that_never_finishes_gets_a_page_saying_so(campaign, monkeypatch) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    assert formtokens.claim("declare", token) is None
    monkeypatch.setattr(formtokens, "WAIT_SECONDS", 0.0)
    response = client.post("/declare/", {**FORM, "token": token})
    assert code_in(response) is None and "still being recorded" in response.content.decode()
    assert Declaration.objects.count() == 0


@pytest.mark.parametrize("token", ["a", "x" * 64])
def test_codes_from_tokens_are_receipt_codes_and_differ(token: str, db) -> None:
    code = receipt_code_for_token(token)
    assert CODE.fullmatch(f'<p class="receipt">{code}</p>')
    assert code == receipt_code_for_token(token) != receipt_code_for_token(token + "y")


def test_a_form_first_sent_to_another_worker_counts_once_without_a_shared_cache(campaign) -> None:
    """Each worker process has its own cache: the first sending was recorded by another
    worker, whose claim this one cannot see. The code's keyed hash is unique in the
    database, so this sending records nothing and shows the same code."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    code = receipt_code_for_token(token)
    submit_declaration(campaign, alias="Lin", orgs=["party"], receipt_code=code)  # the other worker
    response = client.post("/declare/", {**FORM, "token": token})
    assert code_in(response) == code and "already sent" in response.content.decode()
    assert Declaration.objects.count() == 1


@pytest.mark.parametrize("lost", ["a day later", "the cache restarted"])
def test_a_form_sent_again_after_its_claim_is_gone_shows_no_code(campaign, lost: str) -> None:
    """The claim (the time of the first sending) is gone: the cache forgot it after a day,
    or restarted. The database refuses a second declaration and the first is older than
    the window: nothing is shown (a seized phone's open tab yields nothing)."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = form_token(client)
    first = client.post("/declare/", {**FORM, "token": token})
    assert code_in(first)
    made = time.time() - (86400 if lost == "a day later" else formtokens.REPLAY_SECONDS + 60)
    Declaration.objects.update(created_at=datetime.datetime.fromtimestamp(made, datetime.UTC))
    cache.clear()
    late = client.post("/declare/", {**FORM, "token": token})
    assert code_in(late) is None and "already sent" in late.content.decode()
    assert Declaration.objects.count() == 1


@pytest.mark.parametrize("token", ["api\x00" + "k" * 20, "tok en", "токен", "x" * 65, "a/b+c="])
def test_a_token_not_of_our_shape_is_no_token(campaign, token: str) -> None:
    """Whatever a form sends that new_token could not have made (another scope's message,
    a key with a NUL, spaces, other letters, too long) gets no check and a fresh code: it
    can never find another sending's declaration."""
    other = receipt_code_for_token(token)
    submit_declaration(campaign, alias="Lin", orgs=["party"], receipt_code=other)
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post("/declare/", {**FORM, "token": token})
    assert code_in(response) not in (None, other)
    assert Declaration.objects.count() == 2


@pytest.mark.parametrize(
    ("lang", "again", "window"),
    [
        ("zh-hans", "这是它的回执码，再次显示给您。", "30 分钟内"),
        ("zh-hant", "這是它的回執碼，再次顯示給您。", "30 分鐘內"),
        ("en", "Here is its receipt code again.", "within 30 minutes"),
    ],
)
def test_the_receipt_shown_again_says_so_in_the_readers_language(lang: str, again: str, window: str, campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    token = form_token(client)
    first = client.post("/declare/", {**FORM, "token": token}).content.decode()
    assert window in first and again not in first
    second = client.post("/declare/", {**FORM, "token": token}).content.decode()
    assert again in second and window in second
