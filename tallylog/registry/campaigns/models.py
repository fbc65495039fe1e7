"""Campaigns: what people declare or sign, in three languages, and their organisations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

LANGS = ("zh_hans", "zh_hant", "en")


def lang_suffix(language_code: str | None) -> str:
    """Map a Django language code (``zh-hans``, ``zh-Hant``, ``en-us``) to a field suffix."""
    code = (language_code or "").lower().replace("-", "_")
    if code.startswith("zh_hant") or code in ("zh_tw", "zh_hk", "zh_mo"):
        return "zh_hant"
    if code.startswith("zh"):
        return "zh_hans"
    return "en"


class Localized:
    """Mixin: ``obj.localized("title", "zh-hant")`` reads ``title_zh_hant``, falling back
    to the other languages when that one is empty."""

    def localized(self, field: str, language_code: str | None) -> str:
        first = lang_suffix(language_code)
        for suffix in (first, *[s for s in LANGS if s != first]):
            value = getattr(self, f"{field}_{suffix}", "")
            if value:
                return value
        return ""


def default_thresholds() -> Iterator[int]:
    """1, 10, 100, … 100,000,000, then every round hundred million, forever."""
    n = 1
    while n < 100_000_000:
        yield n
        n *= 10
    n = 100_000_000
    while True:
        yield n
        n += 100_000_000


class CampaignQuerySet(models.QuerySet["Campaign"]):
    def active(self) -> CampaignQuerySet:
        return self.filter(is_active=True)

    def declarations(self) -> CampaignQuerySet:
        return self.filter(kind=Campaign.Kind.DECLARATION)

    def petitions(self) -> CampaignQuerySet:
        return self.filter(kind=Campaign.Kind.PETITION)


class Campaign(Localized, models.Model):
    class Kind(models.TextChoices):
        DECLARATION = "declaration", _("declaration")
        PETITION = "petition", _("petition")

    class Policy(models.TextChoices):
        AUTO = "auto", _("publish at once")
        REVIEW = "review", _("a moderator publishes")

    slug = models.SlugField(_("short name (slug)"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.DECLARATION)
    policy = models.CharField(_("publication policy"), max_length=8, choices=Policy.choices, default=Policy.AUTO)
    title_zh_hans = models.CharField(_("title (Simplified Chinese)"), max_length=200)
    title_zh_hant = models.CharField(_("title (Traditional Chinese)"), max_length=200, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    text_zh_hans = models.TextField(_("text (Simplified Chinese)"), blank=True)
    text_zh_hant = models.TextField(_("text (Traditional Chinese)"), blank=True)
    text_en = models.TextField(_("text (English)"), blank=True)
    # Explicit milestone thresholds; empty means default_thresholds().
    milestones = models.JSONField(_("milestones"), default=list, blank=True)
    target = models.PositiveBigIntegerField(_("target"), null=True, blank=True)
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.slug

    def thresholds(self) -> Iterator[int]:
        """This campaign's milestone thresholds, ascending."""
        if self.milestones:
            yield from sorted(int(t) for t in self.milestones)
        else:
            yield from default_thresholds()

    def thresholds_crossed(self, before: int, after: int) -> list[int]:
        """Thresholds t with before < t <= after."""
        crossed = []
        for t in self.thresholds():
            if t > after:
                break
            if t > before:
                crossed.append(t)
        return crossed


class Organisation(Localized, models.Model):
    """An organisation one can withdraw from, e.g. ``party``, ``league``, ``pioneers``."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="organisations"
    )
    code = models.SlugField(_("code"), max_length=32)
    name_zh_hans = models.CharField(_("name (Simplified Chinese)"), max_length=100)
    name_zh_hant = models.CharField(_("name (Traditional Chinese)"), max_length=100, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["campaign_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="organisation_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug}/{self.code}"


# -- a per-process cache for the hot path (declarations through the API) ------------------

# Seconds a cached campaign may be served after another process changed it. Changes made
# through the ORM in this process (admin, ``save``/``delete``) drop the cache at once; a
# change in another process (another web worker, a CLI command) or by ``QuerySet.update``
# is seen within this time. The cutoff by ``closes_at`` is exact: it is compared with the
# clock on every submission.
CAMPAIGN_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class CachedCampaign:
    """A campaign as read at ``read_at`` (``time.monotonic``), with its organisation codes."""

    campaign: Campaign
    org_codes: frozenset[str]
    read_at: float


_campaign_cache: dict[str, CachedCampaign | None] = {}


def cached_campaign(slug: str) -> CachedCampaign | None:
    """Campaign ``slug`` and its organisation codes, read at most
    ``CAMPAIGN_CACHE_SECONDS`` ago by this process; None if there is no such campaign.

    Treat the campaign as read-only: it is shared by this process's threads.
    """
    now = time.monotonic()
    hit = _campaign_cache.get(slug)
    if hit is not None and now - hit.read_at < CAMPAIGN_CACHE_SECONDS:
        return hit
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        _campaign_cache.pop(slug, None)
        return None
    codes = frozenset(Organisation.objects.filter(campaign=campaign).values_list("code", flat=True))
    fresh = CachedCampaign(campaign, codes, now)
    _campaign_cache[slug] = fresh
    return fresh


def forget_cached_campaigns(**kwargs: object) -> None:
    """Drop this process's cached campaigns (connected to their and their organisations'
    ``post_save`` and ``post_delete``)."""
    _campaign_cache.clear()


for _name, _signal in (("save", post_save), ("delete", post_delete)):
    for _model in (Campaign, Organisation):
        _signal.connect(forget_cached_campaigns, sender=_model, dispatch_uid=f"campaign-cache-{_name}-{_model.__name__}")
