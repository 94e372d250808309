"""The Segment-compatible API, mounted at /ingest/ so an SDK's host setting is all."""

from django.urls import path

from . import views

app_name = "ingest"
urlpatterns = [
    path(f"v1/{call}", views.ingest, {"call": call}, name=call) for call in views.INGEST_CALLS
]
