"""Fixtures for the console tests: two centres and one staff member of every role."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client

from tallylog.composition import LogServices
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Centre, Role, Staff
from tests.support.staff import PASSWORD

__all__ = ["PASSWORD", "Team", "login", "once_in", "receipt_in"]



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


def found_in(pattern: re.Pattern[str], html: str, what: str) -> str:
    """The first group of ``pattern``'s first match on a page (failing the test without one)."""
    found = pattern.search(html)
    assert found, f"no {what} on the page"
    return found.group(1)


def receipt_in(html: str) -> str:
    """The receipt code shown on a page."""
    return found_in(RECEIPT, html, "receipt code")


@pytest.fixture
def log_home(log: LogServices) -> LogServices:
    """A fresh home with a signing key, so the sequencer can write a log (the root conftest's ``log``)."""
    return log


ONCE = re.compile(r'name="once" value="([^"]+)"')


def once_in(html: str) -> str:
    """The intake form's one-time token on a page."""
    return found_in(ONCE, html, "one-time token")
