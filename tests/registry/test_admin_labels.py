"""Issue 17: the admin speaks the operator's language. Every app, model, field and choice
of ours is named through ``gettext_lazy`` (so "Log entrys", "Slug", "publish at once"
never reach a Chinese page), and the admin's pages, filters and actions read in Chinese."""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation
from django.utils.functional import Promise

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import submit_declaration
from tallylog.registry.news.models import LANGUAGE_CHOICES
from tallylog.registry.volunteers.models import Call, Centre

CATALOGUE = Path(__file__).resolve().parents[2] / "tallylog" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
OURS = [c for c in apps.get_app_configs() if c.name.startswith("tallylog.registry.")]
MODELS = [m for c in OURS for m in c.get_models()]


@functools.cache
def _chinese() -> dict[str, str]:
    return {e.msgid: e.msgstr for e in polib.pofile(str(CATALOGUE)) if not e.msgctxt and not e.obsolete}


def _translated(text: object) -> bool:
    """Whether ``text`` is a lazy translation with a Simplified Chinese message."""
    if not isinstance(text, Promise):
        return False
    with translation.override("en"):
        return bool(_chinese().get(str(text)))


@pytest.mark.parametrize("config", OURS, ids=lambda c: c.label)
def test_every_app_is_named_in_chinese(config) -> None:  # type: ignore[no-untyped-def]
    assert _translated(config.verbose_name), config.label


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_model_field_and_choice_is_named_in_chinese(model) -> None:  # type: ignore[no-untyped-def]
    meta = model._meta
    assert _translated(meta.verbose_name) and _translated(meta.verbose_name_plural), meta.label
    untranslated = [
        f.name
        for f in meta.get_fields(include_hidden=False)
        # Fields a form never shows (editable=False) are named in no page.
        if f.concrete and f.editable and not f.auto_created and f.name != "id" and not _translated(f.verbose_name)
    ]
    assert untranslated == [], meta.label
    for f in meta.concrete_fields:
        for value, label in f.flatchoices if f.choices else ():
            if (value, label) in LANGUAGE_CHOICES:
                continue  # each language named in itself
            assert _translated(label), (meta.label, f.name, value)


def test_the_chinese_admin_reads_in_chinese(campaign: Campaign) -> None:
    user = get_user_model().objects.create_superuser("root-admin", password="pw")
    client = Client()
    client.force_login(user)
    Campaign.objects.create(slug="pledge", title_zh_hans="承诺", policy=Campaign.Policy.REVIEW)

    index = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "服务管理后台" in index and "Django" not in index
    for english in ("Log entrys", "Log entries", "Campaigns", "Declarations", "Volunteers and calls", "Api tokens"):
        assert f">{english}<" not in index, english
    assert "日志条目" in index and "义工与电话" in index

    campaigns = client.get("/admin/campaigns/campaign/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    for english in (">Slug<", ">Kind<", ">Policy<", "publish at once", "a moderator publishes"):
        assert english not in campaigns, english
    assert "由審核員發佈" in campaigns and "發佈方式" in campaigns

    submit_declaration(campaign, alias="老王", orgs=["party"], hold_for_review=True)
    declarations = client.get("/admin/declarations/declaration/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "删除所选声明的内容：滥用" in declarations  # an admin action
    assert "待审核" in declarations  # a list filter's choice

    form = client.get(f"/admin/campaigns/campaign/{Campaign.objects.get(slug='pledge').pk}/change/",
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "标题（简体中文）" in form and "Title zh hans" not in form


def test_regions_and_organisations_show_by_name_in_the_admin(campaign: Campaign) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root-admin", password="pw"))
    centre = Centre.objects.create(name="Los Angeles", slug="la")
    call = Call.objects.create(
        centre=centre, called_on=datetime.date(2026, 12, 1), outcome="thanked", language="mandarin",
        duration="1-5", region="henan",
    )
    calls = client.get("/admin/volunteers/call/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">河南<" in calls and ">henan<" not in calls
    form = client.get(f"/admin/volunteers/call/{call.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert '<option value="henan" selected>河南</option>' in form  # chosen from the list, not typed
    declaration = submit_declaration(campaign, alias="老王", orgs=["party", "league"], region="guangdong").declaration
    page = client.get(f"/admin/declarations/declaration/{declaration.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert "中国共产党、共青团" in html and "广东" in html and "guangdong" not in html


def test_every_registered_admin_names_its_model_in_chinese() -> None:
    for model in admin.site._registry:
        if model._meta.app_label in {c.label for c in OURS}:
            assert _translated(model._meta.verbose_name_plural), model._meta.label
