"""Post-deal feedback and the monthly PM report (included under /reports/)."""

from django.urls import path

from . import views, views_report

urlpatterns = [
    path("", views_report.report, name="report"),
    path("entries/", views_report.report_entries, name="report_entries"),
    path("export.csv", views_report.report_export, name="report_export"),
    path("feedback/", views.feedback_mine, name="feedback_mine"),
    path("feedback/items/<int:item_id>/", views.feedback_give, name="feedback_give"),
    path("feedback/<int:feedback_id>/", views.feedback_detail, name="feedback_detail"),
    path("feedback/<int:feedback_id>/tags/", views.feedback_tags, name="feedback_tags"),
    path("feedback/<int:feedback_id>/comments/", views.feedback_comment, name="feedback_comment"),
]
