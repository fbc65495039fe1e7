"""Security headers on every response, and no cookie unless a form needs its CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from tallylog.safety.middleware import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.urls("tests.safety.urls")


def directives(csp: str) -> dict[str, str]:
    return {d.split()[0]: " ".join(d.split()[1:]) for d in (x.strip() for x in csp.split(";")) if d}


def test_csp_is_strict():
    csp = directives(CONTENT_SECURITY_POLICY)
    assert csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["object-src"] == "'none'"
    for name, value in csp.items():
        assert "unsafe-inline" not in value and "unsafe-eval" not in value, name
        assert "*" not in value and "http" not in value, name


def test_headers_on_a_page():
    response = Client().get("/t/")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    policy = response["Permissions-Policy"]
    assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy
    assert all(item.strip().endswith("=()") for item in policy.split(","))
    assert "Strict-Transport-Security" not in response


def test_hsts_only_over_https():
    response = Client().get("/t/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_headers_on_errors_too():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["Referrer-Policy"] == "no-referrer"


def test_log_may_be_fetched_cross_origin():
    assert Client().get("/log/checkpoint")["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_referrer_policy_no_referrer_except_on_pages_with_a_form():
    assert Client().get("/t/")["Referrer-Policy"] == "no-referrer"
    assert Client().get("/t/form/")["Referrer-Policy"] == "same-origin"


def post_form(origin: str | None, fetch_site: str | None) -> int:
    client = Client(enforce_csrf_checks=True)
    client.get("/t/form/")
    token = client.cookies["csrftoken"].value
    headers = {}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    if fetch_site is not None:
        headers["HTTP_SEC_FETCH_SITE"] = fetch_site
    return client.post("/t/form/", {"csrfmiddlewaretoken": token}, **headers).status_code


def test_same_origin_post_with_null_origin_passes_csrf():
    assert post_form("http://testserver", "same-origin") == 200
    assert post_form("null", "same-origin") == 200  # a page that asked for no-referrer


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "none", None])
def test_null_origin_from_elsewhere_still_refused(fetch_site):
    assert post_form("null", fetch_site) == 403
    assert post_form("http://evil.example", fetch_site) == 403


def test_no_cookie_on_a_plain_page_but_csrf_cookie_on_a_form():
    client = Client()
    assert client.get("/t/").cookies == {}
    assert list(client.get("/t/form/").cookies) == ["csrftoken"]


def test_a_target_over_the_limit_gets_a_414_in_the_language_asked_for():
    from tallylog.safety.middleware import MAX_TARGET

    long_query = "q=" + "x" * MAX_TARGET
    api = Client().get("/api/v1/receipts/1?" + long_query, HTTP_ACCEPT_LANGUAGE="en")
    assert api.status_code == 414 and api["Content-Type"] == "application/json"
    assert api.json() == {
        "error": {"code": "uri_too_long", "message": f"This address is too long: at most {MAX_TARGET} characters."}
    }
    assert api["Cache-Control"] == "no-store"
    assert api["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = Client().get("/" + "x" * MAX_TARGET, HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert page.status_code == 414 and page["Content-Type"] == "text/html; charset=utf-8"
    assert "地址太長" in page.content.decode()
    # The limit itself still reaches the views (here a 404 page of the test URLs).
    assert Client().get("/" + "x" * (MAX_TARGET - 1)).status_code == 404
