"""In Chromium: the skip link comes first and shows when focused, the declare form's
first field is two key presses away, and the chart's labels are readable on a phone."""

from __future__ import annotations

import pytest

from tests.support.serverproc import Server

pytestmark = [pytest.mark.server]

SKIP = {"zh-CN": "跳到正文", "zh-TW": "跳到主要內容", "en": "Skip to content"}
PAGES = ("/", "/declare/", "/declarations/", "/receipt/", "/transparency/", "/petitions/", "/news/", "/newsletter/")


@pytest.mark.parametrize("locale", list(SKIP))
def test_the_skip_link_is_first_and_visible_when_focused(site: Server, chromium, locale: str) -> None:
    context = chromium.new_context(locale=locale, base_url=f"http://127.0.0.1:{site.port}", java_script_enabled=False)
    page = context.new_page()
    try:
        for path in PAGES:
            page.goto(path)
            skip = page.locator("a.skip")
            assert skip.bounding_box()["x"] < 0, path  # out of sight until focused
            page.keyboard.press("Tab")
            focused = page.evaluate("[document.activeElement.className, document.activeElement.textContent]")
            assert focused == ["skip", SKIP[locale]], path
            box = skip.bounding_box()
            assert box["x"] >= 0 and box["y"] >= 0 and box["width"] > 20, (path, box)
        page.goto("/declare/")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "alias"
    finally:
        context.close()


def test_chart_labels_are_readable_at_390_px(site: Server, chromium) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 800}, base_url=f"http://127.0.0.1:{site.port}")
    page = context.new_page()
    try:
        page.goto("/")
        heights = page.evaluate(
            "[...document.querySelectorAll('svg.chart text')].map(t => t.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= 13, heights  # was about 8 px (15 units at a scale of 0.56)
        inside = page.evaluate(
            """(() => { const s = document.querySelector('svg.chart').getBoundingClientRect();
            return [...document.querySelectorAll('svg.chart text')].every(t => {
              const r = t.getBoundingClientRect();
              return r.left >= s.left - 0.5 && r.right <= s.right + 0.5 && r.top >= s.top - 0.5 && r.bottom <= s.bottom + 0.5; }); })()"""
        )
        assert inside  # no label cut by the chart's edge
    finally:
        context.close()
