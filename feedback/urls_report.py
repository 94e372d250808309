"""Post-deal feedback and the monthly PM report (included under /reports/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.report, name="report"),
]
