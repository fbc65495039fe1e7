"""News posts: written in the admin in Markdown, published in one language each."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import lang_suffix
from tallylog.registry.news.markdown import render_markdown

LANGUAGE_CHOICES = [("zh-hans", "简体中文"), ("zh-hant", "繁體中文"), ("en", "English")]


def site_language(language_code: str | None) -> str:
    """One of the site's language codes (``zh-hans``, ``zh-hant``, ``en``) for any Django
    or browser language code."""
    return lang_suffix(language_code).replace("_", "-")


# The versions of a story a reader is shown, best first: a reader of Traditional Chinese
# reads Simplified (and the other way round) sooner than nothing; English readers get English.
READER_FALLBACK = {
    "zh-hant": ("zh-hant", "zh-hans", "en"),
    "zh-hans": ("zh-hans", "zh-hant", "en"),
    "en": ("en",),
}


class PostQuerySet(models.QuerySet["Post"]):
    def published(self, now: datetime.datetime | None = None) -> PostQuerySet:
        """Posts whose publication date has come (drafts have none)."""
        return self.filter(published_at__lte=now or timezone.now())

    def in_language(self, language_code: str) -> PostQuerySet:
        return self.filter(language=site_language(language_code))

    def newest_first(self) -> PostQuerySet:
        return self.order_by("-published_at", "-id")

    def for_reader(self, language_code: str) -> list[Post]:
        """One version of each story (a post and its translations), newest first: in the
        reader's language when it has one, else in the nearest (``READER_FALLBACK``: the
        other Chinese, then English). One query; the caller says which are not the reader's."""
        order = READER_FALLBACK[site_language(language_code)]
        best: dict[int, Post] = {}
        for post in self.filter(language__in=order).only("title", "slug", "published_at", "language", "translation_of"):
            story = post.translation_of_id or post.pk
            if story not in best or order.index(post.language) < order.index(best[story].language):
                best[story] = post
        return sorted(best.values(), key=lambda p: (p.published_at, p.pk), reverse=True)


class Post(models.Model):
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGE_CHOICES)
    body = models.TextField(_("body (Markdown)"), help_text=_("Markdown; raw HTML is shown as text."))
    body_html = models.TextField(editable=False, default="")
    published_at = models.DateTimeField(
        _("publication date"), null=True, blank=True,
        help_text=_("Empty: a draft. In the future: published then."),
    )
    translation_of = models.ForeignKey(
        "self", verbose_name=_("translation of"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="translations",
        help_text=_("The original post, when this one is its translation."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        verbose_name = _("news post")
        verbose_name_plural = _("news posts")
        indexes = [models.Index(fields=["language", "published_at"], name="post_language_date_idx")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.body_html = render_markdown(self.body)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("news:post", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.published_at is not None and self.published_at <= timezone.now()

    def family(self) -> list[Post]:
        """This post with all its translations (the original and its other translations)."""
        root = self.translation_of or self
        return [root, *root.translations.all()]

    def version_for(self, language_code: str) -> Post:
        """The published version of this post in ``language_code``, else this post."""
        wanted = site_language(language_code)
        now = timezone.now()
        for post in self.family():
            if post.language == wanted and post.published_at and post.published_at <= now:
                return post
        return self
