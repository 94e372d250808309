from django.urls import path

from . import views

app_name = "playbooks"
urlpatterns = [
    path("", views.plays, name="plays"),
]
