"""Django admin for scoring: the ICP list (kept here by admins) and read-only views of
scores, queue items and the RouteChange log. Rule sets are edited on the PQL rules page
(versioned, audited), not here."""

from django.contrib import admin
from django.http import HttpRequest

from scoring.models import AccountScore, IcpEntry, QueueItem, RouteChange, Touch


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(IcpEntry)
class IcpEntryAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "note")
    list_filter = ("kind",)
    search_fields = ("value", "note")


@admin.register(AccountScore)
class AccountScoreAdmin(ReadOnly):
    list_display = ("account", "score", "value", "engagement", "route", "scored_at")
    list_filter = ("route",)
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account",)


class TouchInline(admin.TabularInline):
    model = Touch
    extra = 0
    can_delete = False
    fields = ("at", "by", "channel", "person", "note", "response_at", "response_note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(QueueItem)
class QueueItemAdmin(ReadOnly):
    list_display = ("account", "route", "state", "score", "due_at", "claimed_by", "closed_at")
    list_filter = ("state", "route", "missing_buyer")
    search_fields = ("account__name", "account__domain")
    list_select_related = ("account", "claimed_by")
    inlines = [TouchInline]


@admin.register(RouteChange)
class RouteChangeAdmin(ReadOnly):
    list_display = ("at", "account", "from_route", "to_route", "from_state", "to_state", "by")
    list_filter = ("to_route", "to_state")
    search_fields = ("account__name", "reason")
    list_select_related = ("account", "by")
