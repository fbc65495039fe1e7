"""The JSON API: every endpoint's answer, and every error as {"error": {"code", "message"}}."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tests.support.proofs import checkpoint_root, root_from_inclusion_proof

API = "/api/v1"


def post_json(client: Client, path: str, body: Any, **kw: Any) -> Any:
    return client.post(API + path, json.dumps(body), content_type="application/json", **kw)


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def test_log(client, log, declare, sequence) -> None:
    assert client.get(API + "/log").json() == {
        "origin": log.origin, "verifier_key": log.verifier_key, "size": 0, "checkpoint": None,
        "witness_quorum": 1, "witnesses": [],
    }
    declare()
    sequence()
    body = client.get(API + "/log").json()
    assert body["size"] == 1 and body["checkpoint"] == log.checkpoint().decode()


def test_campaigns(client, campaign) -> None:
    [c] = client.get(API + "/campaigns").json()
    assert c["slug"] == "three-withdrawals" and c["kind"] == "declaration" and c["policy"] == "auto"
    assert c["title"]["zh-hant"].startswith("三退")
    assert [o["code"] for o in c["organisations"]] == ["party", "league", "pioneers"]
    assert c["organisations"][0]["name"]["en"] == "the Chinese Communist Party"


def test_declare_then_tally_receipt_and_declaration(client, campaign, log, sequence) -> None:
    response = post_json(client, "/campaigns/three-withdrawals/declarations", {"alias": "Lin", "orgs": ["party", "league"], "statement": "再见"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "published" and body["index"] is None and body["campaign"] == "three-withdrawals"
    code = body["receipt"]
    assert body["id"] is None  # the database id follows the order of submission (issue 15)
    d = find_by_receipt(code)
    assert d.channel == "api"
    receipt = client.get(f"{API}/receipts/{code}").json()
    assert receipt["index"] is None and receipt["inclusion_proof"] == [] and receipt["status"] == "published"
    sequence()
    tally = client.get(API + "/campaigns/three-withdrawals/tally").json()
    assert tally["total"] == 1 and tally["by_org"] == {"party": 1, "league": 1} and tally["by_channel"] == {"api": 1}
    assert tally["today"] == 1 and tally["this_week"] == 1 and tally["by_day"][0]["count"] == 1
    assert tally["milestones"][0]["threshold"] == 1
    receipt = client.get(f"{API}/receipts/{code}").json()
    assert receipt["index"] == 0 and receipt["tree_size"] == 1
    size, root = checkpoint_root(receipt["checkpoint"])
    import base64

    proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
    assert root_from_inclusion_proof(0, size, receipt["leaf"].encode(), proof) == root
    assert post_json(client, "/receipts", {"code": code}).json() == receipt
    one = client.get(f"{API}/entries/0").json()
    assert one["id"] is None  # the database id is never public (issue 15): the index is
    assert one["alias"] == "Lin" and one["statement"] == "再见" and one["index"] == 0
    assert one["leaf"] == receipt["leaf"] and len(one["salt"]) == 32 and one["redacted"] is False


def test_list_is_keyset_paginated_and_filtered(client, declare, sequence) -> None:
    made = [declare(alias=f"a{i}", orgs=("party",) if i % 2 else ("league",)).declaration.pk for i in range(7)]
    sequence()
    seen, before = [], None
    while True:
        params = {"limit": 3} | ({"before": before} if before is not None else {})
        page = client.get(API + "/campaigns/three-withdrawals/declarations", params).json()
        seen += [item["index"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    index = dict(Declaration.objects.filter(pk__in=made).values_list("pk", "entry__log_index"))
    party = client.get(API + "/campaigns/three-withdrawals/declarations", {"org": "party"}).json()
    assert [i["index"] for i in party["items"]] == sorted((index[made[k]] for k in (1, 3, 5)), reverse=True)


def test_redacted_declaration_has_no_content(client, declare, sequence) -> None:
    from tallylog.registry.declarations.actions import redact

    sub = declare(alias="Lin", statement="words")
    sequence()
    redact(sub.declaration)
    one = client.get(f"{API}/entries/0").json()
    assert (one["alias"], one["statement"], one["salt"], one["redacted"]) == ("", "", None, True)
    assert one["leaf"] is not None


# Errors ---------------------------------------------------------------------------------

DECLARE = "/campaigns/three-withdrawals/declarations"


def nothing_saved() -> None:
    assert Declaration.objects.count() == 0 and LogEntry.objects.count() == 0


def test_malformed_json(client, campaign) -> None:
    response = client.post(API + DECLARE, '{"alias": "x", ', content_type="application/json")
    error(response, 400, "malformed_json")
    nothing_saved()


def test_body_over_the_upload_limit(client, campaign, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"alias": "x", "orgs": ["party"], "statement": "s" * 1000}
    err = error(post_json(client, DECLARE, body), 413, "too_large")
    assert err["message"] == "The request body is too large: at most 1,000 bytes."
    nothing_saved()
    assert post_json(client, DECLARE, {"alias": "x", "orgs": ["party"]}).status_code == 201


def test_wrong_content_type(client, campaign) -> None:
    response = client.post(API + DECLARE, "alias=x&orgs=party", content_type="application/x-www-form-urlencoded")
    error(response, 415, "unsupported_media_type")
    nothing_saved()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"orgs": ["party"]}, "alias"),
        ({"alias": "x"}, "orgs"),
        ({"alias": "x", "orgs": "party"}, "orgs"),
        ({"alias": 5, "orgs": ["party"]}, "alias"),
        ({"alias": "x", "orgs": ["party"], "phone": "+86 138 0000 0000"}, "phone"),
        (["not", "an", "object"], "body"),
    ],
)
def test_schema_errors_name_the_field(body, field, client, campaign) -> None:
    err = error(post_json(client, DECLARE, body), 422, "invalid")
    assert field in err["fields"]
    nothing_saved()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"alias": "", "orgs": ["party"]}, "alias", "Please enter an alias"),
        ({"alias": "x" * 41, "orgs": ["party"]}, "alias", "at most 40 characters"),
        ({"alias": "x", "orgs": []}, "orgs", "Choose at least one organisation."),
        ({"alias": "x", "orgs": ["army"]}, "orgs", "Unknown organisation: army."),
        ({"alias": "x", "orgs": ["party"], "statement": "s" * 1001}, "statement", "at most 1000 characters"),
        ({"alias": "x", "orgs": ["party"], "region": "atlantis"}, "region", "Unknown region."),
    ],
)
def test_registry_validation_errors(body, field, message, client, campaign) -> None:
    err = error(post_json(client, DECLARE, body), 422, "invalid")
    assert any(message in m for m in err["fields"][field])
    nothing_saved()


def test_validation_messages_follow_accept_language(campaign) -> None:
    err = error(post_json(Client(HTTP_ACCEPT_LANGUAGE="zh-hans"), DECLARE, {"alias": "x", "orgs": []}), 422, "invalid")
    assert err["fields"]["orgs"] == ["请选择至少一个组织。"]


def test_unknown_campaign(client, campaign) -> None:
    error(post_json(client, "/campaigns/nope/declarations", {"alias": "x", "orgs": ["party"]}), 404, "unknown_campaign")
    error(client.get(API + "/campaigns/nope/tally"), 404, "unknown_campaign")
    error(client.get(API + "/campaigns/nope/declarations"), 404, "unknown_campaign")
    Campaign.objects.create(slug="a-petition", kind="petition", title_zh_hans="请愿")
    error(post_json(client, "/campaigns/a-petition/declarations", {"alias": "x", "orgs": ["party"]}), 404, "unknown_campaign")
    nothing_saved()


def test_closed_campaign(client, campaign) -> None:
    campaign.is_active = False
    campaign.save()
    err = error(post_json(client, DECLARE, {"alias": "x", "orgs": ["party"]}), 404, "unknown_campaign")
    assert "closed" in err["message"]
    nothing_saved()


def test_unknown_receipt_declaration_and_path(client, campaign) -> None:
    error(client.get(API + "/receipts/00000-00000-00000-00000-00000"), 404, "unknown_receipt")
    error(client.get(API + "/receipts/not-a-code"), 404, "unknown_receipt")
    error(post_json(client, "/receipts", {"code": "1"}), 404, "unknown_receipt")
    error(client.get(API + "/declarations/999999"), 404, "unknown_declaration")
    error(client.get(API + "/declarations/abc"), 422, "invalid")
    error(client.get(API + "/nowhere"), 404, "not_found")


def test_pending_declarations_are_not_public(client, campaign, declare) -> None:
    campaign.policy = "review"
    campaign.save()
    d = declare().declaration
    error(client.get(f"{API}/declarations/{d.pk}"), 404, "unknown_declaration")


def test_method_not_allowed(client, campaign) -> None:
    response = client.delete(API + "/log")
    error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"
    error(client.put(API + DECLARE, "{}", content_type="application/json"), 405, "method_not_allowed")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"before": -1}, {"day": "yesterday"}, {"limit": "x"}])
def test_bad_query_parameters(params, client, campaign) -> None:
    err = error(client.get(API + DECLARE, params), 422, "invalid")
    assert set(err["fields"]) == set(params)


def test_openapi_schema(client) -> None:
    response = client.get(API + "/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/v1/log", "/api/v1/campaigns", "/api/v1/campaigns/{slug}/tally",
                 "/api/v1/campaigns/{slug}/declarations", "/api/v1/declarations/{id}", "/api/v1/entries/{index}", "/api/v1/receipts/{code}"):
        assert path in schema["paths"], path
    post = schema["paths"]["/api/v1/campaigns/{slug}/declarations"]["post"]
    assert {"201", "400", "404", "415", "422"} <= set(post["responses"])
    assert client.get(API + "/docs").status_code == 404  # no page loading scripts from elsewhere


def test_api_posts_need_no_csrf_token(campaign) -> None:
    client = Client(enforce_csrf_checks=True)
    response = post_json(client, DECLARE, {"alias": "x", "orgs": ["party"]})
    assert response.status_code == 201


def test_an_unknown_org_answers_400_naming_the_known_ones(client, campaign, declare) -> None:
    declare()
    path = f"{API}/campaigns/{campaign.slug}/declarations"
    body = error(client.get(path + "?org=no-such-org"), 400, "unknown_filter")
    assert "no-such-org" in body["message"] and "league, party, pioneers" in body["message"]
    assert body["fields"] == {"org": ["one of league, party, pioneers"]}
    assert client.get(path + "?org=party").status_code == 200


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_too_deep_answers_400_before_parsing(client, campaign, depth) -> None:
    body = b"[" * depth + b"]" * depth
    response = client.post(f"{API}/campaigns/{campaign.slug}/declarations", body, content_type="application/json")
    assert "32 levels" in error(response, 400, "too_deep")["message"]
    # Brackets inside strings are not nesting; 32 levels are parsed as usual.
    shallow = json.dumps({"alias": "A", "statement": '[{"\\' * 40, "orgs": ["party"]}).encode()
    assert client.post(f"{API}/campaigns/{campaign.slug}/declarations", shallow, content_type="application/json").status_code == 201
    assert client.post(f"{API}/campaigns/{campaign.slug}/declarations", b"[" * 32 + b"]" * 32, content_type="application/json").status_code == 422


def test_the_api_root_says_where_the_schema_and_the_log_are(client, log) -> None:
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "/api/v1/openapi.json" and client.get(body["openapi"]).status_code == 200
    assert client.get(body["log"]).status_code == 200
