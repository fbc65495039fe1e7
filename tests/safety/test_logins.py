"""Staff sign-in limits (tallylog.safety.logins): failures only, per source and per
account by the name Django's login form reads, for /admin/ and /console/ alike."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from tallylog.safety.logins import normalise_username

PASSWORD = "a long and good password"
LIMITS = "login=50/900,login-account=4/900"


@pytest.fixture
def alice(db: None) -> str:
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)
    return "alice"


def _post(path: str, source: str, username: str, password: str, language: str = "en") -> int:
    client = Client(REMOTE_ADDR=source, HTTP_ACCEPT_LANGUAGE=language)
    return client.post(path, {"username": username, "password": password}).status_code


def test_normalised_as_django_reads_the_name() -> None:
    # Django's UsernameField: NFKC and stripped; case folded on top.
    assert normalise_username(" alice ") == normalise_username("ａｌｉｃｅ") == normalise_username("ALICE") == "alice"


@override_settings(TALLYLOG_RATE_LIMITS=LIMITS)
@pytest.mark.parametrize("path", ["/admin/login/", "/console/login/"])
def test_failures_per_account_across_sources_and_spellings(alice: str, path: str) -> None:
    spellings = ["alice", " alice", "ａｌｉｃｅ", "Alice\u3000"]
    for i, name in enumerate(spellings):
        assert _post(path, f"198.51.100.{10 + i}", name, "guess") == 200
    # A fresh source, the right password: the account waits, with a clear message.
    client = Client(REMOTE_ADDR="198.51.100.30", HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(path, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert re.search(r"Too many failed sign-ins to this account\. Please wait ([1-9]|1[0-5]) minutes?", response.content.decode())
    assert int(response["Retry-After"]) <= 900
    # In the other languages too.
    for language, words in (("zh-hans", "此账号登录失败次数过多"), ("zh-hant", "此帳號登入失敗次數過多")):
        page = Client(REMOTE_ADDR="198.51.100.31", HTTP_ACCEPT_LANGUAGE=language).post(path, {"username": "alice", "password": "x"})
        assert page.status_code == 429 and words in page.content.decode()
    # Another account from the same sources is not affected.
    assert _post(path, "198.51.100.10", "bob", "guess") == 200


@override_settings(TALLYLOG_RATE_LIMITS="login=3/900,login-account=50/900")
def test_admin_successes_not_counted(alice: str) -> None:
    for _ in range(10):
        assert _post("/admin/login/", "198.51.100.40", "alice", PASSWORD) == 302
    for _ in range(3):
        assert _post("/admin/login/", "198.51.100.40", "alice", "wrong") == 200
    assert _post("/admin/login/", "198.51.100.40", "alice", PASSWORD) == 429
