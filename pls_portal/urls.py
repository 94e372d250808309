from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

admin.site.site_header = "PLS Portal administration"
admin.site.site_title = "PLS Portal admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("logged-out/", views.logged_out, name="logged_out"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/maintenance/", views.maintenance_start, name="maintenance_start"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("healthz", views.healthz, name="healthz"),
    path("queue/", include("dossiers.urls")),
    path("rules/", include("scoring.urls")),
    path("reports/", include("feedback.urls")),
    path("plays/", include("playbooks.urls")),
    path("data/", include("accounts.urls")),
    path("ingest/", include("accounts.ingest_urls")),
    path("admin/", admin.site.urls),
]
