"""Issue 15 item 5: a moderator's removal is published as such, with its reason category;
it no longer reads as the declarant's own withdrawal. Failed before: pages said "the
declarant removed …" for both, and the API had only ``redacted: true``."""

from __future__ import annotations

import pytest
from django.test import Client

from tallylog.registry.declarations.actions import redact
from tallylog.registry.declarations.models import Declaration

API = "/api/v1"


def test_a_moderators_removal_says_who_and_why_on_pages_and_in_the_api(declare, sequence) -> None:
    own = declare(alias="Own").declaration
    removed = declare(alias="Removed").declaration
    sequence()
    redact(own, by="declarant")
    redact(removed, by="moderator", reason="personal_data")
    own, removed = (Declaration.objects.select_related("entry").get(pk=d.pk) for d in (own, removed))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(f"/entries/{removed.log_index}/").content.decode()
    assert "Removed by a moderator (personal data)" in page and "the declarant removed" not in page
    assert "the declarant removed" in client.get(f"/entries/{own.log_index}/").content.decode()
    listing = client.get("/declarations/").content.decode()
    assert "Removed by a moderator (personal data)" in listing and "the declarant removed" in listing
    for lang, words in (("zh-hans", "已由管理员删除（个人信息）"), ("zh-hant", "已由管理員刪除（個人資料）")):
        assert words in Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/entries/{removed.log_index}/").content.decode()
    one = client.get(f"{API}/entries/{removed.log_index}").json()
    assert (one["redacted"], one["redacted_by"], one["redaction_reason"]) == (True, "moderator", "personal_data")
    mine = client.get(f"{API}/entries/{own.log_index}").json()
    assert (mine["redacted_by"], mine["redaction_reason"]) == ("declarant", None)
    schema = client.get(f"{API}/openapi.json").json()["components"]["schemas"]["DeclarationOut"]["properties"]
    assert {"redacted_by", "redaction_reason"} <= set(schema)


def test_a_moderator_must_give_a_reason_from_the_fixed_set(declare) -> None:
    d = declare().declaration
    for reason in ("", "because"):
        with pytest.raises(ValueError, match="reason"):
            redact(d, by="moderator", reason=reason)
    with pytest.raises(ValueError, match="no reason"):
        redact(d, by="declarant", reason="abuse")
    assert Declaration.objects.get(pk=d.pk).redacted_at is None
