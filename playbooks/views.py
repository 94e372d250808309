from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pls_portal.permissions import pm_required


@require_GET
@pm_required
def plays(request: HttpRequest) -> HttpResponse:
    """The plays: common PQL situations and their first messages."""
    return render(request, "playbooks/plays.html")
