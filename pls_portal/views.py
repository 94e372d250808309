"""Views owned by pls_portal: landing, login pages, jobs and the health check."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .models import Job
from .permissions import ROLE_HOME, admin_required, staff_required
from .selectors import job_get, jobs_visible_to
from .services import MAINTENANCE_KIND, job_create
from .tasks import maintenance_job_run

JOBS_PER_PAGE = 25


def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its own page; anonymous visitors to the login page."""
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect(ROLE_HOME.get(request.user.role, "logged_out"))


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def logged_out(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/logged_out.html")


@require_GET
@admin_required
def job_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(jobs_visible_to(user=request.user), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "pls_portal/jobs.html", {"page": page})


@require_GET
@staff_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = job_get(user=request.user, job_id=job_id)
    except Job.DoesNotExist:
        raise Http404("No such job.") from None
    template = "pls_portal/job.html#progress" if request.htmx else "pls_portal/job.html"
    return render(request, template, {"job": job})


@require_POST
@admin_required
def maintenance_start(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        job = job_create(kind=MAINTENANCE_KIND, created_by=request.user)
        transaction.on_commit(lambda: maintenance_job_run.delay(job.pk))
    messages.success(request, "Maintenance started. This page follows its progress.")
    return redirect("job_detail", job_id=job.pk)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
