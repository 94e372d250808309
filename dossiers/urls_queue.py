"""The PQL queue (included by dossiers/urls.py under /queue/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue, name="queue"),
]
