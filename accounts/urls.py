from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("tracking-plan/", views.tracking_plan, name="tracking_plan"),
    path("ingestion/", views.ingestion, name="ingestion"),
    path("ingestion/keys/", views.ingestion_key_new, name="ingestion_key_new"),
    path(
        "ingestion/keys/<int:key_id>/revoke/",
        views.ingestion_key_revoke_view,
        name="ingestion_key_revoke",
    ),
    path("ingestion/rejected/delete/", views.rejected_events_delete, name="rejected_delete"),
]
