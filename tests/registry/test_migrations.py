"""Migrations in step with the models, for every app of ours (``tallylog.*`` in
INSTALLED_APPS): a model changed without its migration fails here, whichever app it is in."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

# They read the database settings (DATABASE_URL and the checks on it): both passes of make test.
pytestmark = pytest.mark.both_databases

OURS = sorted(c.label for c in apps.get_app_configs() if c.name.startswith("tallylog."))
WITH_MODELS = sorted(c.label for c in apps.get_app_configs() if c.name.startswith("tallylog.") and list(c.get_models()))


def test_every_app_with_models_is_checked() -> None:
    registry = {"campaigns", "declarations", "entries", "imports", "news", "petitions", "subscribers", "volunteers"}
    assert registry <= set(WITH_MODELS) <= set(OURS)


def test_models_match_migrations(db: None) -> None:
    # Exits non-zero (SystemExit) when a model of any of these apps changed without a migration.
    call_command("makemigrations", *OURS, "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize("label", WITH_MODELS)
def test_a_model_changed_without_a_migration_is_found(label: str) -> None:
    """What ``makemigrations --check`` compares, with one field added to a model of ``label``."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    changed = ProjectState.from_apps(apps)
    key = next(k for k in sorted(changed.models) if k[0] == label)
    changed.models[key].fields["added_without_migration"] = models.IntegerField(default=0)
    questioner = NonInteractiveMigrationQuestioner(specified_apps={label}, dry_run=True)
    changes = MigrationAutodetector(loader.project_state(), changed, questioner).changes(
        graph=loader.graph, trim_to_apps={label}, convert_apps={label}
    )
    assert label in changes, f"a new field on {key[1]} went unnoticed"
