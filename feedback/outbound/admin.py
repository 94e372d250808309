"""Django admin for outbound: read-only views of endpoints (secrets never shown here),
events, deliveries and CRM syncs. Endpoints are managed on the outbound pages."""

from django.contrib import admin
from django.http import HttpRequest

from feedback.outbound.models import CrmSync, Delivery, Endpoint, OutboundEvent


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(ReadOnly):
    list_display = ("name", "url", "format", "is_active", "created_at")
    list_filter = ("format", "is_active")
    exclude = ("secret",)


@admin.register(OutboundEvent)
class OutboundEventAdmin(ReadOnly):
    list_display = ("id", "type", "summary", "occurred_at", "created_at")
    list_filter = ("type",)
    search_fields = ("id", "summary")

    def get_queryset(self, request: HttpRequest):
        # A CRM sync batch holds 500 accounts: the list never loads payloads.
        return super().get_queryset(request).defer("payload")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ("event", "endpoint", "state", "attempts", "last_status_code", "created_at")
    list_filter = ("state", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("event__id",)
    exclude = ("lease_token",)


@admin.register(CrmSync)
class CrmSyncAdmin(ReadOnly):
    list_display = ("pk", "mode", "state", "started_at", "finished_at", "accounts", "batches")
    list_filter = ("mode", "state")
