"""Issue 17: a volunteer records a family that wrote in, by keyboard alone, in a real
browser (Debian's Chromium, headless) with JavaScript off: Shift+Tab from the alias
reaches the channel's radio group, an arrow key chooses email; Tab reaches "Add a family
member", the page comes back with the new member's alias focused and the first member's
typing kept; Enter in a field records the whole family (the record button is the form's
first); each code comes back under its alias."""

from __future__ import annotations

import re

import pytest

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers import actions
from tests.support.chromium import browser

from .conftest import PASSWORD, Team

pytestmark = [pytest.mark.slow, pytest.mark.server]
RECEIPT = re.compile(r"^\d{5}(-\d{5}){4}$")


def test_a_family_by_email_recorded_by_keyboard_alone(transactional_db: None, team: Team, live_server) -> None:  # type: ignore[no-untyped-def]
    call = actions.record_call(team.volunteer, outcome="declared", language="mandarin", duration="15-30")
    with browser() as chromium:
        context = chromium.new_context(java_script_enabled=False, locale="en-US", base_url=live_server.url)
        page = context.new_page()
        page.goto("/console/login/")
        page.keyboard.type("volunteer-wei")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")

        page.goto(f"/console/calls/{call.pk}/intake/")
        focused = page.locator(":focus")
        assert focused.get_attribute("name") == "alias"
        page.keyboard.press("Shift+Tab")  # the channel: one stop, on the checked radio
        assert (focused.get_attribute("name"), focused.get_attribute("value")) == ("channel", "phone")
        page.keyboard.press("ArrowDown")  # email
        assert page.locator("input[name=channel]:checked").get_attribute("value") == "email"
        page.keyboard.press("Tab")
        assert focused.get_attribute("name") == "alias"
        page.keyboard.type("Old Zhang")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the Party
        for _ in range(5):  # league, pioneers, statement, region, then the record button
            page.keyboard.press("Tab")
        assert focused.get_attribute("accesskey") == "d"
        page.keyboard.press("Tab")
        assert focused.get_attribute("value") == "add"
        with page.expect_navigation():
            page.keyboard.press("Enter")  # Add a family member

        assert focused.get_attribute("name") == "m1-alias"
        assert page.locator("input[name=alias]").input_value() == "Old Zhang"
        assert page.locator("input[name=channel]:checked").get_attribute("value") == "email"
        page.keyboard.type("Zhang's wife")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the League
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        assert focused.get_attribute("name") == "m1-alias"
        with page.expect_navigation():
            page.keyboard.press("Enter")  # records: the form's first button

        aliases = page.locator(".receipt-alias").all_inner_texts()
        codes = [c.strip() for c in page.locator(".receipt-code").all_inner_texts()]
        assert aliases == ["Alias: Old Zhang", "Alias: Zhang's wife"]
        assert all(RECEIPT.match(code) for code in codes) and len(set(codes)) == 2
        assert page.locator(":focus").get_attribute("name") == "alias"  # ready for the next declaration
        context.close()
    declarations = Declaration.objects.order_by("alias")
    assert [(d.alias, d.orgs, d.channel) for d in declarations] == [
        ("Old Zhang", ["party"], "email"),
        ("Zhang's wife", ["league"], "email"),
    ]
