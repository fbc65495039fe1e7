"""Fixtures for the public pages: an English-speaking client, the three languages."""

from __future__ import annotations

import pytest
from django.test import Client

LANGS = ("zh-hans", "zh-hant", "en")


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")
