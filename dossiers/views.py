from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pls_portal.permissions import rep_required


@require_GET
@rep_required
def queue(request: HttpRequest) -> HttpResponse:
    """The rep's landing page: the PQL queue of their pool."""
    return render(request, "dossiers/queue.html")
