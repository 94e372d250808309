"""The PQL queue (included by dossiers/urls.py under /queue/): the page and its row
actions, each a POST answered with the row's partial."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("items/<int:item_id>/claim/", views.item_claim, name="item_claim"),
    path("items/<int:item_id>/release/", views.item_release, name="item_release"),
    path("items/<int:item_id>/won/", views.item_won, name="item_won"),
    path("items/<int:item_id>/lost/", views.item_lost, name="item_lost"),
    path("items/<int:item_id>/disqualify/", views.item_disqualify, name="item_disqualify"),
    path(
        "items/<int:item_id>/marketing/",
        views.item_hand_to_marketing,
        name="item_hand_to_marketing",
    ),
    path("items/<int:item_id>/hand-to-ae/", views.item_hand_to_ae, name="item_hand_to_ae"),
]
