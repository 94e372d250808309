from django.urls import include, path

app_name = "feedback"
urlpatterns = [
    path("", include("feedback.urls_report")),
    path("metrics/", include("feedback.urls_metrics")),
    path("outbound/", include("feedback.outbound.urls")),
]
