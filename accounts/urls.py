from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("tracking-plan/", views.tracking_plan, name="tracking_plan"),
]
