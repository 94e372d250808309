from django.urls import path

from . import views

app_name = "playbooks"
urlpatterns = [
    path("", views.plays, name="plays"),
    path("new/", views.play_new, name="play_new"),
    path("preview/", views.play_preview_view, name="preview"),
    path("accounts/", views.account_search, name="account_search"),
    path("<int:play_id>/", views.play, name="play"),
    path("<int:play_id>/edit/", views.play_edit, name="play_edit"),
    path("<int:play_id>/active/", views.play_active, name="play_active"),
]
