"""Fixtures for the console tests: two centres and one staff member of every role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from tallylog.registry.campaigns.defaults import ensure_default_campaign
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Centre, Role, Staff

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def campaign(db: None) -> Campaign:
    return ensure_default_campaign()[0]


@dataclass
class Team:
    la: Centre
    sf: Centre
    volunteer: Staff  # at LA
    colleague: Staff  # another volunteer at LA
    outsider: Staff  # a volunteer at SF
    coordinator: Staff  # runs LA
    sf_coordinator: Staff  # runs SF
    moderator: Staff
    operator: Staff

    def by_role(self) -> dict[str, Staff]:
        return {
            "volunteer": self.volunteer,
            "coordinator": self.coordinator,
            "moderator": self.moderator,
            "operator": self.operator,
        }


@pytest.fixture
def team(campaign: Campaign) -> Team:
    la = actions.create_centre("Los Angeles")
    sf = actions.create_centre("San Francisco")

    def add(name: str, role: str, centre: Centre | None) -> Staff:
        return actions.add_staff(name, role=role, centre=centre, password=PASSWORD)

    return Team(
        la=la,
        sf=sf,
        volunteer=add("volunteer-wei", Role.VOLUNTEER, la),
        colleague=add("lan", Role.VOLUNTEER, la),
        outsider=add("ming", Role.VOLUNTEER, sf),
        coordinator=add("hua", Role.COORDINATOR, la),
        sf_coordinator=add("jun", Role.COORDINATOR, sf),
        moderator=add("mei", Role.MODERATOR, None),
        operator=add("root-op", Role.OPERATOR, None),
    )


def login(staff: Staff) -> Client:
    """A client logged in through the console's login page (not ``force_login``)."""
    client = Client()
    response = client.post("/console/login/", {"username": staff.user.get_username(), "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


RECEIPT = re.compile(r'<p class="receipt-code" id="receipt">(\d{5}(?:-\d{5}){4})</p>')


def receipt_in(html: str) -> str:
    found = RECEIPT.search(html)
    assert found, "no receipt code on the page"
    return found.group(1)


@pytest.fixture
def log_home(tmp_path: Path) -> Iterator[object]:
    """A fresh home with a signing key, so the sequencer can write a log."""
    from tallylog.composition import ensure_signing_key, get_log, reset_log_for_tests
    from tallylog.home import Home

    home = Home.from_env(tmp_path / "home")
    home.ensure()
    ensure_signing_key(home, "example.org/console-test-log")
    with override_settings(TALLYLOG_HOME=str(home.path)):
        reset_log_for_tests()
        yield get_log()
    reset_log_for_tests()
    shutil.rmtree(home.path, ignore_errors=True)


ONCE = re.compile(r'name="once" value="([^"]+)"')


def once_in(html: str) -> str:
    """The intake form's one-time token on a page."""
    found = ONCE.search(html)
    assert found, "no one-time token on the page"
    return found.group(1)
