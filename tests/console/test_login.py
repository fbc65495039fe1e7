"""Staff login: Argon2 hashes, limited failures (no address stored), expiring sessions."""

from __future__ import annotations

import re
import time

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings

from tallylog.registry.volunteers import actions

from .conftest import PASSWORD, Team, login


def _try(client: Client, username: str, password: str) -> int:
    return client.post("/console/login/", {"username": username, "password": password}).status_code


def test_staff_passwords_are_hashed_with_argon2(db: None) -> None:
    from tallylog import settings as production

    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        staff = actions.add_staff("argon", role="moderator", password=PASSWORD)
        assert staff.user.password.startswith("argon2$argon2id$")
        assert Client().post("/console/login/", {"username": "argon", "password": PASSWORD}).status_code == 302


@override_settings(TALLYLOG_RATE_LIMITS="login=3/900,login-account=5/900")
def test_failures_lock_that_source_out(team: Team) -> None:
    client = Client(REMOTE_ADDR="192.0.2.90")
    name = team.volunteer.user.get_username()
    for _ in range(3):
        assert _try(client, name, "wrong password") == 200
    # Now even the right password is refused, with a message that says why and how long.
    response = client.post("/console/login/", {"username": name, "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert re.search(r"Too many failed sign-ins from your connection\. Please wait ([1-9]|1[0-5]) minutes?", response.content.decode())
    assert "_auth_user_id" not in client.session
    # Another source signs in to that very account.
    assert _try(Client(REMOTE_ADDR="192.0.2.91"), name, PASSWORD) == 302


@override_settings(TALLYLOG_RATE_LIMITS="login=3/900,login-account=5/900")
def test_successes_are_never_counted(team: Team) -> None:
    """A service centre behind one address signs in all day long."""
    names = [team.volunteer.user.get_username(), team.colleague.user.get_username()]
    for i in range(12):
        assert _try(Client(REMOTE_ADDR="192.0.2.92"), names[i % 2], PASSWORD) == 302
    for _ in range(2):
        assert _try(Client(REMOTE_ADDR="192.0.2.92"), names[0], "wrong") == 200
    assert _try(Client(REMOTE_ADDR="192.0.2.92"), names[1], PASSWORD) == 302


def test_no_address_is_stored_anywhere(team: Team) -> None:
    """After logins, failures and console work from a known address, no table holds it."""
    address = "203.0.113.77"
    client = Client(REMOTE_ADDR=address)
    name = team.volunteer.user.get_username()
    client.post("/console/login/", {"username": name, "password": "wrong"})
    client.post("/console/login/", {"username": name, "password": PASSWORD})
    client.post("/console/calls/new/", {"outcome": "thanked", "language": "mandarin", "duration": "1-5"})
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                assert address not in repr(row), table
    for session in Session.objects.all():
        assert address not in repr(session.get_decoded())


def test_non_staff_users_cannot_use_the_console(db: None) -> None:
    get_user_model().objects.create_user("visitor", password=PASSWORD)
    response = Client().post("/console/login/", {"username": "visitor", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "no place in the service centre console" in response.content.decode()


def test_deactivated_staff_cannot_log_in_and_lose_their_tokens(team: Team) -> None:
    token = actions.issue_token(team.volunteer.user)
    client = login(team.volunteer)
    actions.deactivate(team.volunteer, by=team.coordinator)
    assert client.get("/console/").status_code == 302  # the session no longer logs in
    assert _try(Client(), team.volunteer.user.get_username(), PASSWORD) == 200
    response = Client().get("/api/v1/console/calls", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_sessions_expire_when_idle(team: Team) -> None:
    client = login(team.volunteer)
    assert 0 < client.session.get_expiry_age() <= 30 * 60
    session = Session.objects.get(session_key=client.session.session_key)
    session.expire_date = session.expire_date.replace(year=2000)
    session.save()
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_sessions_end_after_their_maximum_age(team: Team) -> None:
    client = login(team.volunteer)
    session = client.session
    session["console_login_at"] = int(time.time()) - 13 * 3600
    session.save()
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")
    assert client.get("/console/").status_code == 302  # and it stays ended


def test_api_tokens(team: Team) -> None:
    token = actions.issue_token(team.volunteer.user, "centre tool")
    assert token.startswith("tlv_")
    assert token not in repr(list(team.volunteer.user.api_tokens.values()))  # only a digest is kept
    client = Client()
    ok = client.get("/api/v1/console/calls", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ok.status_code == 200
    created = client.post(
        "/api/v1/console/calls",
        {"outcome": "hung_up", "language": "cantonese", "duration": "lt1"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert created.status_code == 201 and created.json()["centre"] == "los-angeles"
    for bad in ("tlv_nope", token + "x", "nope"):
        assert client.get("/api/v1/console/calls", HTTP_AUTHORIZATION=f"Bearer {bad}").status_code == 401


def test_api_session_writes_need_the_csrf_token(team: Team) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/console/login/")
    csrf = page.cookies["csrftoken"].value
    client.post("/console/login/", {"username": "volunteer-wei", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    body = {"outcome": "hung_up", "language": "cantonese", "duration": "lt1"}
    refused = client.post("/api/v1/console/calls", body, content_type="application/json")
    assert refused.status_code == 403
    csrf = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/console/calls", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201
