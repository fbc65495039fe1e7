"""A real browser (Debian's Chromium, headless) declares in Simplified Chinese, with
JavaScript off and on, checks the receipt, and browses (issue 7, item 3).

Every request any page makes must go to the site itself; no page may trip its own
Content-Security-Policy; home and declare must weigh under 30 KB on the wire.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.chromium import Visit
from tests.support.serverproc import Server

pytestmark = [pytest.mark.slow, pytest.mark.server]

RECEIPT = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")
WEIGHT_LIMIT = 30 * 1024


def submit(page) -> None:
    page.locator("form:has(input[name]) [type=submit]:not([name=family])").last.click()  # not "Add a family member"
    page.wait_for_load_state("load")


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_declare_check_receipt_and_browse_in_simplified_chinese(site: Server, chromium, javascript: bool):
    origin = f"http://127.0.0.1:{site.port}"
    context = chromium.new_context(java_script_enabled=javascript, locale="zh-CN", base_url=origin)
    page = context.new_page()
    visit = Visit(page)
    weights: dict[str, int] = {}

    def load(name: str, path: str) -> None:
        visit.reset()
        response = page.goto(path, wait_until="load")
        assert response is not None and response.status == 200, (path, response and response.status)
        weights[name] = visit.transferred()
        check(name)

    def check(name: str) -> None:
        assert visit.foreign_requests(origin) == [], name
        assert visit.csp_violations() == [], name
        assert page.locator("html").get_attribute("lang", timeout=2000).lower().startswith("zh")

    load("home", "/")
    load("declare", "/declare/")
    alias = f"自由人{'甲' if javascript else '乙'}"
    page.fill("input[name=alias]", alias)
    page.locator("input[name=orgs]").first.check()
    page.fill("textarea[name=statement]", "我声明退出。")
    visit.reset()
    submit(page)
    check("receipt shown")
    text = page.inner_text("body")
    codes = RECEIPT.findall(text)
    assert codes, f"no receipt code after declaring: {text[:300]}"
    code = codes[0]

    # Once the sequencer has logged it, the receipt page shows the entry and its log index.
    deadline = time.monotonic() + 30
    while (index := site.get(f"/api/v1/receipts/{code}").json().get("index")) is None:
        assert time.monotonic() < deadline, "declaration not sequenced within 30 s"
        time.sleep(0.2)
    load("receipt", "/receipt/")
    page.fill("input[name=code]", code)
    visit.reset()
    submit(page)
    check("receipt checked")
    body = page.inner_text("body")
    assert alias in body and str(index) in body, body[:500]

    load("declarations", "/declarations/")
    assert alias in page.inner_text("body")
    page.get_by_text(alias).first.click()
    page.wait_for_load_state("load")
    check("declaration")
    assert alias in page.inner_text("body")
    load("transparency", "/transparency/")
    context.close()

    assert weights["home"] < WEIGHT_LIMIT, weights
    assert weights["declare"] < WEIGHT_LIMIT, weights


def test_nothing_but_the_site_is_contacted_with_a_foreign_link(site: Server, chromium):
    """The recorder notices a foreign request (so the checks above are not blind)."""
    origin = f"http://127.0.0.1:{site.port}"
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    visit = Visit(page)
    page.route("http://198.51.100.1/**", lambda route: route.fulfill(status=204, body=""))
    page.set_content('<img src="http://198.51.100.1/pixel.gif">')
    assert visit.foreign_requests(origin) == ["http://198.51.100.1/pixel.gif"]
    context.close()
