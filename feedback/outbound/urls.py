"""Outbound webhooks and the CRM sync (included under /reports/outbound/)."""

urlpatterns: list = []
