"""Issue 15 item 1 on the public surfaces: no database id (it follows the order of
submission) in a public URL or field, old URLs of earlier declarations redirected, and a
waiting entry's receipt answered with the time of its batch. These failed before: pages
and the API were addressed by database id, and a waiting entry's receipt said "a few
seconds"."""

from __future__ import annotations

import datetime

from django.test import Client, override_settings

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.schedule import next_batch_at

API = "/api/v1"


def test_pages_and_api_address_a_declaration_by_log_index_not_database_id(declare, sequence) -> None:
    d = declare(alias="Lin").declaration
    sequence()
    d.refresh_from_db()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.get(f"/entries/{d.log_index}/").status_code == 200
    assert client.get(f"/declarations/{d.pk}/").status_code == 404
    assert client.get(f"{API}/declarations/{d.pk}").status_code == 404
    one = client.get(f"{API}/entries/{d.log_index}").json()
    assert one["alias"] == "Lin" and one["id"] is None and one["index"] == d.log_index
    listed = client.get(f"{API}/campaigns/three-withdrawals/declarations").json()["items"]
    assert [item["id"] for item in listed] == [None]
    assert f'href="/entries/{d.log_index}/"' in client.get("/declarations/").content.decode()


def test_a_declaration_made_before_keeps_its_old_url(declare, sequence) -> None:
    d = declare(alias="Old").declaration
    sequence()
    Declaration.objects.filter(pk=d.pk).update(legacy_url=True)  # as migration 0004 marks them
    d.refresh_from_db()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.get(f"/declarations/{d.pk}/")
    assert response.status_code == 301 and response["Location"] == f"/entries/{d.log_index}/"
    one = client.get(f"{API}/declarations/{d.pk}").json()
    assert one["alias"] == "Old" and one["id"] == d.pk


def test_a_published_declaration_has_no_public_page_before_its_batch(declare) -> None:
    d = declare(alias="Waiting").declaration
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.get(f"/declarations/{d.pk}/").status_code == 404
    assert "Waiting" not in client.get("/declarations/").content.decode()


@override_settings(TALLYLOG_PUBLISH_INTERVAL=900)
def test_a_waiting_receipt_says_when_its_batch_is_published(declare, log) -> None:
    sub = declare(alias="Lin")
    due = next_batch_at()
    for lang, words in (
        ("en", "Received, to be published in the next batch at about"),
        ("zh-hans", "已收到，将在下一批于约"),
        ("zh-hant", "已收到，將在下一批於約"),
    ):
        html = Client(HTTP_ACCEPT_LANGUAGE=lang).post("/receipt/", {"code": sub.receipt_code}).content.decode()
        if due.minute != next_batch_at().minute:  # the minute turned during the test
            due = next_batch_at()
            continue
        assert words in html and due.strftime("%H:%M") in html, lang
    body = Client().get(f"{API}/receipts/{sub.receipt_code}").json()
    at = datetime.datetime.fromisoformat(body["next_batch_at"].replace("Z", "+00:00"))
    assert body["status"] == "published" and body["index"] is None
    assert at.second == 0 and at.minute % 15 == 0


@override_settings(TALLYLOG_PUBLISH_INTERVAL=900)
def test_the_transparency_page_shows_the_batch_time_not_what_waits(declare, log) -> None:
    declare(alias="Lin")
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/transparency/").content.decode()
    assert "the next batch is published at about" in html
    assert "Why entries appear in batches" in html
    assert "waiting to enter the log" not in html and "The oldest has waited" not in html
