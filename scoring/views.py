from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pls_portal.permissions import pm_required


@require_GET
@pm_required
def rules(request: HttpRequest) -> HttpResponse:
    """PQL rule sets: PMs draft, backtest and propose; admins activate."""
    return render(request, "scoring/rules.html")
