"""Backtests of a rule set against the active one (included under "backtests/")."""

from django.urls import path

from . import views_backtest

urlpatterns = [
    path("start/<int:rule_set_id>/", views_backtest.backtest_start, name="backtest_start"),
    path("<int:job_id>/", views_backtest.backtest, name="backtest"),
]
