"""System checks (stable IDs), the campaign indexes, and the admin (migrations in step with the
models: tests/registry/test_migrations.py)."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from tallylog import checks
from tallylog.home import Home

# They read the database settings (DATABASE_URL and the checks on it): both passes of make test.
pytestmark = pytest.mark.both_databases


def ids(messages: list) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.parametrize(
    ("table", "composite"),
    [("declarations_declaration", "declaration_status_idx"), ("entries_logentry", "entry_campaign_index_idx")],
)
def test_campaign_lookups_have_one_index(db: None, table: str, composite: str) -> None:
    # Every index written per declaration costs the bulk import and the disk; the campaign
    # foreign key's own index would only repeat the composite that starts with it.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    by_campaign = sorted(
        name for name, c in constraints.items() if c["index"] and c["columns"][:1] == ["campaign_id"]
    )
    assert by_campaign == [composite]


@pytest.mark.parametrize(("app", "migration"), [("declarations", "0002"), ("entries", "0003")])
def test_dropping_the_campaign_index_does_not_rebuild_the_table(transactional_db: None, app: str, migration: str) -> None:
    # On SQLite a plain AlterField copies the whole table: hours at hundreds of millions.
    out = io.StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    sql = out.getvalue()
    assert "DROP INDEX" in sql
    assert "CREATE TABLE" not in sql and "INSERT" not in sql


def test_missing_secrets_is_e001() -> None:
    with override_settings(TALLYLOG_RECEIPT_KEY=""):
        assert ids(checks.check_secrets()) == ["tallylog.E001"]
    assert checks.check_secrets() == []


def test_signing_key_checks(home: Home) -> None:
    assert checks.check_signing_key() == []
    os.chmod(home.signing_key_path, 0o644)
    assert ids(checks.check_signing_key()) == ["tallylog.W001"]
    home.signing_key_path.write_text("PRIVATE+KEY+garbage\n")
    os.chmod(home.signing_key_path, 0o600)
    assert ids(checks.check_signing_key()) == ["tallylog.E003"]
    home.signing_key_path.unlink()
    assert ids(checks.check_signing_key()) == ["tallylog.E002"]


def test_home_private_checks(home: Home) -> None:
    # Issue 15 item 9: a home other users can enter, a database they can read.
    assert checks.check_home_private() == []
    database = home.db_path
    database.write_bytes(b"")
    os.chmod(database, 0o644)
    assert checks.check_home_private() == []  # the home (0700) keeps them out
    os.chmod(home.path, 0o755)
    assert ids(checks.check_home_private()) == ["tallylog.E005", "tallylog.W002"]
    assert str(database) in checks.check_home_private()[0].msg
    os.chmod(home.path, 0o711)  # enter-only: a web server's ACL for log/ shows like this
    assert ids(checks.check_home_private()) == ["tallylog.E005"]
    os.chmod(home.secrets_path, 0o640)
    os.chmod(home.path, 0o750)
    assert ids(checks.check_home_private()) == ["tallylog.E005", "tallylog.E005", "tallylog.W002"]
    assert sorted(home.make_private()) == sorted([home.path, home.secrets_path, database])
    assert checks.check_home_private() == []
    assert "tallylog.E005" not in ids(checks.run_tallylog_checks())
    os.chmod(database, 0o604)
    os.chmod(home.path, 0o701)
    assert "tallylog.E005" in ids(checks.run_tallylog_checks())  # registered, deployment checks


@pytest.mark.parametrize(
    "name, value",
    [("TALLYLOG_SEQUENCER_BATCH", 0), ("TALLYLOG_SEQUENCER_BATCH", 10**6), ("TALLYLOG_SEQUENCER_INTERVAL", 0)],
)
def test_sequencer_settings_e004(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        assert ids(checks.check_sequencer_settings()) == ["tallylog.E004"]
    assert checks.check_sequencer_settings() == []


def test_checks_are_registered(home: Home) -> None:
    home.signing_key_path.unlink()
    assert "tallylog.E002" in ids(checks.run_tallylog_checks())


def test_admin_never_shows_receipt_hashes(campaign, admin_client: Client) -> None:  # type: ignore[no-untyped-def]
    from tallylog.registry.declarations.actions import submit_declaration

    s = submit_declaration(campaign, alias="管理员看", orgs=["party"])
    d = s.declaration
    page = admin_client.get(f"/admin/declarations/declaration/{d.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "管理员看" in body
    assert "receipt_hash" not in body and 'name="tag"' not in body and 'name="salt"' not in body
    assert bytes(d.receipt_hash).hex() not in body
    listing = admin_client.get("/admin/declarations/declaration/")
    assert listing.status_code == 200
    response = admin_client.post(
        "/admin/declarations/declaration/",
        {"action": "redact_legal_request", "_selected_action": [d.pk]},
    )
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.is_redacted and d.redacted_by == "moderator" and d.alias == ""
    assert d.redaction_reason == "legal_request"
    assert admin_client.get("/admin/entries/logentry/").status_code == 200
    assert admin_client.get("/admin/campaigns/campaign/").status_code == 200
