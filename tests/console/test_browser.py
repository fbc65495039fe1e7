"""A volunteer records a family's declarations in a real browser (Debian's Chromium,
headless) with JavaScript off, using only the keyboard: the alias has focus, Tab walks
the fields in the order of speech and on to the button that records, and the receipt code comes
back large with the focus on the next alias. No request leaves the site, and no page
trips its Content-Security-Policy."""

from __future__ import annotations

import re

import pytest

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers import actions
from tests.support.chromium import browser

from .conftest import PASSWORD, Team

pytestmark = [pytest.mark.slow, pytest.mark.server]
RECEIPT = re.compile(r"^\d{5}(-\d{5}){4}$")


def test_a_family_declares_by_keyboard_alone(transactional_db: None, team: Team, live_server) -> None:  # type: ignore[no-untyped-def]
    call = actions.record_call(team.volunteer, outcome="declared", language="mandarin", duration="15-30")
    origin = live_server.url
    receipts = []
    with browser() as chromium:
        context = chromium.new_context(java_script_enabled=False, locale="en-US", base_url=origin)
        page = context.new_page()
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        failed: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

        page.goto("/console/login/")
        assert page.locator(":focus").get_attribute("name") == "username"
        page.keyboard.type("volunteer-wei")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/console/"), re.sub(r"<style>.*?</style>", "", page.content(), flags=re.S)[:1500]

        page.goto(f"/console/calls/{call.pk}/intake/")
        for alias, statement in (("Old Zhang", "We all leave."), ("Zhang's wife", "")):
            assert page.locator(":focus").get_attribute("name") == "alias"
            page.keyboard.type(alias)
            page.keyboard.press("Tab")
            assert page.locator(":focus").get_attribute("value") == "party"
            page.keyboard.press("Space")  # withdraws from the Party
            page.keyboard.press("Tab")
            page.keyboard.press("Space")  # and the League
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            assert page.locator(":focus").get_attribute("name") == "statement"
            page.keyboard.type(statement)
            page.keyboard.press("Tab")
            assert page.locator(":focus").get_attribute("name") == "region"
            page.keyboard.press("Tab")
            assert page.locator(":focus").get_attribute("accesskey") == "d"  # "Record the declaration"
            with page.expect_navigation():
                page.keyboard.press("Enter")
            code = page.locator(".receipt-code").inner_text().strip()
            assert RECEIPT.match(code), code
            receipts.append(code)
            size = page.locator(".receipt-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
            assert size >= 36  # large enough to read out
        assert requested and all(url.startswith(origin + "/") for url in requested)
        assert errors == []  # no CSP violation
        assert all(url.endswith("/favicon.ico") for url in failed), failed  # the browser's own guess
        context.close()
    assert len(set(receipts)) == 2
    declarations = Declaration.objects.order_by("id")
    assert [d.alias for d in declarations] == ["Old Zhang", "Zhang's wife"]
    assert all(d.orgs == ["league", "party"] and d.channel == "phone" for d in declarations)
