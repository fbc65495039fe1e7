"""Issue 17: a receipt code is never broken across lines, on the public receipt page and
in the console's intake receipt box, at 1280 px and on a 390 px phone; each code is laid
out under the alias it belongs to.

The pages are made by the application (Django's test client) and laid out by Debian's
Chromium with their own stylesheet, inlined (``set_content`` has no origin to fetch it
from). Measured: the text of each code forms one line box, and fits its box without
scrolling.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tallylog.console.views import _STYLESHEET as CONSOLE_CSS
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Role
from tallylog.web.assets import STYLESHEET as SITE_CSS
from tests.support.chromium import browser
from tests.support.staff import PASSWORD

pytestmark = [pytest.mark.server]

WIDTHS = [1280, 390]
# Long aliases (40 characters at most) beside the codes: they wrap, the codes must not.
ALIASES = ["欧阳" * 20, "Grandmother Ouyang of the east village", "小明"]
MEASURE = """e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return {lines: lines.size, scroll: e.scrollWidth, box: e.clientWidth, text: e.textContent};
}"""


def _inline(html: str, css: str) -> str:
    return re.sub(r'<link rel="stylesheet" href="[^"]+">', lambda _m: f"<style>{css}</style>", html)


def _check_codes(html: str, selector: str, aliases: list[str]) -> None:
    """Lay ``html`` out at each width (Playwright's loop starts here, after every database
    query: Django refuses queries inside it)."""
    with browser() as chromium:
        for width in WIDTHS:
            _check_width(chromium, html, selector, aliases, width)


def _check_width(chromium, html: str, selector: str, aliases: list[str], width: int) -> None:  # type: ignore[no-untyped-def]
    page = chromium.new_page(viewport={"width": width, "height": 900}, java_script_enabled=True)
    page.set_content(html)
    codes = page.locator(selector)
    assert codes.count() == len(aliases), width
    for i in range(codes.count()):
        found = codes.nth(i).evaluate(MEASURE)
        assert re.fullmatch(r"\d{5}(-\d{5}){4}", found["text"].strip()), found
        assert found["lines"] == 1, (width, found)  # never broken mid-code
        assert found["scroll"] <= found["box"], (width, found)  # and whole on the screen
    # Each code sits right under its own alias.
    labels = page.locator(f"li:has({selector})").all_inner_texts()
    assert [alias in label for alias, label in zip(aliases, labels, strict=True)] == [True] * len(aliases)
    page.close()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_public_receipt_codes_never_wrap(campaign: Campaign, language: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    token = re.search(r'name="token" value="([^"]+)"', client.get("/declare/").content.decode()).group(1)
    data: dict[str, object] = {"token": token, "members": str(len(ALIASES))}
    for position, alias in enumerate(ALIASES):
        prefix = "" if position == 0 else f"m{position}-"
        data.update({f"{prefix}alias": alias, f"{prefix}orgs": ["party"]})
    response = client.post("/declare/", data)
    assert response.status_code == 200, response.content.decode()[:2000]
    _check_codes(_inline(response.content.decode(), SITE_CSS.read_text()), ".receipt", ALIASES)


def test_console_receipt_codes_never_wrap(campaign: Campaign) -> None:
    centre = actions.create_centre("Taipei")
    volunteer = actions.add_staff("volunteer-an", role=Role.VOLUNTEER, centre=centre, password=PASSWORD)
    call = actions.record_call(volunteer, outcome="declared", language="mandarin", duration="5-15")
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert client.post("/console/login/", {"username": "volunteer-an", "password": PASSWORD}).status_code == 302
    url = f"/console/calls/{call.pk}/intake/"
    once = re.search(r'name="once" value="([^"]+)"', client.get(url).content.decode()).group(1)
    data: dict[str, object] = {"once": once, "members": str(len(ALIASES)), "channel": "in-person"}
    for position, alias in enumerate(ALIASES):
        prefix = "" if position == 0 else f"m{position}-"
        data.update({f"{prefix}alias": alias, f"{prefix}orgs": ["party"]})
    response = client.post(url, data)
    assert response.status_code == 200, response.content.decode()[:2000]
    _check_codes(_inline(response.content.decode(), CONSOLE_CSS.read_text()), ".receipt-code", ALIASES)
