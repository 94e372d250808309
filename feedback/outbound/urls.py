"""Outbound webhooks and the CRM sync (included under /reports/outbound/)."""

from django.urls import path

from feedback.outbound import views

urlpatterns = [
    path("", views.endpoints, name="outbound_endpoints"),
    path("endpoints/new/", views.endpoint_new, name="outbound_endpoint_new"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_edit, name="outbound_endpoint_edit"),
    path(
        "endpoints/<int:endpoint_id>/delete/",
        views.endpoint_delete,
        name="outbound_endpoint_delete",
    ),
    path(
        "endpoints/<int:endpoint_id>/secret/",
        views.endpoint_secret_reveal,
        name="outbound_endpoint_secret",
    ),
    path(
        "endpoints/<int:endpoint_id>/secret/rotate/",
        views.endpoint_secret_rotate,
        name="outbound_endpoint_rotate",
    ),
    path("endpoints/<int:endpoint_id>/test/", views.endpoint_ping, name="outbound_endpoint_ping"),
    path("deliveries/", views.deliveries, name="outbound_deliveries"),
    path("deliveries/<int:delivery_id>/", views.delivery, name="outbound_delivery"),
    path(
        "deliveries/<int:delivery_id>/resend/",
        views.delivery_resend,
        name="outbound_delivery_resend",
    ),
    path("crm/", views.crm_sync, name="outbound_crm_sync"),
    path("crm/start/", views.crm_sync_start, name="outbound_crm_sync_start"),
    path("crm/<int:crm_sync_id>/csv/", views.crm_sync_csv, name="outbound_crm_sync_csv"),
    path("scores.csv", views.scores_csv, name="outbound_scores_csv"),
]
