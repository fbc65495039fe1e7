"""Fixtures for the registry tests: the default campaign, and a fresh log per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tallylog.composition import LogServices, ensure_signing_key, get_log, reset_log_for_tests
from tallylog.home import Home
from tallylog.registry.campaigns.defaults import ensure_default_campaign
from tallylog.registry.campaigns.models import Campaign
from tests.support.mail import mailbox, open_petition, petition  # noqa: F401  (shared fixtures)


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
