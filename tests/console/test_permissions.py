"""The permission matrix: every role against every console, API and admin action, and
the scope rules (own calls, own centre, all)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import AssistedDeclaration, Call, Staff

from .conftest import PASSWORD, Team, login

ROLES = ("anonymous", "volunteer", "coordinator", "moderator", "operator")


@dataclass
class World:
    team: Team
    own_call: Call  # the volunteer's
    colleague_call: Call  # another LA volunteer's
    outsider_call: Call  # an SF volunteer's
    held: Declaration  # recorded by the colleague, who is held for review


@pytest.fixture
def world(team: Team) -> World:
    def call_with_declaration(staff: Staff, alias: str) -> tuple[Call, Declaration]:
        call = actions.record_call(staff, outcome="listened", language="mandarin", duration="1-5")
        declaration = actions.record_declaration(staff, call, alias=alias, orgs=["party"]).declaration
        return call, declaration

    own, _ = call_with_declaration(team.volunteer, "own-alias")
    actions.set_review_required(team.colleague, True)
    colleague, held = call_with_declaration(team.colleague, "colleague-alias")
    outsider, _ = call_with_declaration(team.outsider, "outsider-alias")
    assert held.status == Declaration.Status.PENDING
    return World(team, own, colleague, outsider, held)


CALL = {"outcome": "thanked", "language": "mandarin", "duration": "1-5", "region": "", "note": ""}
LOGIN, ADMIN_LOGIN = "login", "admin-login"


@dataclass
class Action:
    method: str
    url: Callable[[World], str]
    data: Callable[[World], dict[str, Any]] | None = None
    json: bool = False


ACTIONS: dict[str, tuple[Action, dict[str, int | str]]] = {
    # name: (action, expected answer per role: a status, or where it redirects)
    "console home": (Action("get", lambda w: "/console/"),
        {"anonymous": LOGIN, "volunteer": 200, "coordinator": 200, "moderator": 200, "operator": 200}),
    "new call form": (Action("get", lambda w: "/console/calls/new/"),
        {"anonymous": LOGIN, "volunteer": 200, "coordinator": 200, "moderator": 403, "operator": 403}),
    "record a call": (Action("post", lambda w: "/console/calls/new/", lambda w: CALL),
        {"anonymous": LOGIN, "volunteer": 302, "coordinator": 302, "moderator": 403, "operator": 403}),
    "intake on the volunteer's call": (Action("get", lambda w: f"/console/calls/{w.own_call.pk}/intake/"),
        {"anonymous": LOGIN, "volunteer": 200, "coordinator": 403, "moderator": 403, "operator": 403}),
    "record a declaration on another's call": (
        Action("post", lambda w: f"/console/calls/{w.colleague_call.pk}/intake/",
               lambda w: {"alias": "x", "orgs": ["party"]}),
        {"anonymous": LOGIN, "volunteer": 404, "coordinator": 403, "moderator": 403, "operator": 403}),
    "list calls": (Action("get", lambda w: "/console/calls/"),
        {"anonymous": LOGIN, "volunteer": 200, "coordinator": 200, "moderator": 403, "operator": 200}),
    "list recorded declarations": (Action("get", lambda w: "/console/recorded/"),
        {"anonymous": LOGIN, "volunteer": 200, "coordinator": 200, "moderator": 403, "operator": 200}),
    "own centre statistics": (Action("get", lambda w: "/console/stats/"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 200, "moderator": 403, "operator": 200}),
    "another centre's statistics": (Action("get", lambda w: "/console/stats/?centre=san-francisco"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 403, "moderator": 403, "operator": 200}),
    "statistics as CSV": (Action("get", lambda w: "/console/stats.csv"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 200, "moderator": 403, "operator": 200}),
    "see centres": (Action("get", lambda w: "/console/centres/"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 200, "moderator": 403, "operator": 200}),
    "create a centre": (Action("post", lambda w: "/console/centres/", lambda w: {"name": "New York"}),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 403, "moderator": 403, "operator": 302}),
    "see staff": (Action("get", lambda w: "/console/staff/"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 200, "moderator": 403, "operator": 200}),
    "add a volunteer": (
        Action("post", lambda w: "/console/staff/",
               lambda w: {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD,
                          "role": "volunteer", "centre": "los-angeles"}),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 302, "moderator": 403, "operator": 302}),
    "require review for a volunteer": (
        Action("post", lambda w: f"/console/staff/{w.team.volunteer.pk}/review/", lambda w: {"required": "1"}),
        {"anonymous": LOGIN, "volunteer": 404, "coordinator": 302, "moderator": 404, "operator": 302}),
    "review queue": (Action("get", lambda w: "/console/review/"),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 403, "moderator": 200, "operator": 200}),
    "publish a held declaration": (
        Action("post", lambda w: "/console/review/", lambda w: {"declaration": w.held.pk, "decision": "publish"}),
        {"anonymous": LOGIN, "volunteer": 403, "coordinator": 403, "moderator": 302, "operator": 302}),
    "admin index": (Action("get", lambda w: "/admin/"),
        {"anonymous": ADMIN_LOGIN, "volunteer": ADMIN_LOGIN, "coordinator": ADMIN_LOGIN,
         "moderator": ADMIN_LOGIN, "operator": 200}),
    "admin: calls": (Action("get", lambda w: "/admin/volunteers/call/"),
        {"anonymous": ADMIN_LOGIN, "volunteer": ADMIN_LOGIN, "coordinator": ADMIN_LOGIN,
         "moderator": ADMIN_LOGIN, "operator": 200}),
    "admin: who recorded what": (Action("get", lambda w: "/admin/volunteers/assisteddeclaration/"),
        {"anonymous": ADMIN_LOGIN, "volunteer": ADMIN_LOGIN, "coordinator": ADMIN_LOGIN,
         "moderator": ADMIN_LOGIN, "operator": 200}),
    "admin: staff": (Action("get", lambda w: "/admin/volunteers/staff/"),
        {"anonymous": ADMIN_LOGIN, "volunteer": ADMIN_LOGIN, "coordinator": ADMIN_LOGIN,
         "moderator": ADMIN_LOGIN, "operator": 200}),
    "API: list calls": (Action("get", lambda w: "/api/v1/console/calls"),
        {"anonymous": 401, "volunteer": 200, "coordinator": 200, "moderator": 403, "operator": 200}),
    "API: record a call": (Action("post", lambda w: "/api/v1/console/calls", lambda w: CALL, json=True),
        {"anonymous": 401, "volunteer": 201, "coordinator": 201, "moderator": 403, "operator": 403}),
    "API: record a declaration on the volunteer's call": (
        Action("post", lambda w: f"/api/v1/console/calls/{w.own_call.pk}/declarations",
               lambda w: {"alias": "api-alias", "orgs": ["league"]}, json=True),
        {"anonymous": 401, "volunteer": 201, "coordinator": 403, "moderator": 404, "operator": 403}),
    "API: recorded declarations": (Action("get", lambda w: "/api/v1/console/recorded"),
        {"anonymous": 401, "volunteer": 200, "coordinator": 200, "moderator": 200, "operator": 200}),
    "API: statistics": (Action("get", lambda w: "/api/v1/console/stats"),
        {"anonymous": 401, "volunteer": 403, "coordinator": 200, "moderator": 403, "operator": 200}),
    "API: another centre's statistics": (Action("get", lambda w: "/api/v1/console/stats?centre=san-francisco"),
        {"anonymous": 401, "volunteer": 403, "coordinator": 403, "moderator": 403, "operator": 200}),
}  # fmt: skip


def _client(world: World, role: str) -> Client:
    if role == "anonymous":
        return Client()
    return login(world.team.by_role()[role])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_permission_matrix(world: World, name: str, role: str) -> None:
    action, expected_by_role = ACTIONS[name]
    expected = expected_by_role[role]
    client = _client(world, role)
    kwargs: dict[str, Any] = {}
    if action.data is not None:
        kwargs = {"data": action.data(world)}
        if action.json:
            kwargs["content_type"] = "application/json"
    response = getattr(client, action.method)(action.url(world), **kwargs)
    if expected == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/console/login/")
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    else:
        assert response.status_code == expected, response.content.decode()[:500]
        if expected == 302:
            assert not response["Location"].startswith(("/console/login/", "/admin/login/"))


def test_every_role_is_in_every_row() -> None:
    for name, (_action, expected) in ACTIONS.items():
        assert set(expected) == set(ROLES), name


# --- scope: who sees whose calls and declarations --------------------------------------


def _aliases(html: str) -> set[str]:
    return {a for a in ("own-alias", "colleague-alias", "outsider-alias") if a in html}


def test_a_volunteer_sees_only_their_own_calls_and_declarations(world: World) -> None:
    client = login(world.team.volunteer)
    assert _aliases(client.get("/console/recorded/").content.decode()) == {"own-alias"}
    calls = client.get("/api/v1/console/calls").json()
    assert {c["id"] for c in calls} == {world.own_call.pk}
    recorded = client.get("/api/v1/console/recorded").json()
    assert {r["volunteer"] for r in recorded} == {"volunteer-wei"}


def test_a_coordinator_sees_their_centre_only(world: World) -> None:
    client = login(world.team.coordinator)
    assert _aliases(client.get("/console/recorded/").content.decode()) == {"own-alias", "colleague-alias"}
    calls = client.get("/api/v1/console/calls").json()
    assert {c["id"] for c in calls} == {world.own_call.pk, world.colleague_call.pk}
    page = client.get("/console/calls/").content.decode()
    assert "San Francisco" not in page and "volunteer-wei" in page and "lan" in page


def test_an_operator_sees_every_centre(world: World) -> None:
    client = login(world.team.operator)
    assert _aliases(client.get("/console/recorded/").content.decode()) == {
        "own-alias", "colleague-alias", "outsider-alias"
    }
    calls = client.get("/api/v1/console/calls").json()
    assert len(calls) == 3
    stats = client.get("/console/stats/").content.decode()
    assert "Los Angeles" in stats and "San Francisco" in stats


def test_a_moderator_sees_held_declarations_but_not_who_recorded_them(world: World) -> None:
    page = login(world.team.moderator).get("/console/review/").content.decode()
    assert "colleague-alias" in page
    assert "lan" not in page.replace("lang", "").replace("plan", "")  # the colleague's username
    assert "own-alias" not in page  # published at once: not held


def test_a_coordinator_cannot_manage_another_centres_volunteer(world: World) -> None:
    client = login(world.team.sf_coordinator)
    response = client.post(f"/console/staff/{world.team.volunteer.pk}/review/", {"required": "1"})
    assert response.status_code == 404
    world.team.volunteer.refresh_from_db()
    assert world.team.volunteer.review_required is False
    with pytest.raises(actions.NotAllowed):
        actions.set_review_required(world.team.volunteer, True, by=world.team.sf_coordinator)


def test_a_held_volunteer_records_pending_declarations_that_a_moderator_publishes(world: World) -> None:
    assert world.held.entry_id is None
    response = login(world.team.moderator).post(
        "/console/review/", {"declaration": world.held.pk, "decision": "publish"}
    )
    assert response.status_code == 302
    world.held.refresh_from_db()
    assert world.held.status == Declaration.Status.PUBLISHED and world.held.entry_id is not None


def test_rejecting_needs_a_reason(world: World) -> None:
    client = login(world.team.moderator)
    response = client.post("/console/review/", {"declaration": world.held.pk, "decision": "reject", "reason": ""})
    assert response.status_code == 422
    world.held.refresh_from_db()
    assert world.held.status == Declaration.Status.PENDING
    response = client.post(
        "/console/review/", {"declaration": world.held.pk, "decision": "reject", "reason": "not a declaration"}
    )
    assert response.status_code == 302
    world.held.refresh_from_db()
    assert world.held.status == Declaration.Status.REJECTED and world.held.entry_id is None
    assert AssistedDeclaration.objects.filter(declaration=world.held).exists()


def test_the_review_queue_holds_every_pending_declaration(world: World) -> None:
    """Web declarations waiting under a ``review`` campaign are moderated there too."""
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.actions import submit_declaration

    campaign = Campaign.objects.get()
    campaign.policy = Campaign.Policy.REVIEW
    campaign.save()
    web = submit_declaration(campaign, alias="web-alias", orgs=["league"]).declaration
    page = login(world.team.moderator).get("/console/review/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "web-alias" in page and "colleague-alias" in page
    assert page.index("colleague-alias") < page.index("web-alias")  # oldest first
    assert web.status == Declaration.Status.PENDING
