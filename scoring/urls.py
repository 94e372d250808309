from django.urls import include, path

from . import views

app_name = "scoring"
urlpatterns = [
    path("", views.rules, name="rules"),
    path("rescore/", views.rescore_all, name="rescore_all"),
    path("<int:rule_set_id>/", views.rule_set, name="rule_set"),
    path("<int:rule_set_id>/clone/", views.rule_set_clone_view, name="rule_set_clone"),
    path("<int:rule_set_id>/settings/", views.rule_set_settings, name="rule_set_settings"),
    path("<int:rule_set_id>/rules/new/", views.rule_add, name="rule_add"),
    path("<int:rule_set_id>/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path(
        "<int:rule_set_id>/rules/<int:rule_id>/delete/",
        views.rule_delete_view,
        name="rule_delete",
    ),
    path("<int:rule_set_id>/propose/", views.rule_set_propose_view, name="rule_set_propose"),
    path("<int:rule_set_id>/withdraw/", views.rule_set_withdraw_view, name="rule_set_withdraw"),
    path("<int:rule_set_id>/delete/", views.rule_set_delete_view, name="rule_set_delete"),
    path("<int:rule_set_id>/activate/", views.rule_set_activate_view, name="rule_set_activate"),
    path("backtests/", include("scoring.urls_backtest")),
    path("discovery/", include("scoring.urls_discovery")),
]
