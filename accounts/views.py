from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pls_portal.permissions import admin_required


@require_GET
@admin_required
def tracking_plan(request: HttpRequest) -> HttpResponse:
    """Which product events mean a feature, milestone, limit, paywall or buyer intent."""
    return render(request, "accounts/tracking_plan.html")
