"""The dossier (included by dossiers/urls.py under /queue/accounts/)."""

urlpatterns: list = []
