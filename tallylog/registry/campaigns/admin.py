"""Django admin for campaigns and their organisations."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tallylog.registry.campaigns.models import Campaign, Organisation


class OrganisationInline(admin.TabularInline):
    model = Organisation
    extra = 0
    fields = ("code", "name_zh_hans", "name_zh_hant", "name_en", "position")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("slug", "kind", "policy", "title_zh_hans", "is_active")
    list_filter = ("kind", "policy", "is_active")
    inlines = [OrganisationInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> tuple[str, ...]:
        # The slug and kind are in every leaf already logged: fixed once created.
        return ("slug", "kind") if obj is not None else ()
