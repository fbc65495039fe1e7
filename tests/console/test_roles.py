"""Issue 15 item 7: what a person may do follows their role as it is now, on every
request — pages, the admin and the API — and review holds follow rank."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Role, Staff

from .conftest import Team, login


def admin_sets_role(operator: Staff, member: Staff, role: str, centre: int | None) -> None:
    """An operator changes ``member``'s role on the admin's change page, as in the issue."""
    client = login(operator)
    response = client.post(
        f"/admin/volunteers/staff/{member.pk}/change/",
        {"user": member.user_id, "role": role, "centre": centre or "", "review_held_by": ""},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    member.refresh_from_db()
    assert member.role == role


def test_an_operator_demoted_to_moderator_loses_the_admin_at_once(team: Team) -> None:
    demoted = actions.add_staff("second-op", role=Role.OPERATOR, password="correct horse battery staple")
    client = login(demoted)  # signed in before the demotion
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/console/staff/").status_code == 200
    admin_sets_role(team.operator, demoted, Role.MODERATOR, None)
    for url in ("/admin/", "/admin/auth/user/", "/admin/volunteers/staff/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    assert client.get("/console/staff/").status_code == 403
    assert client.get("/console/review/").status_code == 200  # what a moderator does
    # The stored copies follow too.
    user = demoted.user
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [Role.MODERATOR]


def test_the_role_is_checked_on_every_request_even_when_the_stored_flags_lag(team: Team) -> None:
    """A role changed behind the sync (a bulk update, a restored backup, an edited user
    row): the role read on the request decides, not is_staff, is_superuser or groups."""
    client = login(team.operator)
    assert client.get("/admin/").status_code == 200
    Staff.objects.filter(pk=team.operator.pk).update(role=Role.MODERATOR)
    type(team.operator.user).objects.filter(pk=team.operator.user_id).update(is_staff=True, is_superuser=True)
    team.operator.user.groups.set([Group.objects.get(name=Role.OPERATOR)])
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/auth/user/").status_code == 302
    assert client.get("/console/staff/").status_code == 403
    assert client.get("/console/stats/").status_code == 403


def test_a_coordinator_demoted_to_volunteer_no_longer_reads_statistics(team: Team) -> None:
    coordinator = team.coordinator
    client = login(coordinator)
    token = actions.issue_token(coordinator.user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/console/stats/").status_code == 200
    assert api.get("/api/v1/console/stats").status_code == 200
    assert client.get("/console/staff/").status_code == 200
    admin_sets_role(team.operator, coordinator, Role.VOLUNTEER, team.la.pk)
    assert client.get("/console/stats/").status_code == 403
    assert client.get("/console/stats.csv").status_code == 403
    assert client.get("/console/staff/").status_code == 403
    response = api.get("/api/v1/console/stats")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    # Only their own calls now, through the API too.
    call = actions.record_call(team.colleague, outcome="listened", language="mandarin", duration="1-5")
    assert call.pk not in [c["id"] for c in api.get("/api/v1/console/calls").json()]


def test_a_promotion_takes_effect_at_once_too(team: Team) -> None:
    client = login(team.volunteer)
    token = actions.issue_token(team.volunteer.user)
    assert client.get("/console/stats/").status_code == 403
    admin_sets_role(team.operator, team.volunteer, Role.COORDINATOR, team.la.pk)
    assert client.get("/console/stats/").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/console/stats").status_code == 200


def lift(manager: Staff, member: Staff) -> int:
    return login(manager).post(f"/console/staff/{member.pk}/review/", {"required": "0"}).status_code


def hold(manager: Staff, member: Staff) -> int:
    return login(manager).post(f"/console/staff/{member.pk}/review/", {"required": "1"}).status_code


def held(member: Staff) -> bool:
    member.refresh_from_db()
    return member.review_required


def test_nobody_lifts_a_hold_on_themselves(team: Team) -> None:
    second = actions.add_staff("second-op", role=Role.OPERATOR, password="correct horse battery staple")
    actions.set_review_required(team.coordinator, True, by=team.operator)
    actions.set_review_required(second, True)
    assert lift(team.coordinator, team.coordinator) == 403 and held(team.coordinator)
    assert lift(second, second) == 403 and held(second)
    with pytest.raises(actions.NotAllowed):
        actions.set_review_required(team.coordinator, False, by=team.coordinator)
    assert held(team.coordinator)


def test_a_coordinator_cannot_lift_an_operators_hold_on_a_volunteer(team: Team) -> None:
    actions.set_review_required(team.volunteer, True, by=team.operator)
    assert lift(team.coordinator, team.volunteer) == 403 and held(team.volunteer)
    # Holding again does not lower the hold's rank to theirs.
    assert hold(team.coordinator, team.volunteer) == 302
    assert lift(team.coordinator, team.volunteer) == 403 and held(team.volunteer)
    assert lift(team.operator, team.volunteer) == 302 and not held(team.volunteer)


def test_a_coordinator_holds_and_lifts_their_volunteers_only(team: Team) -> None:
    assert hold(team.coordinator, team.volunteer) == 302 and held(team.volunteer)
    assert lift(team.coordinator, team.volunteer) == 302 and not held(team.volunteer)
    co = actions.add_staff("co-coord", role=Role.COORDINATOR, centre=team.la, password="correct horse battery staple")
    actions.set_review_required(co, True, by=team.operator)
    assert lift(team.coordinator, co) == 403 and held(co)  # the same rank: no
    assert hold(team.coordinator, team.outsider) == 404  # another centre's: not even found


def test_holds_from_the_command_line_are_an_operators(team: Team) -> None:
    actions.set_review_required(team.volunteer, True)  # `tallylog staff review --on`
    assert lift(team.coordinator, team.volunteer) == 403
    actions.set_review_required(team.volunteer, False)
    assert not held(team.volunteer)


def test_an_operator_whose_staff_record_is_deleted_loses_the_admin(team: Team) -> None:
    """With no staff record Django's own rules apply: the stored flags and groups must
    not still make them an operator."""
    demoted = actions.add_staff("second-op", role=Role.OPERATOR, password="correct horse battery staple")
    client = login(demoted)
    assert client.get("/admin/").status_code == 200
    login(team.operator).post(f"/admin/volunteers/staff/{demoted.pk}/delete/", {"post": "yes"})
    assert not Staff.objects.filter(pk=demoted.pk).exists()
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/auth/user/").status_code == 302
    demoted.user.refresh_from_db()
    assert not demoted.user.is_staff and not demoted.user.groups.exists()


def test_a_hold_placed_in_the_admin_is_an_operators(team: Team) -> None:
    client = login(team.operator)
    response = client.post(
        f"/admin/volunteers/staff/{team.volunteer.pk}/change/",
        {"user": team.volunteer.user_id, "role": Role.VOLUNTEER, "centre": team.la.pk, "review_required": "on"},
    )
    assert response.status_code == 302 and held(team.volunteer)
    assert team.volunteer.review_held_by == Role.OPERATOR
    assert lift(team.coordinator, team.volunteer) == 403 and held(team.volunteer)
