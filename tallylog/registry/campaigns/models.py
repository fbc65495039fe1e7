"""Campaigns: what people declare or sign, in three languages, and their organisations."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import models

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
    def active(self) -> "CampaignQuerySet":
        return self.filter(is_active=True)

    def declarations(self) -> "CampaignQuerySet":
        return self.filter(kind=Campaign.Kind.DECLARATION)

    def petitions(self) -> "CampaignQuerySet":
        return self.filter(kind=Campaign.Kind.PETITION)


class Campaign(Localized, models.Model):
    class Kind(models.TextChoices):
        DECLARATION = "declaration", "declaration"
        PETITION = "petition", "petition"

    class Policy(models.TextChoices):
        AUTO = "auto", "publish at once"
        REVIEW = "review", "a moderator publishes"

    slug = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DECLARATION)
    policy = models.CharField(max_length=8, choices=Policy.choices, default=Policy.AUTO)
    title_zh_hans = models.CharField(max_length=200)
    title_zh_hant = models.CharField(max_length=200, blank=True)
    title_en = models.CharField(max_length=200, blank=True)
    text_zh_hans = models.TextField(blank=True)
    text_zh_hant = models.TextField(blank=True)
    text_en = models.TextField(blank=True)
    # Explicit milestone thresholds; empty means default_thresholds().
    milestones = models.JSONField(default=list, blank=True)
    target = models.PositiveBigIntegerField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
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

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="organisations")
    code = models.SlugField(max_length=32)
    name_zh_hans = models.CharField(max_length=100)
    name_zh_hant = models.CharField(max_length=100, blank=True)
    name_en = models.CharField(max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="organisation_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug}/{self.code}"
