"""The Django admin for operators: centres, staff, calls, who recorded what, API tokens.

Everything here is internal; the admin is open to operators only (``is_staff``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Field
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tallylog.registry.declarations.regions import region_name
from tallylog.registry.volunteers.models import ApiToken, AssistedDeclaration, Call, Centre, Role, Staff
from tallylog.registry.volunteers.validators import region_choices


@admin.register(Centre)
class CentreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "centre", "review_required"]
    list_filter = ["role", "centre", "review_required"]
    raw_id_fields = ["user"]
    readonly_fields = ["review_held_by"]

    def save_model(self, request, obj, form, change) -> None:
        """A hold placed here is an operator's (only operators open the admin), so no
        coordinator lifts it (``actions.set_review_required``)."""
        if not change or "review_required" in form.changed_data:
            obj.review_held_by = Role.OPERATOR if obj.review_required else ""
        super().save_model(request, obj, form, change)


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["called_on", "centre", "volunteer", "outcome", "language", "region_label", "duration", "declarations"]
    list_filter = ["centre", "outcome", "language", "duration"]
    date_hierarchy = "called_on"
    raw_id_fields = ["volunteer"]
    readonly_fields = ["declarations"]

    @admin.display(description=_("region"), ordering="region")
    def region_label(self, obj: Call) -> str:
        return region_name(obj.region, get_language()) or obj.region

    def formfield_for_dbfield(self, db_field: Field, request: HttpRequest, **kwargs: Any) -> forms.Field | None:
        """The region by its name in the reader's language, from the fixed list (not a code typed)."""
        if db_field.name == "region":
            return forms.ChoiceField(
                label=db_field.verbose_name,
                required=False,
                choices=lambda: [("", _("(not said)")), *region_choices()],
                validators=db_field.validators,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(AssistedDeclaration)
class AssistedDeclarationAdmin(admin.ModelAdmin):
    list_display = ["declaration", "centre", "volunteer", "call", "created_at"]
    list_filter = ["centre"]
    readonly_fields = ["declaration", "call", "centre", "volunteer", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # recorded only through the console (actions.record_declaration)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "digest", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # issued by `tallylog staff token`, which shows the token once
