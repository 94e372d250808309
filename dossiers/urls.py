from django.urls import include, path

app_name = "dossiers"
urlpatterns = [
    path("", include("dossiers.urls_queue")),
    path("accounts/", include("dossiers.urls_dossier")),
]
