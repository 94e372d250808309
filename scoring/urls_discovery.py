"""Signal discovery and weight suggestions, under ``rules/discovery/``."""

from django.urls import path

from . import views_discovery as views

urlpatterns = [
    path("", views.discovery, name="discovery"),
    path("suggestions/", views.suggestions, name="suggestions"),
    path("suggestions/apply/", views.suggestions_apply_view, name="suggestions_apply"),
]
