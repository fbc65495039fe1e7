"""Django admin: log entries, the log state and milestones, read-only (only the sequencer writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tallylog.registry.entries.models import LogEntry, LogState, Milestone


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "log_index", "campaign", "kind", "channel", "day", "published_at", "sequenced_at")
    list_filter = ("campaign", "kind", "channel")
    ordering = ("-id",)
    exclude = ("body",)  # the leaf shows it, once sequenced


@admin.register(LogState)
class LogStateAdmin(ReadOnlyAdmin):
    list_display = ("size", "updated_at", "last_pass_at")


@admin.register(Milestone)
class MilestoneAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "threshold", "reached_at", "tree_size")
