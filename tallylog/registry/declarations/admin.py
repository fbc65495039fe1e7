"""Django admin for declarations: operators moderate and redact; receipt hashes are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import get_language, gettext, pgettext
from django.utils.translation import gettext_lazy as _

from tallylog.registry.declarations import actions
from tallylog.registry.declarations.models import (
    Declaration,
    RedactedBy,
    RedactionReason,
)
from tallylog.registry.declarations.regions import region_name

ADMIN_REJECT_REASON = "rejected by a moderator in the admin"


@admin.register(Declaration)
class DeclarationAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "alias", "status", "channel", "log_index", "created_at", "redacted_at")
    list_filter = ("campaign", "status", "channel")
    search_fields = ("alias",)
    ordering = ("-id",)
    list_select_related = ("campaign", "entry")
    # Only the content may be edited here (before publication it is not yet committed to);
    # everything else goes through the actions. receipt_hash, tag and salt are excluded.
    # The organisations and the region are shown by their names (org_names, region_label).
    exclude = ("receipt_hash", "salt", "tag", "orgs", "region")
    readonly_fields = (
        "campaign",
        "org_names",
        "channel",
        "declared_on",
        "status",
        "reject_reason",
        "created_at",
        "published_at",
        "moderated_by",
        "redacted_at",
        "redacted_by",
        "entry",
        "alias",
        "statement",
        "region_label",
    )
    # One removal action per published reason category (RedactionReason).
    actions = ["publish_selected", "reject_selected", *(f"redact_{r}" for r in RedactionReason.values)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # declarations come through submit_declaration only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a logged entry is forever; redact instead

    @admin.display(description=_("organisations"))
    def org_names(self, obj: Declaration) -> str:
        """In the campaign's order of organisations (the leaf's is alphabetical)."""
        names = [o.localized("name", get_language()) for o in obj.campaign.organisations.all() if o.code in obj.orgs]
        return pgettext("list separator", ", ").join(names)

    @admin.display(description=_("region"))
    def region_label(self, obj: Declaration) -> str:
        return region_name(obj.region, get_language()) or obj.region

    @admin.display(description=_("log index"))
    def log_index(self, obj: Declaration) -> int | None:
        return obj.log_index

    def _each(self, request: HttpRequest, queryset: QuerySet[Declaration], fn: Any, done_message: str) -> None:
        """Apply ``fn`` to each selected declaration; say how many it changed
        (``done_message`` with ``%(n)d``) and how many it left as they were."""
        done = failed = 0
        for declaration in queryset:
            try:
                fn(declaration)
                done += 1
            except actions.InvalidTransition:
                failed += 1
        if done:
            self.message_user(request, done_message % {"n": done}, messages.SUCCESS)
        if failed:
            self.message_user(request, gettext("Not pending, left unchanged: %(n)d") % {"n": failed}, messages.WARNING)

    @admin.action(description=_("Publish the selected pending declarations"))
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._each(request, queryset, lambda d: actions.publish(d, moderator=request.user), gettext("Published: %(n)d"))

    @admin.action(description=_("Reject the selected pending declarations"))
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._each(
            request,
            queryset,
            lambda d: actions.reject(d, ADMIN_REJECT_REASON, moderator=request.user),
            gettext("Rejected: %(n)d"),
        )

    def _redact(self, request: HttpRequest, queryset: QuerySet[Declaration], reason: str) -> None:
        self._each(
            request,
            queryset,
            lambda d: actions.redact(d, by=RedactedBy.MODERATOR, reason=reason),
            gettext("Content removed: %(n)d"),
        )

    @admin.action(description=_("Remove the content of the selected declarations: personal data"))
    def redact_personal_data(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._redact(request, queryset, RedactionReason.PERSONAL_DATA)

    @admin.action(description=_("Remove the content of the selected declarations: abuse"))
    def redact_abuse(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._redact(request, queryset, RedactionReason.ABUSE)

    @admin.action(description=_("Remove the content of the selected declarations: duplicate"))
    def redact_duplicate(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._redact(request, queryset, RedactionReason.DUPLICATE)

    @admin.action(description=_("Remove the content of the selected declarations: legal request"))
    def redact_legal_request(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._redact(request, queryset, RedactionReason.LEGAL_REQUEST)

    @admin.action(description=_("Remove the content of the selected declarations: other reason"))
    def redact_other(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        self._redact(request, queryset, RedactionReason.OTHER)
