"""Bad input to the call log and the intake: clear errors, nothing saved.

Unknown outcome, future dates, a phone-number-like string in any free-text field, a
volunteer recording for a centre not their own — through the page, the API and the
actions alike."""

from __future__ import annotations

import datetime
import json

import pytest
from django.test import Client

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import AssistedDeclaration, Call
from tallylog.registry.volunteers.validators import latest_today

from .conftest import Team, login, once_in

GOOD = {"outcome": "listened", "language": "mandarin", "duration": "5-15", "region": "", "note": ""}
PHONES = [
    "13800138000",
    "call back on +86 138 0013 8000",
    "(010) 6512-3456",
    "１３８００１３８０００",  # full-width digits
    "一三八零零一三八零零零",  # dictated in Chinese numerals
    "幺三八 洞洞幺三 八洞洞洞",  # the way digits are read out over the phone
]


def _nothing_saved() -> None:
    assert Call.objects.count() == 0
    assert Declaration.objects.count() == 0
    assert AssistedDeclaration.objects.count() == 0


def _api(client: Client, url: str, body: dict) -> tuple[int, dict]:
    response = client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


# --- the page --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"outcome": "swore"}, "outcome", "Select a valid choice"),
        ({"outcome": ""}, "outcome", "Choose the outcome of the call."),
        ({"language": ""}, "language", "Choose the language of the call."),
        ({"duration": ""}, "duration", "Choose how long the call lasted."),
        ({"language": "klingon"}, "language", "Select a valid choice"),
        ({"duration": "3h"}, "duration", "Select a valid choice"),
        ({"region": "atlantis"}, "region", "Select a valid choice"),
        ({"called_on": "2999-01-01"}, "called_on", "A call cannot be dated in the future."),
        ({"called_on": "yesterday"}, "called_on", "Enter a valid date."),
        *[({"note": phone}, "note", "This looks like a phone number.") for phone in PHONES],
    ],
)
def test_call_form_refuses_bad_input(team: Team, change: dict, field: str, message: str) -> None:
    response = login(team.volunteer).post("/console/calls/new/", {**GOOD, **change}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    # The message sits with its field.
    groups = html.split('class="field"')
    assert any(message in g and f'name="{field}"' in g for g in groups)
    _nothing_saved()


def test_call_form_has_no_field_for_a_phone_number_or_a_name(team: Team) -> None:
    html = login(team.volunteer).get("/console/calls/new/").content.decode()
    for word in ('type="tel"', 'name="phone"', 'name="name"', 'name="number"', 'name="caller"'):
        assert word not in html


def test_a_volunteer_cannot_record_for_another_centre_through_the_page(team: Team) -> None:
    response = login(team.volunteer).post(
        "/console/calls/new/", {**GOOD, "centre": team.sf.slug}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert "You can record calls only for your own centre." in response.content.decode()
    _nothing_saved()


def test_intake_refuses_bad_declarations(team: Team) -> None:
    call = actions.record_call(team.volunteer, **{k: v for k, v in GOOD.items()})
    client = login(team.volunteer)
    url = f"/console/calls/{call.pk}/intake/"
    once = once_in(client.get(url).content.decode())
    for data, message in (
        ({"alias": "", "orgs": ["party"]}, "This field is required."),
        ({"alias": "x", "orgs": []}, "This field is required."),
        ({"alias": "x", "orgs": ["army"]}, "Select a valid choice."),
        ({"alias": "x", "orgs": ["party"], "statement": "x" * 1001}, "at most 1000 characters"),
        ({"alias": "x", "orgs": ["party"], "statement": "my number is 138-0013-8000"}, "looks like a phone number"),
        ({"alias": "138 0013 8000", "orgs": ["party"]}, "looks like a phone number"),
    ):
        response = client.post(url, {**data, "once": once}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 422, data
        assert message in response.content.decode(), data
        assert 'class="receipt-code"' not in response.content.decode()
    assert Declaration.objects.count() == 0
    call.refresh_from_db()
    assert (call.declarations, call.outcome) == (0, "listened")


# --- the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"outcome": "swore"}, 422, "invalid", "outcome"),
        ({"language": "klingon"}, 422, "invalid", "language"),
        ({"region": "atlantis"}, 422, "invalid", "region"),
        ({"called_on": "2999-01-01"}, 422, "invalid", "called_on"),
        ({"centre": "san-francisco"}, 403, "wrong_centre", "centre"),
        ({"centre": "nowhere"}, 422, "unknown_centre", "centre"),
        *[({"note": phone}, 422, "phone_number", "note") for phone in PHONES],
        ({"region": "13800138000"}, 422, "phone_number", "region"),
    ],
)
def test_call_api_refuses_bad_input(team: Team, change: dict, status: int, code: str, field: str) -> None:
    got, body = _api(login(team.volunteer), "/api/v1/console/calls", {**GOOD, **change})
    assert got == status, body
    assert body["error"]["code"] == code
    assert field in body["error"]["fields"]
    assert body["error"]["message"]
    _nothing_saved()


@pytest.mark.parametrize("extra", ["phone", "name", "caller_number"])
def test_call_api_refuses_fields_it_does_not_know(team: Team, extra: str) -> None:
    got, body = _api(login(team.volunteer), "/api/v1/console/calls", {**GOOD, extra: "x"})
    assert got == 422
    assert "error" in body
    _nothing_saved()


def test_declaration_api_refuses_bad_input_and_another_centres_call(team: Team) -> None:
    call = actions.record_call(team.outsider, **GOOD)
    got, body = _api(login(team.volunteer), f"/api/v1/console/calls/{call.pk}/declarations", {"alias": "x", "orgs": ["party"]})
    assert got == 404 and body["error"]["code"] == "not_found"
    own = actions.record_call(team.volunteer, **GOOD)
    client = login(team.volunteer)
    got, body = _api(client, f"/api/v1/console/calls/{own.pk}/declarations", {"alias": "", "orgs": ["army"]})
    assert got == 422
    assert set(body["error"]["fields"]) == {"alias", "orgs"}
    got, body = _api(client, f"/api/v1/console/calls/{own.pk}/declarations", {"alias": "x", "orgs": ["party"], "campaign": "nope"})
    assert got == 422 and body["error"]["code"] == "unknown_campaign"
    assert Declaration.objects.count() == 0


# --- the actions -----------------------------------------------------------------------


def test_actions_refuse_what_the_forms_refuse(team: Team) -> None:
    with pytest.raises(actions.ConsoleError) as bad:
        actions.record_call(team.volunteer, **{**GOOD, "outcome": "swore"})
    assert set(bad.value.errors) == {"outcome"}
    with pytest.raises(actions.NotAllowed) as other:
        actions.record_call(team.volunteer, centre=team.sf, **GOOD)
    assert other.value.code == "wrong_centre"
    with pytest.raises(actions.NotAllowed):
        actions.record_call(team.moderator, **GOOD)
    with pytest.raises(actions.NotAllowed):
        actions.record_call(team.operator, **GOOD)
    tomorrow = latest_today() + datetime.timedelta(days=1)
    with pytest.raises(actions.ConsoleError) as future:
        actions.record_call(team.volunteer, called_on=tomorrow, **{k: v for k, v in GOOD.items()})
    assert set(future.value.errors) == {"called_on"}
    # Today, wherever it is latest on Earth, is allowed.
    assert actions.record_call(team.volunteer, called_on=latest_today(), **GOOD).pk
    call = Call.objects.get()
    with pytest.raises(actions.NotAllowed):
        actions.record_declaration(team.colleague, call, alias="x", orgs=["party"])
    assert Declaration.objects.count() == 0


def test_staff_management_refuses_bad_input(team: Team) -> None:
    with pytest.raises(actions.ConsoleError) as weak:
        actions.add_staff("newbie", role="volunteer", centre=team.la, password="123")
    assert "password" in weak.value.errors
    with pytest.raises(actions.ConsoleError) as taken:
        actions.add_staff("volunteer-wei", role="volunteer", centre=team.la, password="a long enough passphrase")
    assert "username" in taken.value.errors
    with pytest.raises(actions.ConsoleError):
        actions.add_staff("newbie", role="volunteer", centre=None, password="a long enough passphrase")
    with pytest.raises(actions.ConsoleError):
        actions.add_staff("newbie", role="moderator", centre=team.la, password="a long enough passphrase")
    with pytest.raises(actions.ConsoleError):
        actions.add_staff("newbie", role="king", password="a long enough passphrase")
    with pytest.raises(actions.NotAllowed):
        actions.add_staff("newbie", role="operator", password="a long enough passphrase", by=team.coordinator)
    with pytest.raises(actions.NotAllowed):
        actions.add_staff("newbie", role="volunteer", centre=team.sf, password="a long enough passphrase", by=team.coordinator)
    with pytest.raises(actions.NotAllowed):
        actions.add_staff("newbie", role="volunteer", centre=team.la, password="a long enough passphrase", by=team.volunteer)
    with pytest.raises(actions.NotAllowed):
        actions.create_centre("Paris", by=team.coordinator)
    with pytest.raises(actions.ConsoleError):
        actions.create_centre("Los Angeles")
    assert not type(team.la).objects.filter(name="Paris").exists()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="newbie").exists()


def test_staff_form_shows_password_errors(team: Team) -> None:
    response = login(team.coordinator).post(
        "/console/staff/", {"username": "newbie", "password1": "short", "password2": "short"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    assert "too short" in response.content.decode()
