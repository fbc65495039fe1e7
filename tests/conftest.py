"""Fixtures shared by the test folders: a fresh cache, the default campaign, a fresh home and
log per test, declarations and the sequencer, a REAL SMTP server on loopback, petitions.

Folder conftests hold what only their folder uses; helpers that are not fixtures (the
subprocess server, the browser, the reference implementations, mail parsing) are in
tests/support/. No test imports a fixture from another folder.

Markers (registered in pyproject.toml): ``server`` for a test that starts a subprocess (a
``tallylog`` command or server, nginx, Go, Chromium, PostgreSQL), ``slow`` for a long one.
``make test-fast`` runs ``-m "not server and not slow"``. A test without the ``server`` mark
that starts a subprocess fails (``refuse_subprocesses``), so the marks stay true; a test that
uses the ``postgres_url`` fixture (tests/scale) is marked ``server`` here.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from django.test import override_settings
from hypothesis import settings as hypothesis_settings

from tallylog.composition import LogServices, ensure_signing_key, get_log, reset_log_for_tests
from tallylog.home import Home
from tallylog.registry.campaigns.defaults import ensure_default_campaign
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import Submission, submit_declaration
from tallylog.registry.entries.sequencer import sequence_pending
from tests.support.mail import Mailbox, make_petition
from tests.support.serverproc import free_port

# No timed assertions in tests: Hypothesis's per-example deadline (200 ms) fails a test when a
# busy machine pauses it, so it is off (bench/ measures speed).
hypothesis_settings.register_profile("tallylog", deadline=None)
hypothesis_settings.load_profile("tallylog")

SERVER_FIXTURES = {"postgres_url"}
# What makes a test touch the suite's database: pytest-django's fixtures (also through
# others, such as ``campaign``) or its mark; or the mark ``both_databases``, for a test that
# reads the database settings or hands DATABASE_URL to a subprocess. A server or command a
# test starts runs on its own home's SQLite database (``serverproc.server_env`` drops
# DATABASE_URL), the same in both passes; the scale tests start a PostgreSQL server of their
# own when the suite has none.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup"}


def touches_database(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker("django_db") is not None
        or item.get_closest_marker("both_databases") is not None
        or bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
    # The PostgreSQL pass of `make test` (scripts/test-both.sh sets TALLYLOG_TEST_PASS) runs
    # the tests that touch the database; the others (the log library, leaf encodings, pure
    # validation) give the same result whatever the database, and run in the SQLite pass.
    if os.environ.get("TALLYLOG_TEST_PASS") == "postgresql":
        same = [item for item in items if not touches_database(item)]
        if same:
            config.hook.pytest_deselected(items=same)
            items[:] = [item for item in items if touches_database(item)]


@pytest.fixture(autouse=True)
def refuse_subprocesses(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside tests marked ``server``, starting a subprocess is an error that names the mark."""
    if request.node.get_closest_marker("server") is not None:
        return
    nodeid = request.node.nodeid

    def refuse(self: subprocess.Popen[bytes], args: object, *rest: object, **kwargs: object) -> None:
        raise AssertionError(f"{nodeid} starts a subprocess ({args!r}): mark it @pytest.mark.server")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Rate limits, flood counts and throttles start from nothing in every test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def campaign(db: None) -> Campaign:
    return ensure_default_campaign()[0]


@pytest.fixture
def review_campaign(campaign: Campaign) -> Campaign:
    campaign.policy = Campaign.Policy.REVIEW
    campaign.save()
    return campaign


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    """A fresh home with secrets and a signing key; settings point at it."""
    h = Home.from_env(tmp_path / "home")
    h.ensure()
    ensure_signing_key(h, "example.org/test-log")
    with override_settings(TALLYLOG_HOME=str(h.path)):
        reset_log_for_tests()
        yield h
    reset_log_for_tests()
    shutil.rmtree(h.path, ignore_errors=True)


@pytest.fixture
def log(home: Home, db: None) -> LogServices:
    return get_log()


@pytest.fixture
def declare(campaign: Campaign) -> Callable[..., Submission]:
    """``declare(alias=…, orgs=…)``: a declaration through the registry's one action."""

    def make(alias: str = "Lin", orgs: tuple[str, ...] = ("party",), **kw: str) -> Submission:
        return submit_declaration(campaign, alias=alias, orgs=list(orgs), **kw)

    return make


@pytest.fixture
def sequence(log: LogServices) -> Callable[..., int]:
    """Run the sequencer until nothing waits, with leaf ``day`` (default: today, UTC);
    returns how many entries it logged."""

    def run(day: datetime.date | None = None) -> int:
        return sequence_pending(get_log(), batch_size=10_000, day=day)

    return run


@pytest.fixture
def mailbox(settings) -> Iterator[Mailbox]:  # noqa: ANN001
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "news@tallylog.test"
    settings.TALLYLOG_SITE_URL = "http://testserver"
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def petition(db: None) -> Campaign:
    """A petition requiring email confirmation (double opt-in)."""
    return make_petition(target=100)


@pytest.fixture
def open_petition(db: None) -> Campaign:
    """A petition that counts signatures at once (email optional)."""
    return make_petition("stand-with-them", confirm=False)
