"""Issue 17, "Done means": the console and the admin pass a keyboard-only run. In a real
browser (Debian's Chromium, headless, JavaScript off for the console as a volunteer may have
it), using only Tab, Shift+Tab, Enter, Space, the arrow keys and typing: a volunteer logs in,
records a call and a declaration and ends the call; an operator logs in to the admin and
renames a centre. Every step is reached by the keyboard within a bounded number of key
presses, and wherever the focus lands it is visible (an outline)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tallylog.registry.declarations.models import Declaration
from tallylog.registry.volunteers.models import Call, Centre
from tests.support.chromium import browser

from .conftest import PASSWORD, Team

pytestmark = [pytest.mark.slow, pytest.mark.server]

# The focused element, described for the assertions: what it is and how its focus shows.
FOCUS = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return {tag: e.tagName.toLowerCase(), name: e.getAttribute("name") || "", type: e.type || "",
          value: e.value === undefined ? "" : String(e.value), checked: !!e.checked,
          href: e.getAttribute("href") || "", accesskey: e.getAttribute("accesskey") || "",
          text: (e.innerText || "").trim().slice(0, 40),
          outline: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0};
}"""
LIMIT = 40  # key presses to reach any control of a page


def focused(page: Page) -> dict:
    return page.evaluate(FOCUS)


def assert_visible(f: dict, *, ours: bool) -> None:
    """The focus shows: our stylesheet's 3 px solid outline in the console; in the admin,
    an outline of any style (Chromium's focus ring, which the admin's CSS leaves alone)."""
    if ours:
        assert f["outline"] == "solid" and f["outlineWidth"] >= 2, f
    else:
        assert f["outline"] != "none" and f["outlineWidth"] > 0, f


def move_to(page: Page, wanted, *, key: str = "Tab", ours: bool = True) -> dict:  # type: ignore[no-untyped-def]
    """Press ``key`` until the focused element satisfies ``wanted``; each stop must show its focus."""
    seen = []
    for _ in range(LIMIT):
        page.keyboard.press(key)
        f = focused(page)
        if f["tag"] != "body":
            assert_visible(f, ours=ours)
        if wanted(f):
            return f
        seen.append((f["tag"], f["name"] or f["href"] or f["text"]))
    raise AssertionError(f"not reached with {LIMIT} × {key}: {seen}")


def test_a_volunteer_records_a_call_by_keyboard_alone(transactional_db: None, team: Team, live_server) -> None:  # type: ignore[no-untyped-def]
    with browser() as chromium:
        context = chromium.new_context(
            java_script_enabled=False, base_url=live_server.url, extra_http_headers={"Accept-Language": "zh-hans"}
        )
        page = context.new_page()
        page.goto("/console/login/")
        f = focused(page)
        assert f["name"] == "username"  # the page opens on it
        assert_visible(f, ours=True)
        page.keyboard.type("volunteer-wei")
        move_to(page, lambda f: f["name"] == "password")
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/console/")

        # From the menu to the call form.
        move_to(page, lambda f: f["href"] == "/console/calls/new/")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        f = move_to(page, lambda f: f["name"] == "called_on")
        assert f["value"] and len(f["value"]) == 10  # today, as YYYY-MM-DD
        f = move_to(page, lambda f: f["name"] == "outcome")
        assert not f["checked"]  # no outcome is chosen for the volunteer
        page.keyboard.press("Space")  # the first: no answer
        page.keyboard.press("ArrowLeft")  # round to the last: declared
        f = focused(page)
        assert (f["value"], f["checked"]) == ("declared", True)
        assert_visible(f, ours=True)
        f = move_to(page, lambda f: f["name"] == "language")
        page.keyboard.press("ArrowDown")
        assert focused(page)["value"] == "mandarin"
        move_to(page, lambda f: f["name"] == "region")
        page.keyboard.press("ArrowDown")  # the first region of the list
        move_to(page, lambda f: f["name"] == "duration")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        move_to(page, lambda f: f["name"] == "note")
        page.keyboard.type("listened, then declared")
        # One key too far, and back.
        move_to(page, lambda f: f["tag"] == "button" and f["accesskey"] == "s")
        page.keyboard.press("Shift+Tab")
        assert focused(page)["name"] == "note"
        move_to(page, lambda f: f["tag"] == "button" and f["accesskey"] == "s")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/intake/")  # declared: on to its declarations
        intake = page.url

        # The intake: the alias has the focus; the first organisation; record.
        f = focused(page)
        assert f["name"] == "alias"
        assert_visible(f, ours=True)
        page.keyboard.type("河南老张")
        move_to(page, lambda f: f["name"] == "orgs")
        page.keyboard.press("Space")
        move_to(page, lambda f: f["tag"] == "button" and f["accesskey"] == "d")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator(".receipt-code").count() == 1

        # End of the call: back to the list of calls, through the header's links too.
        move_to(page, lambda f: f["accesskey"] == "e")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/console/calls/")
        assert page.locator("tbody tr").count() == 1
        # The language switcher is reached from the page too (backwards, from the top).
        page.keyboard.press("Tab")
        move_to(page, lambda f: f["href"].startswith("/lang/en/"))
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("h1").inner_text() == "Calls"
        context.close()
    # (The database is read outside Playwright's event loop.)
    call = Call.objects.get()
    assert (call.outcome, call.language, call.region, call.duration, call.note) == (
        "declared", "mandarin", "beijing", "1-5", "listened, then declared",
    )  # fmt: skip
    assert intake.endswith(f"/console/calls/{call.pk}/intake/")
    assert Declaration.objects.get().alias == "河南老张"


def test_an_operator_changes_a_record_in_the_admin_by_keyboard_alone(  # type: ignore[no-untyped-def]
    transactional_db: None, team: Team, live_server
) -> None:
    with browser() as chromium:
        context = chromium.new_context(base_url=live_server.url, extra_http_headers={"Accept-Language": "zh-hant"})
        page = context.new_page()
        page.goto("/admin/login/")
        f = focused(page)
        assert f["name"] == "username"
        page.keyboard.type("root-op")
        move_to(page, lambda f: f["name"] == "password", ours=False)
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/admin/")

        move_to(page, lambda f: f["href"] == "/admin/volunteers/centre/", ours=False)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        change = f"/admin/volunteers/centre/{team.la.pk}/change/"
        # The admin's skip link passes over its sidebar (every model, on a wide screen).
        move_to(page, lambda f: f["href"] == "#content-start", ours=False)
        page.keyboard.press("Enter")
        move_to(page, lambda f: f["href"] == change, ours=False)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        # Past the sidebar again; Tab into the name: its text is selected, and typing replaces it.
        move_to(page, lambda f: f["href"] == "#content-start", ours=False)
        page.keyboard.press("Enter")
        move_to(page, lambda f: f["name"] == "name", ours=False)
        page.keyboard.type("洛杉磯服務中心")
        move_to(page, lambda f: f["name"] == "_save", ours=False)
        page.keyboard.press("Shift+Tab")
        assert focused(page)["name"] != "_save"
        move_to(page, lambda f: f["name"] == "_save", ours=False)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert urlsplit(page.url).path == "/admin/volunteers/centre/"  # (the skip link's #fragment stays)
        assert "洛杉磯服務中心" in page.locator(".messagelist").inner_text()
        context.close()
    assert Centre.objects.get(pk=team.la.pk).name == "洛杉磯服務中心"
