"""Migration 0004: the first consent statement in Taiwan's words, without overriding an operator."""

from __future__ import annotations

import importlib
from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from tallylog.registry.subscribers.models import ConsentStatement, Subscriber

first = importlib.import_module("tallylog.registry.subscribers.migrations.0002_first_consent_statement")
wording = importlib.import_module("tallylog.registry.subscribers.migrations.0004_consent_statement_taiwan_wording")


def install_first() -> ConsentStatement:
    """Version 1 as migration 0002 installed it, an hour ago."""
    ConsentStatement.objects.all().delete()
    return ConsentStatement.objects.create(version="1", **first.TEXTS, in_force_from=timezone.now() - timedelta(hours=1))


def test_a_fresh_install_reads_taiwans_words(db) -> None:
    text = ConsentStatement.objects.current().text_zh_hant
    assert text == wording.NEW and "保存" not in text and "表格" not in text


def test_unused_statement_is_corrected_in_place_and_back(db) -> None:
    statement = install_first()
    wording.reword(apps, None)
    statement.refresh_from_db()
    assert statement.text_zh_hant == wording.NEW
    assert statement.text_zh_hans == first.TEXTS["text_zh_hans"] and statement.text_en == first.TEXTS["text_en"]
    wording.unword(apps, None)
    statement.refresh_from_db()
    assert statement.text_zh_hant == first.TEXTS["text_zh_hant"]


def test_a_statement_people_agreed_to_is_never_reworded_but_succeeded(db) -> None:
    statement = install_first()
    Subscriber.objects.create(email="a@example.org", language="zh-hant", consent=statement, consented_at=timezone.now())
    wording.reword(apps, None)
    statement.refresh_from_db()
    assert statement.text_zh_hant == first.TEXTS["text_zh_hant"]  # what they agreed to
    current = ConsentStatement.objects.current()
    assert current.version == "1.1" and current.text_zh_hant == wording.NEW
    assert current.text_en == statement.text_en
    wording.reword(apps, None)  # idempotent
    assert ConsentStatement.objects.count() == 2


def test_an_operators_wording_or_later_version_is_kept(db) -> None:
    statement = install_first()
    statement.text_zh_hant = "營運者自己的措辭。"
    statement.save()
    wording.reword(apps, None)
    assert list(ConsentStatement.objects.values_list("version", "text_zh_hant")) == [("1", "營運者自己的措辭。")]
    statement = install_first()
    Subscriber.objects.create(email="b@example.org", language="en", consent=statement, consented_at=timezone.now())
    ConsentStatement.objects.create(version="2", text_zh_hans="二", text_zh_hant="二", text_en="Two.")
    wording.reword(apps, None)
    assert sorted(ConsentStatement.objects.values_list("version", flat=True)) == ["1", "2"]
