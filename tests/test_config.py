"""The configuration object (tallylog/config.py): defaults, the environment, bad values as
system checks, override_settings, and its one table in docs/configuration.md."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tallylog import config as config_module
from tallylog.checks import check_configuration
from tallylog.config import (
    SETTINGS,
    Config,
    ConfigError,
    build,
    config,
    databases,
    environ_value,
    reset_config,
)

# They read the database settings (DATABASE_URL and the checks on it): both passes of make test.
pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parents[1]
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| (.*?) \| (.*) \| (.*?) \|$")

# What tests/settings.py sets for the whole suite (rate limits and the flood screen off).
SUITE_SETTINGS = ("TALLYLOG_RATE_LIMITS", "TALLYLOG_FLOOD_THRESHOLD", "TALLYLOG_PUBLISH_INTERVAL")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set environment variables and read the configuration again; undone after the test."""

    def setenv(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_config()

    yield setenv
    monkeypatch.undo()
    reset_config()


def project_defaults() -> Config:
    with override_settings():
        for name in SUITE_SETTINGS:
            delattr(settings, name)
        built, found = build(environ={})
    assert found == []
    return built


def test_defaults() -> None:
    c = project_defaults()
    assert c.sequencer_batch == 4096 and c.sequencer_interval == 0.5
    assert c.group_commit is True
    assert c.rate_limits == "" and c.trusted_proxies == 0
    assert (c.flood_threshold, c.flood_window) == (20, 3600)
    assert c.hsts_seconds == 31536000
    assert (c.console_idle_seconds, c.console_max_seconds) == (30 * 60, 12 * 3600)
    assert c.site_url == ""  # unset: docs/petitions.md, "Mail"
    assert c.home == Path(settings.TALLYLOG_HOME)
    assert environ_value("TALLYLOG_EMAIL_PORT", {}) == 25
    assert environ_value("TALLYLOG_ALLOWED_HOSTS", {}) == ["localhost", "127.0.0.1", "[::1]"]  # no testserver
    assert environ_value("TALLYLOG_DEBUG", {}) is False


def test_the_environment_is_parsed() -> None:
    with override_settings(ALLOWED_HOSTS=["example.org"]):
        for name in SUITE_SETTINGS:
            delattr(settings, name)
        c, found = build(
            environ={
                "TALLYLOG_SEQUENCER_BATCH": "100",
                "TALLYLOG_SEQUENCER_INTERVAL": "2.5",
                "TALLYLOG_GROUP_COMMIT": "off",
                "TALLYLOG_RATE_LIMITS": "login=2/900",
                "TALLYLOG_TRUSTED_PROXIES": " 1 ",
                "TALLYLOG_FLOOD_THRESHOLD": "0",
                "TALLYLOG_FLOOD_WINDOW": "60",
                "TALLYLOG_HSTS_SECONDS": "0",
                "TALLYLOG_CONSOLE_IDLE_SECONDS": "600",
                "TALLYLOG_CONSOLE_MAX_SECONDS": "3600",
                "TALLYLOG_SITE_URL": "https://example.org/",
                "TALLYLOG_EMAIL_PORT": "",  # empty counts as unset
            }
        )
    assert found == []
    assert (c.sequencer_batch, c.sequencer_interval, c.group_commit) == (100, 2.5, False)
    assert (c.rate_limits, c.trusted_proxies, c.flood_threshold, c.flood_window) == ("login=2/900", 1, 0, 60)
    assert (c.hsts_seconds, c.console_idle_seconds, c.console_max_seconds) == (0, 600, 3600)
    assert c.site_url == "https://example.org"  # kept without its trailing slash
    assert environ_value("TALLYLOG_EMAIL_PORT", {"TALLYLOG_EMAIL_PORT": "2525"}) == 2525
    assert environ_value("TALLYLOG_ALLOWED_HOSTS", {"TALLYLOG_ALLOWED_HOSTS": " a.org, ,b.org "}) == ["a.org", "b.org"]
    assert environ_value("TALLYLOG_DEBUG", {"TALLYLOG_DEBUG": "1"}) is True
    for word, value in [("on", True), ("OFF", False), ("true", True), ("0", False), ("yes", True)]:
        assert build(environ={"TALLYLOG_GROUP_COMMIT": word})[0].group_commit is value


def test_a_django_setting_wins_over_the_environment(environ: Callable[..., None]) -> None:
    environ(TALLYLOG_SEQUENCER_BATCH="100", TALLYLOG_FLOOD_WINDOW="60")
    assert config().sequencer_batch == 100 and config().flood_window == 60
    with override_settings(TALLYLOG_SEQUENCER_BATCH=7):
        assert config().sequencer_batch == 7 and config().flood_window == 60


def test_databases_from_the_environment(tmp_path: Path) -> None:
    sqlite = databases(tmp_path / "db.sqlite3", {})
    assert list(sqlite) == ["default"] and sqlite["default"]["ENGINE"] == "django.db.backends.sqlite3"
    pg = databases(
        tmp_path / "db.sqlite3",
        {
            "DATABASE_URL": "postgres://tl:p%40ss@db.internal:5433/tally",
            "DATABASE_REPLICA_URLS": "postgresql://tl:x@r1/tally, postgres://tl:x@r2/tally",
        },
    )
    assert list(pg) == ["default", "replica1", "replica2"]
    assert (pg["default"]["HOST"], pg["default"]["PORT"], pg["default"]["PASSWORD"]) == ("db.internal", "5433", "p@ss")
    assert pg["replica2"]["HOST"] == "r2" and pg["replica1"]["TEST"] == {"MIRROR": "default"}


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("TALLYLOG_SEQUENCER_BATCH", "lots", "tallylog.E004"),
        ("TALLYLOG_SEQUENCER_BATCH", "0", "tallylog.E004"),
        ("TALLYLOG_SEQUENCER_BATCH", "70000", "tallylog.E004"),
        ("TALLYLOG_SEQUENCER_INTERVAL", "soon", "tallylog.E004"),
        ("TALLYLOG_SEQUENCER_INTERVAL", "nan", "tallylog.E004"),
        ("DATABASE_URL", "mysql://tl:hunter2@db/tally", "tallylog.E010"),
        ("DATABASE_URL", "postgres://tl:hunter2@db:port/tally", "tallylog.E010"),
        ("DATABASE_REPLICA_URLS", "postgres://tl:hunter2@r1/tally", "tallylog.E010"),  # no DATABASE_URL
        ("TALLYLOG_EMAIL_PORT", "smtp", "tallylog.E011"),
        ("TALLYLOG_EMAIL_PORT", "70000", "tallylog.E011"),
        ("TALLYLOG_GROUP_COMMIT", "maybe", "tallylog.E012"),
        ("TALLYLOG_TRUSTED_PROXIES", "two", "tallylog.E013"),
        ("TALLYLOG_TRUSTED_PROXIES", "-1", "tallylog.E013"),
        ("TALLYLOG_FLOOD_THRESHOLD", "1.5", "tallylog.E014"),
        ("TALLYLOG_FLOOD_WINDOW", "0", "tallylog.E014"),
        ("TALLYLOG_HSTS_SECONDS", "1y", "tallylog.E015"),
        ("TALLYLOG_CONSOLE_IDLE_SECONDS", "30m", "tallylog.E016"),
        ("TALLYLOG_CONSOLE_MAX_SECONDS", "0", "tallylog.E016"),
        ("TALLYLOG_SITE_URL", "example.org", "tallylog.E017"),
        ("TALLYLOG_SITE_URL", "http://testserver/tallylog/", "tallylog.E017"),  # links are base + path
        ("TALLYLOG_SITE_URL", "http://testserver:80a", "tallylog.E017"),
        ("TALLYLOG_CACHE_URL", "memcached://tl:hunter2@cache:11211", "tallylog.E018"),
        ("TALLYLOG_EMAIL_SECURITY", "ssl", "tallylog.E022"),
    ],
)
def test_a_bad_value_is_its_check(
    environ: Callable[..., None], monkeypatch: pytest.MonkeyPatch, name: str, value: str, check: str
) -> None:
    if name == "DATABASE_REPLICA_URLS":
        monkeypatch.delenv("DATABASE_URL", raising=False)  # replicas with no PostgreSQL primary (the PostgreSQL pass sets one)
    with override_settings():
        if hasattr(settings, name):
            delattr(settings, name)
        environ(**{name: value})
        errors = check_configuration()
        assert [e.id for e in errors] == [check]
        assert name in errors[0].msg
        assert "hunter2" not in errors[0].msg  # a URL's password is never repeated
        if SETTINGS[name] in config_module.CONFIG_SETTINGS:
            with pytest.raises(ConfigError, match=check):
                config()
        elif not name.startswith("DATABASE_"):  # (those: the next test)
            # Django's own setting: its default stands in, and the check refuses to start.
            assert environ_value(name) == SETTINGS[name].parse(SETTINGS[name].default)


def test_the_site_url_names_a_host_the_site_answers_to(environ: Callable[..., None]) -> None:
    with override_settings(ALLOWED_HOSTS=["example.org", ".example.net"]):
        environ(TALLYLOG_SITE_URL="http://elsewhere.example")
        errors = check_configuration()
        assert [e.id for e in errors] == ["tallylog.E017"]
        assert "'elsewhere.example'" in errors[0].msg and "TALLYLOG_ALLOWED_HOSTS" in errors[0].msg
        for url in ("http://example.org:8080", "http://news.example.net/"):
            environ(TALLYLOG_SITE_URL=url)
            assert check_configuration() == []


def test_a_mail_password_needs_tls(environ: Callable[..., None]) -> None:
    environ(TALLYLOG_EMAIL_PASSWORD="hunter2")  # TALLYLOG_EMAIL_SECURITY none: it would go in clear
    errors = check_configuration()
    assert [e.id for e in errors] == ["tallylog.E022"]
    assert "TALLYLOG_EMAIL_SECURITY" in errors[0].msg and "hunter2" not in errors[0].msg
    for security in ("starttls", "TLS"):
        environ(TALLYLOG_EMAIL_PASSWORD="hunter2", TALLYLOG_EMAIL_SECURITY=security)
        assert check_configuration() == []
    assert environ_value("TALLYLOG_EMAIL_SECURITY", {"TALLYLOG_EMAIL_SECURITY": " StartTLS "}) == "starttls"
    assert environ_value("TALLYLOG_EMAIL_SECURITY", {}) == "none"


def test_an_https_site_needs_a_trusted_proxy(environ: Callable[..., None]) -> None:
    with override_settings(ALLOWED_HOSTS=["example.org"]):
        environ(TALLYLOG_SITE_URL="https://example.org")
        assert [e.id for e in check_configuration()] == ["tallylog.E019"]
        environ(TALLYLOG_TRUSTED_PROXIES="1")
        assert check_configuration() == []


def test_proxy_settings_follow_the_site_url_and_the_proxies() -> None:
    plain = config_module.proxy_settings({})
    assert plain["SECURE_PROXY_SSL_HEADER"] is None and plain["SESSION_COOKIE_SECURE"] is False
    https = config_module.proxy_settings({"TALLYLOG_SITE_URL": "https://example.org/", "TALLYLOG_TRUSTED_PROXIES": "1"})
    assert https["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert https["SESSION_COOKIE_SECURE"] and https["CSRF_COOKIE_SECURE"] and https["LANGUAGE_COOKIE_SECURE"]
    assert https["CSRF_TRUSTED_ORIGINS"] == ["https://example.org"]


def test_caches_redis_when_configured_else_memory(tmp_path: Path) -> None:
    redis = config_module.caches(tmp_path, {"TALLYLOG_CACHE_URL": "redis://127.0.0.1:6390/0"})["default"]
    assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache" and redis["LOCATION"] == "redis://127.0.0.1:6390/0"
    default = config_module.caches(tmp_path, {})["default"]
    assert default["BACKEND"] == config_module.SHARED_MEMORY_CACHE
    assert default["LOCATION"].startswith("/dev/shm/") and str(tmp_path) not in default["LOCATION"]


def test_a_bad_database_url_gives_no_database_at_all(tmp_path: Path) -> None:
    # Never the embedded SQLite database in place of the PostgreSQL one that was meant.
    for bad in ({"DATABASE_URL": "mysql://db/x"}, {"DATABASE_REPLICA_URLS": "postgres://r1/x"}):
        assert databases(tmp_path / "db.sqlite3", bad) == {"default": {"ENGINE": "django.db.backends.dummy"}}


def test_a_bad_django_setting_is_its_check_too() -> None:
    with override_settings(TALLYLOG_SEQUENCER_BATCH=4096.0, TALLYLOG_GROUP_COMMIT="sometimes"):
        assert sorted(e.id for e in check_configuration()) == ["tallylog.E004", "tallylog.E012"]
    assert check_configuration() == []


def test_override_settings_refreshes_it() -> None:
    before = config()
    assert config() is before  # built once
    with override_settings(TALLYLOG_HSTS_SECONDS=60):
        assert config().hsts_seconds == 60
    assert config().hsts_seconds == before.hsts_seconds
    with override_settings():
        del settings.TALLYLOG_FLOOD_THRESHOLD  # deleting sends no setting_changed: still seen
        assert config().flood_threshold == 20
    assert config().flood_threshold == 0


def test_pytest_django_settings_fixture_refreshes_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TALLYLOG_CONSOLE_IDLE_SECONDS = 90
    assert config().console_idle_seconds == 90


def test_it_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        config().sequencer_batch = 1  # type: ignore[misc]


# -- the settings that were documented but never read -------------------------------------


@pytest.mark.urls("tests.safety.urls")
def test_hsts_seconds_is_read_from_the_environment(environ: Callable[..., None]) -> None:
    environ(TALLYLOG_HSTS_SECONDS="600")
    assert Client().get("/t/", secure=True)["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    environ(TALLYLOG_HSTS_SECONDS="0")
    assert "Strict-Transport-Security" not in Client().get("/t/", secure=True)


def test_console_time_outs_are_read_from_the_environment(db: None, environ: Callable[..., None]) -> None:
    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.volunteers import actions
    from tallylog.registry.volunteers.models import Role

    ensure_default_campaign()
    password = "correct horse battery staple"
    actions.add_staff("cfg-mei", role=Role.MODERATOR, centre=None, password=password)
    environ(TALLYLOG_CONSOLE_IDLE_SECONDS="120", TALLYLOG_CONSOLE_MAX_SECONDS="300")
    client = Client()
    assert client.post("/console/login/", {"username": "cfg-mei", "password": password}).status_code == 302
    assert 0 < client.session.get_expiry_age() <= 120
    assert client.get("/console/").status_code == 200
    session = client.session
    session["console_login_at"] = int(time.time()) - 400  # well within the default 12 hours
    session.save()
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


# -- the one table ------------------------------------------------------------------------


def documented() -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if m := TABLE_ROW.match(line):
            rows[m[1]] = (m[2], m[3], m[4])
    return rows


def test_every_setting_is_documented_and_every_documented_setting_is_read() -> None:
    rows = documented()
    assert sorted(rows) == sorted(SETTINGS)
    for name, (default, _, check) in rows.items():
        s = SETTINGS[name]
        assert check == (f"`{s.check}`" if s.check else "—"), name
        if type(s.default) in (int, float):
            assert default == f"`{s.default}`", name
    # Read: each Config field by the code, each of Django's by settings.py (or before Django).
    sources = "\n".join(
        p.read_text() for p in (ROOT / "tallylog").rglob("*.py") if p.name != "config.py"
    )
    for field in dataclasses.fields(Config):
        assert re.search(rf"config\(\)\.{field.name}\b", sources), f"Config.{field.name} is never read"
    for s in config_module.DJANGO_ENVIRONMENT:
        if not s.name.startswith("DATABASE_") and s.name != "TALLYLOG_CACHE_URL":  # config.databases(), caches()
            assert re.search(rf"(_env|environ_value)\(\"{s.name}\"\)", sources), f"{s.name} is never read"


def test_settings_are_tabled_only_in_docs_configuration() -> None:
    others = [ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")]
    for path in others:
        if path.name == "configuration.md":
            continue
        text = path.read_text()
        assert not [line for line in text.splitlines() if TABLE_ROW.match(line)], path.name
        if any(f"`{name}`" in text for name in SETTINGS):
            assert "configuration.md" in text, f"{path.name} names settings but does not link docs/configuration.md"


# -- the email intake's mailbox ----------------------------------------------------------


def test_the_intake_mailbox_url() -> None:
    from tallylog.config import ImapUrl

    built, found = build(environ={"TALLYLOG_INTAKE_IMAP_URL": "imaps://in%40take:p%3Ass@mail.example.org/Declarations"})
    assert found == []
    assert built.intake_imap_url == ImapUrl(True, "mail.example.org", 993, "in@take", "p:ss", "Declarations")
    built, found = build(environ={"TALLYLOG_INTAKE_IMAP_URL": "imap://u:p@127.0.0.1:1143"})
    assert built.intake_imap_url == ImapUrl(False, "127.0.0.1", 1143, "u", "p", "INBOX")
    assert build(environ={})[0].intake_imap_url is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3s://u:secret@mail.example.org", "must be an imaps:// URL (scheme 'pop3s' is not supported)"),
        ("imaps://u:secret@mail.example.org:99x", "must be an imaps:// URL with a numeric port"),
        ("imaps://mail.example.org", "must be an imaps:// URL with a user and a password"),
        ("imaps://u:secret@", "must be an imaps:// URL with a host"),
        ("imap://u:secret@mail.example.org", "plain imap:// is only for a server on this machine"),
    ],
)
def test_a_malformed_intake_mailbox_url_is_a_specific_system_check_error_without_the_password(
    environ: Callable[..., None], url: str, message: str
) -> None:
    environ(TALLYLOG_INTAKE_IMAP_URL=url)
    errors = [e for e in check_configuration() if e.id == "tallylog.E024"]
    assert len(errors) == 1 and message in errors[0].msg, errors
    assert errors[0].msg.startswith("TALLYLOG_INTAKE_IMAP_URL must be")
    assert "secret" not in errors[0].msg
    with pytest.raises(ConfigError):
        config()
