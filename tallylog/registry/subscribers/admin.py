"""Operators' view of the newsletter: consent statements, subscribers, mailings and their
progress, and the news posts' "mail to subscribers" action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tallylog.registry.news.admin import PostAdmin
from tallylog.registry.news.models import Post
from tallylog.registry.subscribers.models import ConsentStatement, Mailing, Subscriber
from tallylog.registry.subscribers.newsletter import MailingError, mailing_for_post, send_in_background


@admin.register(ConsentStatement)
class ConsentStatementAdmin(admin.ModelAdmin):
    list_display = ("version", "in_force_from")

    def get_readonly_fields(self, request: HttpRequest, obj: ConsentStatement | None = None) -> tuple[str, ...]:
        # A statement someone agreed to is never reworded: write a new version instead.
        if obj is not None and obj.subscribers.exists():
            return ("version", "text_zh_hans", "text_zh_hant", "text_en", "in_force_from")
        return ()


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("email", "language", "status", "consent", "consented_at", "confirmed_at")
    list_filter = ("status", "language", "consent")
    search_fields = ("email",)
    readonly_fields = ("email", "language", "status", "consent", "consented_at", "confirmed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the double opt-in adds subscribers


@admin.register(Mailing)
class MailingAdmin(admin.ModelAdmin):
    list_display = ("__str__", "recipients", "progress_text", "created_at", "finished_at")
    readonly_fields = ("kind", "post", "digest_since", "recipients", "progress_text", "created_at", "finished_at")
    actions = ["resume"]

    @admin.display(description=_("progress"))
    def progress_text(self, obj: Mailing) -> str:
        return ", ".join(f"{state} {n}" for state, n in obj.progress().items() if n)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by the post admin's action or `tallylog newsletter`

    @admin.action(description=_("Resume sending (nobody gets it twice)"))
    def resume(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        for mailing in queryset.filter(finished_at__isnull=True):
            try:
                send_in_background(mailing)
            except MailingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.message_user(request, _("Sending %(m)s in the background.") % {"m": mailing}, messages.SUCCESS)


# The news app's post admin, with the action that mails posts to the subscribers: it lives
# here, where the newsletter does, so that news does not import subscribers.
admin.site.unregister(Post)


@admin.register(Post)
class MailablePostAdmin(PostAdmin):
    actions = ["mail_to_subscribers"]

    @admin.action(description=_("Mail to the newsletter subscribers (each in their language)"))
    def mail_to_subscribers(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            try:
                mailing, created = mailing_for_post(post)
                send_in_background(mailing)
            except MailingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, (
                _("Sending “%(post)s” to %(n)d subscribers; follow its progress under Mailings.")
                if created else _("“%(post)s” was mailed before: resuming that mailing (%(n)d recipients), nobody gets it twice.")
            ) % {"post": post, "n": mailing.recipients}, messages.SUCCESS)
