"""PLS metrics and PM KPIs (included under /reports/metrics/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.metrics, name="metrics"),
]
