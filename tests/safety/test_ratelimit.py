"""Rate limits: keyed sources, per-campaign limits, 429 answers, settings parsing."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings

from tallylog.registry.keyed import daily_key
from tallylog.safety import ratelimit
from tallylog.safety.ratelimit import (
    Limit,
    RateLimited,
    check_rate,
    client_address,
    hide_client_address,
    parse_limits,
)

pytestmark = pytest.mark.urls("tests.safety.urls")


def client_from(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def test_parse_limits_defaults_overrides_and_off():
    assert parse_limits(None) == parse_limits("") == {k: Limit(*v) for k, v in ratelimit.DEFAULT_LIMITS.items()}
    assert parse_limits("off") is None
    assert parse_limits(" OFF ") is None
    got = parse_limits("declare=5/60, campaign:declare=100/1")
    assert got["declare"] == Limit(5, 60)
    assert got["campaign:declare"] == Limit(100, 1)
    assert got["login"] == Limit(*ratelimit.DEFAULT_LIMITS["login"])
    assert parse_limits({"receipt": (3, 9), "login": "0/60"})["receipt"] == Limit(3, 9)


@pytest.mark.parametrize(
    "bad", ["declare", "declare=5", "declare=x/60", "declare=5/0", "declare=-1/60", 42, {"a": (1, 0)}]
)
def test_parse_limits_rejects_malformed(bad):
    with pytest.raises(ValueError, match="TALLYLOG_RATE_LIMITS"):
        parse_limits(bad)


def test_client_address_forms():
    assert client_address({"REMOTE_ADDR": "203.0.113.9"}) == "203.0.113.9"
    # One host owns a /64: every address in it is one source.
    assert client_address({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}) == "2001:db8:1:2::/64"
    assert client_address({"REMOTE_ADDR": "2001:db8:1:2:bbbb::9"}) == "2001:db8:1:2::/64"
    assert client_address({"REMOTE_ADDR": "::ffff:198.51.100.7"}) == "198.51.100.7"
    meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"}
    assert client_address(meta) == "10.0.0.1"  # no trusted proxy: the header is ignored
    assert client_address(meta, trusted_proxies=1) == "198.51.100.7"  # spoofed 6.6.6.6 ignored
    assert client_address({"REMOTE_ADDR": "10.0.0.1"}, trusted_proxies=1) == "10.0.0.1"


def test_daily_key_lives_in_cache_and_rotates_by_day():
    day1 = 1_790_000_000.0
    k1 = daily_key(day1)
    assert len(k1) == 32 and daily_key(day1 + 60) == k1
    assert daily_key(day1 + 86400) != k1
    cache.clear()  # a restart of the cache forgets the key: a new one is made
    assert daily_key(day1) != k1


def test_hide_client_address_leaves_only_the_keyed_hash():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="198.51.100.23", HTTP_X_FORWARDED_FOR="198.51.100.24", HTTP_X_REAL_IP="198.51.100.25"
    )
    source = hide_client_address(request)
    assert len(source) == 32 and int(source, 16) >= 0
    assert request.tallylog_source == source
    assert "198.51.100" not in repr(request.META) + source
    assert request.META["REMOTE_ADDR"] == "0.0.0.0"
    assert hide_client_address(request) == source  # idempotent
    other = RequestFactory().get("/", REMOTE_ADDR="198.51.100.26")
    assert hide_client_address(other) != source


def test_views_never_see_the_address():
    response = client_from("198.51.100.23").get("/t/meta/", HTTP_X_FORWARDED_FOR="198.51.100.24")
    assert response.json() == {"REMOTE_ADDR": "0.0.0.0"}


@override_settings(TALLYLOG_RATE_LIMITS="declare=3/600,campaign:declare=5/600")
def test_per_source_then_per_campaign_limits():
    a, b, c = client_from("192.0.2.1"), client_from("192.0.2.2"), client_from("192.0.2.3")
    assert [a.post("/t/declare/tw/").status_code for _ in range(4)] == [201, 201, 201, 429]
    # Another campaign has its own campaign-wide budget but the same per-source one.
    assert a.post("/t/declare/other/").status_code == 429
    # The source refused above did not use the campaign's budget: 5 - 3 = 2 left.
    assert [b.post("/t/declare/tw/").status_code for _ in range(3)] == [201, 201, 429]
    response = c.post("/t/declare/tw/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert c.post("/t/declare/other/").status_code == 201


@override_settings(TALLYLOG_RATE_LIMITS="declare=1/600")
def test_html_429_is_clear_and_translated():
    client = client_from("192.0.2.9")
    client.post("/t/declare/tw/")
    response = client.post("/t/declare/tw/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert "Too many requests" in body and response["Retry-After"] in body
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


@override_settings(TALLYLOG_RATE_LIMITS="declare=2/600")
def test_api_declarations_limited_by_middleware_with_json_error():
    client = client_from("192.0.2.10")
    codes = [client.post("/api/v1/campaigns/tw/declarations", "{}", content_type="application/json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    response = client.post("/api/v1/campaigns/tw/declarations", "{}", content_type="application/json")
    assert response["Content-Type"] == "application/json"
    error = json.loads(response.content)["error"]
    assert error["code"] == "rate_limited" and str(response["Retry-After"]) in error["message"]
    # A different source is not affected.
    assert client_from("192.0.2.11").post("/api/v1/campaigns/tw/declarations", "{}", content_type="application/json").status_code == 201


@override_settings(TALLYLOG_RATE_LIMITS="login=2/900")
def test_decorated_staff_login_throttled_and_get_not_counted():
    client = client_from("192.0.2.12")
    assert all(client.get("/t/staff/login/").status_code == 200 for _ in range(5))
    assert [client.post("/t/staff/login/").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
@override_settings(TALLYLOG_RATE_LIMITS="login=2/900")
def test_admin_and_console_login_throttled_by_middleware():
    client = client_from("192.0.2.13")
    for _ in range(2):
        assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 200
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 429
    # The same per-source budget covers the console's sign-in.
    assert client.post("/console/login/", {"username": "x", "password": "y"}).status_code == 429
    other = client_from("192.0.2.14")
    assert other.post("/console/login/", {"username": "x", "password": "y"}).status_code != 429


def test_subject_limit_spans_sources():
    limits = "login=3/900"
    with override_settings(TALLYLOG_RATE_LIMITS=limits):
        for i in range(3):
            check_rate(RequestFactory().post("/", REMOTE_ADDR=f"192.0.2.{20 + i}"), "login", subject="alice")
        with pytest.raises(RateLimited) as info:
            check_rate(RequestFactory().post("/", REMOTE_ADDR="192.0.2.30"), "login", subject="alice")
        assert info.value.scope == "login"
        check_rate(RequestFactory().post("/", REMOTE_ADDR="192.0.2.31"), "login", subject="bob")


@override_settings(TALLYLOG_RATE_LIMITS="off")
def test_off_disables_every_limit():
    client = client_from("192.0.2.40")
    assert all(client.post("/t/declare/tw/").status_code == 201 for _ in range(50))


@override_settings(TALLYLOG_RATE_LIMITS="declare=0/60")
def test_zero_disables_one_limit():
    client = client_from("192.0.2.41")
    assert all(client.post("/t/declare/tw/").status_code == 201 for _ in range(40))


def test_window_resets(monkeypatch):
    now = [1_790_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    with override_settings(TALLYLOG_RATE_LIMITS="declare=1/60"):
        request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.50")
        check_rate(request, "declare")
        with pytest.raises(RateLimited) as info:
            check_rate(request, "declare")
        assert 1 <= info.value.retry_after <= 60
        now[0] += info.value.retry_after
        check_rate(request, "declare")


def test_cache_holds_no_address():
    with override_settings(TALLYLOG_RATE_LIMITS="declare=5/60"):
        check_rate(RequestFactory().post("/", REMOTE_ADDR="198.51.100.77"), "declare", "tw")
    from django.core.cache.backends.locmem import _caches

    dump = repr({name: dict(store) for name, store in _caches.items()})
    assert "198.51.100.77" not in dump
    assert b"\xc63dM" not in dump.encode()  # packed 198.51.100.77


def test_default_limits_apply_when_the_setting_is_absent():
    from django.conf import settings

    with override_settings():
        del settings.TALLYLOG_RATE_LIMITS
        client = client_from("192.0.2.60")
        count, _ = ratelimit.DEFAULT_LIMITS["login"]
        codes = [client.post("/t/staff/login/").status_code for _ in range(count + 1)]
        assert codes == [200] * count + [429]
