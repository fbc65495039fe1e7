"""Operators write news posts here; the mailing action sends one to the subscribers."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tallylog.registry.news.models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "language", "published_at", "translation_of")
    list_filter = ("language",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "published_at"
    raw_id_fields = ("translation_of",)
    actions = ["mail_to_subscribers"]

    @admin.action(description=_("Mail to the newsletter subscribers (each in their language)"))
    def mail_to_subscribers(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        from tallylog.registry.subscribers.newsletter import MailingError, mailing_for_post, send_in_background

        for post in queryset:
            try:
                mailing, created = mailing_for_post(post)
            except MailingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            send_in_background(mailing, base_url=request.build_absolute_uri("/"))
            self.message_user(request, (
                _("Sending “%(post)s” to %(n)d subscribers; follow its progress under Mailings.")
                if created else _("“%(post)s” was mailed before: resuming that mailing (%(n)d recipients), nobody gets it twice.")
            ) % {"post": post, "n": mailing.recipients}, messages.SUCCESS)
