"""The dossier (included by dossiers/urls.py under /queue/accounts/)."""

from django.urls import path

from . import views_dossier

urlpatterns = [
    path("<int:account_id>/", views_dossier.dossier, name="dossier"),
    path(
        "<int:account_id>/items/<int:item_id>/touches/",
        views_dossier.touch_add,
        name="dossier_touch_add",
    ),
    path(
        "<int:account_id>/touches/<int:touch_id>/response/",
        views_dossier.touch_response_add,
        name="dossier_touch_response",
    ),
    path("<int:account_id>/contacts/", views_dossier.contact_new, name="dossier_contact_add"),
    path(
        "<int:account_id>/items/<int:item_id>/marketing/",
        views_dossier.hand_to_marketing,
        name="dossier_hand_to_marketing",
    ),
]
