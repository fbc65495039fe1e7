"""Operators write news posts here. The newsletter app adds the action that mails a post
to the subscribers (``tallylog.registry.subscribers.admin``): news does not depend on it."""

from __future__ import annotations

from django.contrib import admin

from tallylog.registry.news.models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "language", "published_at", "translation_of")
    list_filter = ("language",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "published_at"
    raw_id_fields = ("translation_of",)
