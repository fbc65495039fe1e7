"""Every role against every admin page and action, and against the public surfaces
(issue 7, item 7). The console's own permission tests live in tests/console/.

Rules checked:
- Only operators (staff) enter the admin; everyone else, on every admin URL and action,
  is sent to the admin login and nothing changes.
- Nobody, not even an operator or a superuser, can add, change or delete the log's own
  records (entries, the log state, milestones) in the admin; nobody can add or delete a
  declaration there (they come through ``submit_declaration`` only, and a logged entry is
  forever), nor edit the content a leaf commits to.
- Public pages and the public API answer every role the same way: pending or rejected
  declarations are hidden from everyone, and no page names the staff member viewing it
  (public pages may be cached and mirrored).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry, LogState
from tallylog.registry.volunteers.models import Role

ROLES = ["anonymous", Role.VOLUNTEER, Role.COORDINATOR, Role.MODERATOR, Role.OPERATOR, "superuser"]
LOG_RECORDS = {"entries.logentry", "entries.logstate", "entries.milestone"}


def client_as(site: dict[str, object], role: str) -> Client:
    client = Client()
    user = site["users"][role]  # type: ignore[index]
    if user is not None:
        client.force_login(user)
    return client


def admin_urls() -> Iterator[tuple[str, str, str]]:
    """(model label, action, URL) for every registered model's admin views."""
    for model in admin.site._registry:
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        info = (model._meta.app_label, model._meta.model_name)
        yield label, "changelist", reverse("admin:{}_{}_changelist".format(*info))
        yield label, "add", reverse("admin:{}_{}_add".format(*info))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            for action in ("change", "delete", "history"):
                yield label, action, reverse(f"admin:%s_%s_{action}" % info, args=[obj.pk])


@pytest.mark.parametrize("role", ROLES)
def test_admin_by_role(site, role):
    client = client_as(site, role)
    urls = list(admin_urls())
    assert {label for label, _, _ in urls} >= LOG_RECORDS | {"declarations.declaration"}
    index = client.get(reverse("admin:index"))
    if role not in (Role.OPERATOR, "superuser"):
        assert index.status_code == 302 and "/admin/login/" in index["Location"]
        for label, action, url in urls:
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (role, label, action)
            response = client.post(url, {"post": "yes"})
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (role, label, action)
        return
    assert index.status_code == 200
    for label, action, url in urls:
        status = client.get(url).status_code
        if (label in LOG_RECORDS and action in ("add", "delete")) or (label == "declarations.declaration" and action in ("add", "delete")):
            assert status == 403, (role, label, action)
        elif action in ("changelist", "history"):
            assert status == 200, (role, label, action, status)  # read-only records still show
        else:
            assert status in (200, 403), (role, label, action, status)  # each ModelAdmin's own rule


@pytest.mark.parametrize("role", [Role.OPERATOR, "superuser"])
def test_log_records_and_committed_content_cannot_be_changed_in_admin(site, role):
    client = client_as(site, role)
    entry = LogEntry.objects.sequenced().first()
    state = LogState.objects.first()
    before = (entry.log_index, bytes(entry.leaf), state.size, bytes(state.root))
    for model, obj in (("logentry", entry), ("logstate", state)):
        url = reverse(f"admin:entries_{model}_change", args=[obj.pk])
        assert client.post(url, {"log_index": 99, "size": 99, "day": "2000-01-01"}).status_code == 403
        url = reverse(f"admin:entries_{model}_delete", args=[obj.pk])
        assert client.post(url, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    state.refresh_from_db()
    assert (entry.log_index, bytes(entry.leaf), state.size, bytes(state.root)) == before
    # The content a leaf commits to is read-only in the declaration's change form.
    declaration: Declaration = site["public"]
    url = reverse("admin:declarations_declaration_change", args=[declaration.pk])
    client.post(url, {"alias": "篡改", "statement": "篡改", "region": "", "orgs": '["pioneers"]'})
    declaration.refresh_from_db()
    assert (declaration.alias, declaration.orgs) == ("公开者", ["party"])
    # Deleting through the changelist's bulk action is refused too.
    changelist = reverse("admin:declarations_declaration_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [declaration.pk], "post": "yes"})
    assert Declaration.objects.filter(pk=declaration.pk).exists()


@pytest.mark.parametrize("role", ROLES)
def test_public_surfaces_same_for_every_role(site, role):
    client = client_as(site, role)
    public, held = site["public"], site["held"]
    user = site["users"][role]
    pages = ["/", "/declarations/", f"/entries/{public.log_index}/", "/declare/", "/receipt/", "/transparency/",
             "/log/checkpoint", "/api/v1/log", "/api/v1/campaigns", "/api/v1/campaigns/three-withdrawals/tally",
             "/api/v1/campaigns/three-withdrawals/declarations", f"/api/v1/entries/{public.log_index}"]  # fmt: skip
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, (role, url, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if user is not None:
            assert user.get_username().encode() not in body, (role, url)
        assert "待审者".encode() not in body, (role, url)
    # A declaration held for review is not public, whoever asks.
    for url in (f"/declarations/{held.pk}/", f"/api/v1/declarations/{held.pk}"):
        assert client.get(url).status_code == 404, (role, url)
