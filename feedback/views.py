from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pls_portal.permissions import pm_required


@require_GET
@pm_required
def report(request: HttpRequest) -> HttpResponse:
    """The PM's landing page: the monthly feedback report."""
    return render(request, "feedback/report.html")


@require_GET
@pm_required
def metrics(request: HttpRequest) -> HttpResponse:
    """PLS metrics and PM KPIs with the seeds' healthy bands."""
    return render(request, "feedback/metrics.html")
