"""A real PostgreSQL server for the scale tests (scripts/pg-test.sh), and fresh databases on it.

When the suite already runs against PostgreSQL (``DATABASE_URL``, e.g. under
``scripts/pg-test.sh run``), that server is used; otherwise the fixture starts a throwaway
one and stops it at the end of the session.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.postgres import fresh_database, with_database  # noqa: F401 (test_replica imports it from here)

REPO = Path(__file__).resolve().parents[2]
PG_TEST = REPO / "scripts" / "pg-test.sh"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's database whose role may create databases."""
    existing = os.environ.get("DATABASE_URL", "")
    if existing.startswith(("postgres://", "postgresql://")):
        yield existing
        return
    out = subprocess.run(["bash", str(PG_TEST), "start"], capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        yield values["DATABASE_URL"]
    finally:
        subprocess.run(["bash", str(PG_TEST), "stop", values["PGTEST_DIR"]], check=True)


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database (dropped afterwards)."""
    with fresh_database(postgres_url) as url:
        yield url


def django_database(url: str) -> dict[str, object]:
    """The Django ``DATABASES`` entry of a postgres:// URL (as tallylog.settings builds it)."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
