"""Fixtures for the safety tests: a small site with a real log and one user of every role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from tallylog.composition import ensure_signing_key, get_log, reset_log_for_tests
from tallylog.home import Home
from tallylog.registry.campaigns.defaults import ensure_default_campaign
from tallylog.registry.declarations.actions import submit_declaration
from tallylog.registry.declarations.models import Channel
from tallylog.registry.entries.sequencer import sequence_pending
from tallylog.registry.volunteers import actions
from tallylog.registry.volunteers.models import Role
from tests.support.staff import PASSWORD


@pytest.fixture
def site(db: None, tmp_path: Path) -> Iterator[dict[str, object]]:
    home = Home.from_env(tmp_path / "home")
    home.ensure()
    ensure_signing_key(home, "example.org/permissions-test")
    with override_settings(TALLYLOG_HOME=str(home.path)):
        reset_log_for_tests()
        campaign = ensure_default_campaign()[0]
        public = submit_declaration(campaign, channel=Channel.WEB, alias="公开者", orgs=["party"])
        held = submit_declaration(campaign, channel=Channel.WEB, alias="待审者", orgs=["league"], hold_for_review=True)
        sequence_pending(get_log(), batch_size=100)
        centre = actions.create_centre("Los Angeles")
        users: dict[str, object] = {"anonymous": None}
        for role in (Role.VOLUNTEER, Role.COORDINATOR, Role.MODERATOR, Role.OPERATOR):
            staff = actions.add_staff(
                f"staff-{role}", role=role, password=PASSWORD,
                centre=centre if role in (Role.VOLUNTEER, Role.COORDINATOR) else None,
            )  # fmt: skip
            users[str(role)] = staff.user
        users["superuser"] = get_user_model().objects.create_superuser("staff-root", password=PASSWORD)
        # Read again: its entry now has its log index (the public id, issue 15).
        logged = type(public.declaration).objects.select_related("entry").get(pk=public.declaration.pk)
        yield {"public": logged, "held": held.declaration, "users": users}
    reset_log_for_tests()
    shutil.rmtree(home.path, ignore_errors=True)
