"""PLS metrics and PM KPIs (included under /reports/metrics/)."""

from django.urls import path

from . import views_metrics

urlpatterns = [
    path("", views_metrics.metrics, name="metrics"),
]
