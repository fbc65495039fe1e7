"""The site's real pages under the safety rules (issue 7, item 2).

- GET of home, list, one declaration, transparency and the log sets no cookie; the pages
  with a form (declare, check my receipt, withdraw) may set only the CSRF cookie.
- Every response carries the security headers.
- No page relies on what the Content-Security-Policy forbids (inline script or style,
  event-handler attributes, javascript: URLs) or loads anything from another host.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from tallylog.safety.middleware import CONTENT_SECURITY_POLICY
from tests.safety.conftest import PASSWORD

FORM_PAGES = ["/declare/", "/receipt/", "/withdraw/"]


def public_pages(site: dict[str, object]) -> list[str]:
    """The pages without a form."""
    return ["/", "/declarations/", f"/entries/{site['public'].log_index}/", "/transparency/"]  # type: ignore[attr-defined]


class ResourceScan(HTMLParser):
    """Collects what a page loads and anything a strict CSP would block."""

    LOADING = {("script", "src"), ("img", "src"), ("link", "href"), ("iframe", "src"), ("source", "src"),
               ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data"), ("form", "action")}  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "style":
            self.blocked.append("<style> element")
        if tag == "script" and "src" not in a:
            self.blocked.append("inline <script>")
        for name, value in a.items():
            if name == "style":
                self.blocked.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.blocked.append(f"{name} handler on <{tag}>")
            if value.strip().lower().startswith("javascript:"):
                self.blocked.append(f"javascript: URL on <{tag}>")
            if (tag, name) in self.LOADING and not (tag == "link" and a.get("rel") in ("canonical", "alternate")):
                self.loads.append(value)


def scan(html: str) -> ResourceScan:
    s = ResourceScan()
    s.feed(html)
    return s


def test_public_pages_set_no_cookie(site):
    client = Client()
    for url in [*public_pages(site), "/log/checkpoint", "/api/v1/log", "/api/v1/campaigns/three-withdrawals/tally"]:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-Hans")
        assert response.status_code == 200, url
        assert "Set-Cookie" not in response.headers, (url, response.cookies)
        assert response.cookies == {}, url


@pytest.mark.parametrize("url", FORM_PAGES)
def test_form_pages_set_only_the_csrf_cookie(site, url):
    response = Client().get(url)
    assert response.status_code == 200
    assert set(response.cookies) <= {"csrftoken"}
    for morsel in response.cookies.values():
        assert morsel["samesite"] == "Lax"


def test_language_switch_sets_no_tracking_cookie(site):
    client = Client()
    response = client.get("/lang/en/", HTTP_REFERER="/")
    assert response.status_code in (200, 302)
    # A language cookie (if any) holds a language code and nothing else.
    for name, morsel in response.cookies.items():
        assert name in ("django_language", "csrftoken"), name
        if name == "django_language":
            assert morsel.value in ("en", "zh-hans", "zh-hant")


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
def test_pages_carry_headers_and_nothing_csp_would_block(site, lang):
    client = Client()
    for url in [*public_pages(site), *FORM_PAGES]:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=lang)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        policy = "same-origin" if url in FORM_PAGES else "no-referrer"
        assert response["Referrer-Policy"] == policy, url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert "Permissions-Policy" in response, url
        found = scan(response.content.decode())
        assert found.blocked == [], (url, found.blocked)
        foreign = [u for u in found.loads if u.startswith(("http:", "https:", "//")) or ":" in u.split("/")[0]]
        assert foreign == [], (url, foreign)


def test_scan_catches_what_csp_blocks():
    found = scan('<style>p{}</style><script>x()</script><p style="color:red" onclick="y()">'
                 '<a href="javascript:z()">z</a><img src="https://cdn.example/x.png">')  # fmt: skip
    assert len(found.blocked) == 5
    assert found.loads == ["https://cdn.example/x.png"]


def _browser_session_only(morsel) -> bool:
    return morsel["max-age"] == "" and morsel["expires"] == ""


def test_cookies_last_only_for_the_browser_session(site):
    """Issue 15.6: a phone seized after the visit keeps no cookie of it (the CSRF and
    language cookies used to last a year, the admin's session eight hours)."""
    client = Client()
    for url in FORM_PAGES:
        csrf = client.get(url).cookies["csrftoken"]
        assert _browser_session_only(csrf), (url, csrf.output())
    language = client.get("/lang/zh-hant/?next=/").cookies["django_language"]
    assert language.value == "zh-hant" and _browser_session_only(language), language.output()
    admin = Client()
    response = admin.post("/admin/login/?next=/admin/", {"username": "staff-root", "password": PASSWORD})
    assert response.status_code == 302
    assert _browser_session_only(response.cookies["sessionid"]), response.cookies["sessionid"].output()
    failed = Client(enforce_csrf_checks=True).post("/declare/", {"alias": "A", "orgs": ["party"]})
    assert failed.status_code == 403 and _browser_session_only(failed.cookies["csrftoken"])
