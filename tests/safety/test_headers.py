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


def test_no_cookie_on_a_plain_page_but_csrf_cookie_on_a_form():
    client = Client()
    assert client.get("/t/").cookies == {}
    assert list(client.get("/t/form/").cookies) == ["csrftoken"]
