"""The API's Idempotency-Key: a client that lost an answer sends the same declaration again
with the same key and gets the same receipt code, and nothing is declared twice."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from django.test import Client

from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.safety import formtokens

PATH = "/api/v1/campaigns/three-withdrawals/declarations"
BODY = {"alias": "Lin", "orgs": ["party"], "statement": "再见"}


def post(client: Client, key: str | None, body: Any = BODY) -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(PATH, json.dumps(body), content_type="application/json", **headers)


def test_the_same_key_gives_the_same_code_and_declares_once(client, campaign) -> None:
    key = secrets.token_urlsafe(18)
    first = post(client, key)
    assert first.status_code == 201, first.content
    again = post(client, f'"{key}"')  # the draft's structured-field String, quoted
    assert again.status_code == 200, again.content
    assert again.json()["receipt"] == first.json()["receipt"]
    assert again.json()["id"] is None and first.json()["id"] is None
    assert Declaration.objects.count() == 1
    assert find_by_receipt(first.json()["receipt"]) == Declaration.objects.get()


def test_another_key_or_none_declares_again_with_another_code(client, campaign) -> None:
    codes = {post(client, secrets.token_urlsafe(18)).json()["receipt"] for _ in range(2)}
    codes |= {post(client, None).json()["receipt"] for _ in range(2)}
    assert len(codes) == 4 and Declaration.objects.count() == 4


def test_a_key_seen_by_another_worker_finds_the_first_declaration(client, campaign, settings) -> None:
    """Each worker has its own cache without a shared one: the second sending's claim wins
    there, and the database's unique receipt hash sends it to the first declaration."""
    key = secrets.token_urlsafe(18)
    first = post(client, key).json()
    formtokens.release("api-declare", key)  # as if the second sending reached another process
    again = post(client, key)
    assert again.status_code == 200 and again.json()["receipt"] == first["receipt"]
    assert Declaration.objects.count() == 1


def test_a_key_older_than_the_window_gets_no_code(client, campaign, monkeypatch) -> None:
    key = secrets.token_urlsafe(18)
    assert post(client, key).status_code == 201
    later = time.time() + formtokens.REPLAY_SECONDS + 5
    monkeypatch.setattr(formtokens.time, "time", lambda: later)
    again = post(client, key)
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "idempotency_key_used" and "receipt" not in again.content.decode()
    assert Declaration.objects.count() == 1


def test_a_refused_declaration_frees_its_key(client, campaign) -> None:
    key = secrets.token_urlsafe(18)
    bad = post(client, key, {"alias": "", "orgs": ["party"]})
    assert bad.status_code == 422 and Declaration.objects.count() == 0
    good = post(client, key)
    assert good.status_code == 201 and Declaration.objects.count() == 1


@pytest.mark.parametrize("key", ["short", "x" * 65, "has space in it ok?", "ключ-ключ-ключ-ключ", '"unterminated-key-value'])
def test_a_malformed_key_is_refused_and_nothing_saved(client, campaign, key: str) -> None:
    r = post(client, key)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "bad_idempotency_key" and "16 to 64" in error["message"]
    assert Declaration.objects.count() == 0


def test_the_schema_documents_the_replay_answer(client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    responses = schema["paths"]["/api/v1/campaigns/{slug}/declarations"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(responses)


def test_a_key_whose_claim_is_gone_gets_no_code(client, campaign) -> None:
    """The cache forgot the key's claim (a day later, a restart): the database refuses a
    second declaration, and the first is older than the window: no code."""
    import datetime

    from django.core.cache import cache

    key = secrets.token_urlsafe(18)
    assert post(client, key).status_code == 201
    Declaration.objects.update(created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1))
    cache.clear()
    again = post(client, key)
    assert again.status_code == 422 and "receipt" not in again.content.decode()
    assert Declaration.objects.count() == 1


@pytest.mark.parametrize(
    "other",
    [
        {"alias": "Wang", "orgs": ["party"], "statement": "再见"},  # another person
        {"alias": "Lin", "orgs": ["party", "league"], "statement": "再见"},
        {"alias": "Lin", "orgs": ["party"], "statement": "再见", "region": "beijing"},
    ],
)
def test_the_same_key_with_another_declaration_never_gets_the_first_code(client, campaign, other) -> None:
    """A client library with a fixed or weak key: user B's declaration must not be answered
    with user A's receipt (which could withdraw A's content)."""
    key = "the-same-key-every-time"
    first = post(client, key).json()["receipt"]
    second = post(client, key, other)
    assert second.status_code == 201, second.content
    assert second.json()["receipt"] != first
    assert Declaration.objects.count() == 2
