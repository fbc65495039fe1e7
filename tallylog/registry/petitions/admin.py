"""Operators' view of petitions: options per petition, signatures, CSV export."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _

from tallylog.registry.petitions import actions
from tallylog.registry.petitions.models import Petition, Signature


@admin.register(Petition)
class PetitionAdmin(admin.ModelAdmin):
    list_display = ("campaign", "require_confirmation")
    actions = ["export_csv"]

    @admin.action(description=_("Export the counted signatures as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Petition]) -> StreamingHttpResponse:
        petition = queryset.select_related("campaign").first()
        assert petition is not None, "export_csv: the admin passes a non-empty selection"
        response = StreamingHttpResponse(actions.signatures_csv(petition.campaign), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{petition.campaign.slug}-signatures.csv"'
        response["Cache-Control"] = "private, no-store"
        return response


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    """Read-only: signatures change only through ``petitions.actions``."""

    list_display = ("id", "campaign", "name", "show_name", "country", "status", "channel", "counted_at")
    list_filter = ("campaign", "status", "show_name", "channel")
    search_fields = ("name",)
    list_select_related = ("campaign",)
    exclude = ("email",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
