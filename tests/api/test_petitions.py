"""The petition endpoints of the JSON API (the router as the lead mounts it at /api/v1/campaigns/)."""

from __future__ import annotations

import json

import pytest
from ninja import NinjaAPI
from ninja.testing import TestClient

from tallylog.api.petitions import router
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.petitions import actions
from tallylog.registry.petitions.models import Signature
from tests.support.mail import link_in

_api = NinjaAPI(urls_namespace="petitions-api-test")
_api.add_router("/campaigns/", router)


@pytest.fixture
def api() -> TestClient:
    return TestClient(_api, headers={"accept-language": "en"})


def post(api: TestClient, slug: str, body: object, content_type: str = "application/json"):  # noqa: ANN201
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return api.post(f"/campaigns/{slug}/signatures", data=data, content_type=content_type)


def logged(log) -> None:  # noqa: ANN001
    """Run the sequencer: only logged signatures are listed (issue 15 item 1)."""
    from tallylog.registry.entries.sequencer import sequence_pending

    sequence_pending(log, batch_size=100)


def test_sign_and_list(api, open_petition, log) -> None:
    response = post(api, open_petition.slug, {"name": "Ana", "show_name": True, "country": "pt", "email": "ana@example.org"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "counted"
    assert actions.find_by_receipt(body["receipt"]).pk == body["id"]
    assert LogEntry.objects.get().channel == "api"
    post(api, open_petition.slug, {"name": "Hidden", "show_name": False, "country": "PT"})
    assert api.get(f"/campaigns/{open_petition.slug}/signatures").json()["signatures"] == []  # not logged yet
    logged(log)
    listing = api.get(f"/campaigns/{open_petition.slug}/signatures").json()
    assert listing["count"] == 2 and listing["by_country"] == {"PT": 2}
    assert [s["name"] for s in listing["signatures"]] == ["Ana"]
    shown = listing["signatures"][0]
    from tallylog import leaf

    assert "id" not in shown  # the database id follows the order of signing
    signature = Signature.objects.get(entry__log_index=shown["index"])
    assert leaf.commitment(bytes.fromhex(shown["salt"]), shown["content"]) == signature.entry.body["commit"]
    assert "email" not in json.dumps(listing)


def test_paging_with_a_cursor(api, open_petition, log) -> None:
    for i in range(5):
        actions.sign_petition(open_petition, name=f"p{i}", show_name=True, country="FR")
    logged(log)
    by_index = list(Signature.objects.order_by("-entry__log_index").values_list("name", flat=True))
    first = api.get(f"/campaigns/{open_petition.slug}/signatures?limit=2").json()
    second = api.get(f"/campaigns/{open_petition.slug}/signatures?limit=2&before={first['next']}").json()
    names = [s["name"] for s in first["signatures"] + second["signatures"]]
    assert names == by_index[:4]  # by log index: random within the batch
    assert api.get(f"/campaigns/{open_petition.slug}/signatures?limit=0").status_code == 400


def test_double_opt_in_over_the_api(api, petition, mailbox) -> None:
    response = post(api, petition.slug, {"name": "Bo", "show_name": False, "country": "SE", "email": "bo@example.org"})
    assert response.status_code == 202
    assert response.json() == {"status": "awaiting_confirmation", "receipt": None, "id": Signature.objects.get().pk}
    assert link_in(mailbox.only_to("bo@example.org"), "/petitions/confirm/")
    assert api.get(f"/campaigns/{petition.slug}/signatures").json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("[]", "application/json", 400, "invalid"),
        ({"name": "x", "show_name": True, "country": "FR"}, "text/plain", 415, "unsupported_media_type"),
        ({"name": "x", "show_name": True, "country": "FR", "phone": "1"}, "application/json", 400, "invalid"),
        ({"name": 3, "show_name": True, "country": "FR"}, "application/json", 400, "invalid"),
        ({"name": "x", "show_name": "yes", "country": "FR"}, "application/json", 400, "invalid"),
        ({"name": "x", "show_name": True, "country": "XX"}, "application/json", 400, "invalid"),
        ({"name": "x", "show_name": True, "country": "FR", "email": "a@"}, "application/json", 400, "invalid"),
    ],
)
def test_bad_input_is_a_json_error_and_saves_nothing(api, open_petition, body, content_type, status, code) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    response = api.post(f"/campaigns/{open_petition.slug}/signatures", data=data, content_type=content_type)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert not Signature.objects.exists()


def test_duplicate_closed_and_unknown(api, open_petition) -> None:
    body = {"name": "C", "show_name": False, "country": "FR", "email": "c@example.org"}
    assert post(api, open_petition.slug, body).status_code == 201
    dup = post(api, open_petition.slug, body)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate"
    assert "email" in dup.json()["error"]["fields"]
    open_petition.is_active = False
    open_petition.save()
    closed = post(api, open_petition.slug, {**body, "email": "d@example.org"})
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "closed"
    assert post(api, "nope", body).status_code == 404
    assert api.get("/campaigns/nope/signatures").json()["error"]["code"] == "unknown_campaign"
    assert Signature.objects.count() == 1


def test_openapi_documents_the_endpoints() -> None:
    entry = _api.get_openapi_schema(path_prefix="/api/v1/")["paths"]["/api/v1/campaigns/{slug}/signatures"]
    assert set(entry) >= {"get", "post"}
    assert entry["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name", "show_name", "country"]


def test_the_api_is_within_the_sign_limit(open_petition) -> None:
    from django.test import Client, override_settings

    path = f"/api/v1/campaigns/{open_petition.slug}/signatures"
    with override_settings(TALLYLOG_RATE_LIMITS="sign=3/86400"):
        client = Client(REMOTE_ADDR="192.0.2.70", HTTP_ACCEPT_LANGUAGE="en")
        codes = [client.post(path, json.dumps({"name": f"n{i}", "show_name": False, "country": "PT"}), content_type="application/json").status_code for i in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        other = Client(REMOTE_ADDR="192.0.2.71")
        assert other.post(path, json.dumps({"name": "m", "show_name": False, "country": "PT"}), content_type="application/json").status_code == 201


def test_json_nested_too_deep_answers_400(api, open_petition) -> None:
    response = post(api, open_petition.slug, "[" * 1000 + "]" * 1000)
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_deep"
