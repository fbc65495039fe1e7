"""Declarations through the API under concurrency (real threads, real database, group
commit), the queries one submission costs, and the per-process campaign cache seeing an
operator's edits."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tallylog.registry.campaigns import models as campaign_models
from tallylog.registry.campaigns.models import Campaign, Organisation
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry

PATH = "/api/v1/campaigns/three-withdrawals/declarations"


def post(client: Client, body: Any) -> Any:
    return client.post(PATH, json.dumps(body), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_are_each_saved_once_with_their_own_receipt(campaign: Campaign) -> None:
    threads, each = 8, 10
    answers: list[list[Any]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def run(i: int) -> None:
        try:
            client = Client(HTTP_ACCEPT_LANGUAGE="en")
            start.wait()
            for k in range(each):
                r = post(client, {"alias": f"并发 {i}-{k}", "orgs": ["party"], "statement": "同时"})
                answers[i].append((r.status_code, r.json()))
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert not w.is_alive()
    flat = [a for per in answers for a in per]
    assert len(flat) == threads * each
    assert {status for status, _ in flat} == {201}
    assert len({body["receipt"] for _, body in flat}) == threads * each
    assert {body["id"] for _, body in flat} == {None}
    assert Declaration.objects.count() == threads * each == LogEntry.objects.count()
    for _, body in flat:
        found = find_by_receipt(body["receipt"])
        assert found is not None and found.status == "published"
    assert len({find_by_receipt(body["receipt"]).pk for _, body in flat}) == threads * each


def test_the_201_body_is_the_documented_schema(campaign: Campaign) -> None:
    from tallylog.api.schemas import SubmittedOut

    r = post(Client(), {"alias": "样", "orgs": ["party"]})
    assert r.status_code == 201 and r["Content-Type"].startswith("application/json")
    body = r.json()
    assert SubmittedOut.model_validate(body).model_dump() == body
    assert set(body) == set(SubmittedOut.model_fields)
    assert body["status"] == "published" and body["index"] is None and body["campaign"] == "three-withdrawals"


def test_one_submission_costs_a_key_reservation_and_two_inserts_once_the_campaign_is_cached(campaign: Campaign) -> None:
    client = Client()
    assert post(client, {"alias": "暖", "orgs": ["party"]}).status_code == 201
    with CaptureQueriesContext(connection) as captured:
        assert post(client, {"alias": "一", "orgs": ["party", "league"]}).status_code == 201
    # The test's own transaction turns the submission's into a savepoint.
    # (Django logs an executemany as "N times: INSERT …".)
    statements = [
        re.sub(r"^\d+ times: ", "", q["sql"])
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) == 3, statements
    # One query reserves the keys of both rows; each row is one INSERT (COPY on PostgreSQL).
    assert statements[0].startswith("SELECT ") and "declarations_declaration" in statements[0], statements[0]
    assert "entries_logentry" in statements[0]
    insert = "COPY" if connection.vendor == "postgresql" else "INSERT INTO"
    assert statements[1].startswith(f'{insert} "entries_logentry"')
    assert statements[2].startswith(f'{insert} "declarations_declaration"')


def test_closing_or_editing_a_campaign_is_seen_at_once_in_this_process(campaign: Campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert post(client, {"alias": "在", "orgs": ["party"]}).status_code == 201
    Organisation.objects.create(campaign=campaign, code="union", name_zh_hans="工会")
    assert post(client, {"alias": "新", "orgs": ["union"]}).status_code == 201
    campaign.is_active = False
    campaign.save()
    r = post(client, {"alias": "关", "orgs": ["party"]})
    assert r.status_code == 404 and "closed" in r.json()["error"]["message"]


def test_an_edit_elsewhere_is_seen_within_the_cache_time(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(campaign_models.time, "monotonic", lambda: clock[0])
    campaign_models.forget_cached_campaigns()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert post(client, {"alias": "在", "orgs": ["party"]}).status_code == 201
    # QuerySet.update sends no signal: like an edit made by another process.
    Campaign.objects.filter(pk=campaign.pk).update(policy=Campaign.Policy.REVIEW)
    clock[0] += campaign_models.CAMPAIGN_CACHE_SECONDS / 2
    assert post(client, {"alias": "旧", "orgs": ["party"]}).json()["status"] == "published"
    clock[0] += campaign_models.CAMPAIGN_CACHE_SECONDS
    assert post(client, {"alias": "新", "orgs": ["party"]}).json()["status"] == "pending"


def test_unknown_and_petition_campaigns_are_404_through_the_cache(campaign: Campaign) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    r = client.post("/api/v1/campaigns/nope/declarations", json.dumps({"alias": "x", "orgs": ["party"]}), content_type="application/json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_campaign"
    Campaign.objects.create(slug="a-petition", kind=Campaign.Kind.PETITION, title_zh_hans="请愿")
    r = client.post("/api/v1/campaigns/a-petition/declarations", json.dumps({"alias": "x", "orgs": ["party"]}), content_type="application/json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_campaign"
