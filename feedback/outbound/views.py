"""The outbound pages: webhook endpoints and their delivery log (admins), the CRM sync
page and the CSV downloads (PMs and admins)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from feedback.outbound.forms import CrmSyncStartForm, DeliveryFilterForm, EndpointForm
from feedback.outbound.models import CrmSync, Delivery, Endpoint
from feedback.outbound.selectors import (
    crm_sync_csv_rows,
    crm_sync_endpoints,
    crm_sync_for,
    crm_sync_running,
    crm_syncs_for,
    deliveries_for,
    delivery_for,
    endpoint_for,
    endpoints_for,
    event_payload_text,
    handoff_state,
    secret_hint,
)
from feedback.outbound.selectors_crm import CRM_FIELDS
from feedback.outbound.services import crm_sync as crm_sync_services
from feedback.outbound.services import delivery as delivery_services
from feedback.outbound.services import endpoints as endpoint_services
from feedback.outbound.signing import HEADER_EVENT_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP
from pls_portal.permissions import admin_required, is_admin, pm_required
from scoring.models import Route
from scoring.selectors import SCORE_EXPORT_COLUMNS, score_export_rows

logger = logging.getLogger(__name__)

DELIVERIES_PER_PAGE = 50
RECENT_DELIVERIES = 10


# --- helpers -------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo(), lineterminator="\n")
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _endpoint(request: HttpRequest, endpoint_id: int) -> Endpoint:
    try:
        return endpoint_for(user=request.user, endpoint_id=endpoint_id)
    except Endpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None


def _delivery(request: HttpRequest, delivery_id: int) -> Delivery:
    try:
        return delivery_for(user=request.user, delivery_id=delivery_id)
    except Delivery.DoesNotExist:
        raise Http404("No such delivery.") from None


def _form_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- endpoints -----------------------------------------------------------------------------


@require_GET
@admin_required
def endpoints(request: HttpRequest) -> HttpResponse:
    """The webhook endpoints, with their deliveries by state and the handoff's cursor."""
    rows = [
        {"endpoint": endpoint, "secret_hint": secret_hint(endpoint.secret)}
        for endpoint in endpoints_for(user=request.user)
    ]
    return render(
        request,
        "feedback/outbound/endpoints.html",
        {"rows": rows, "handoff": handoff_state()},
    )


def _endpoint_page(
    request: HttpRequest,
    *,
    endpoint: Endpoint | None,
    form: EndpointForm,
    secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    recent = (
        list(deliveries_for(user=request.user, endpoint_id=endpoint.pk)[:RECENT_DELIVERIES])
        if endpoint
        else []
    )
    return render(
        request,
        "feedback/outbound/endpoint.html",
        {
            "endpoint": endpoint,
            "form": form,
            "secret": secret,
            "secret_hint": secret_hint(endpoint.secret) if endpoint else "",
            "recent": recent,
            "signature_header": HEADER_SIGNATURE,
        },
        status=status,
    )


def _endpoint_fields(form: EndpointForm) -> dict:
    return {name: form.cleaned_data[name] for name in EndpointForm.base_fields}


@require_http_methods(["GET", "POST"])
@admin_required
def endpoint_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _endpoint_page(request, endpoint=None, form=EndpointForm())
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint = endpoint_services.endpoint_create(
                **_endpoint_fields(form), user=request.user
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            logger.info("webhook endpoint %s created by %s", endpoint.pk, request.user.username)
            messages.success(request, f"Endpoint “{endpoint.name}” created.")
            # Rendered, not redirected: the secret is shown here without a reveal.
            return _endpoint_page(
                request,
                endpoint=endpoint,
                form=EndpointForm.for_endpoint(endpoint),
                secret=endpoint.secret,
                status=201,
            )
    return _endpoint_page(request, endpoint=None, form=form, status=400)


@require_http_methods(["GET", "POST"])
@admin_required
def endpoint_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "GET":
        return _endpoint_page(request, endpoint=endpoint, form=EndpointForm.for_endpoint(endpoint))
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            saved = endpoint_services.endpoint_update(
                endpoint_id=endpoint.pk, **_endpoint_fields(form)
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Endpoint “{saved.name}” saved.")
            return redirect("feedback:outbound_endpoint_edit", endpoint_id=saved.pk)
    return _endpoint_page(request, endpoint=endpoint, form=form, status=400)


def _secret_shown(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    context = {"endpoint": endpoint, "secret": endpoint.secret}
    if request.htmx:
        return render(request, "feedback/outbound/endpoint.html#secret", context)
    return _endpoint_page(
        request, endpoint=endpoint, form=EndpointForm.for_endpoint(endpoint), secret=endpoint.secret
    )


@require_POST
@admin_required
def endpoint_secret_reveal(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    logger.info("webhook secret of endpoint %s revealed to %s", endpoint.pk, request.user.username)
    return _secret_shown(request, endpoint)


@require_POST
@admin_required
def endpoint_secret_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = endpoint_services.endpoint_secret_rotate(
        endpoint_id=_endpoint(request, endpoint_id).pk
    )
    logger.info("webhook secret of endpoint %s rotated by %s", endpoint.pk, request.user.username)
    messages.success(request, "New secret made: the next attempt is signed with it.")
    return _secret_shown(request, endpoint)


@require_POST
@admin_required
def endpoint_ping(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    endpoint_services.endpoint_ping(endpoint_id=endpoint.pk)
    messages.success(
        request, f"Test event queued for “{endpoint.name}”: it goes out within seconds."
    )
    return redirect(f"{reverse('feedback:outbound_deliveries')}?endpoint={endpoint.pk}")


@require_http_methods(["GET", "POST"])
@admin_required
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "GET":
        counts = endpoints_for(user=request.user).get(pk=endpoint.pk)
        return render(
            request,
            "feedback/outbound/endpoint_delete.html",
            {"endpoint": endpoint, "counts": counts},
        )
    removed = endpoint_services.endpoint_delete(endpoint_id=endpoint.pk)
    messages.success(
        request,
        f"Endpoint “{endpoint.name}” deleted with {removed} deliver"
        f"{'ies' if removed != 1 else 'y'} from the log.",
    )
    return redirect("feedback:outbound_endpoints")


# --- delivery log ----------------------------------------------------------------------------


@require_GET
@admin_required
def deliveries(request: HttpRequest) -> HttpResponse:
    """Every delivery, newest first, filtered by endpoint, state, event type or text."""
    endpoint_choices = list(endpoints_for(user=request.user).values_list("pk", "name"))
    form = DeliveryFilterForm(request.GET, endpoints=endpoint_choices)
    filters = form.filters()
    page = Paginator(deliveries_for(user=request.user, **filters), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "feedback/outbound/deliveries.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": any(filters.values()),
            "here": request.get_full_path(),
        },
    )


@require_GET
@admin_required
def delivery(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """One delivery: what was sent, how it was signed, what came back."""
    current = _delivery(request, delivery_id)
    schedule = [
        delivery_services.backoff_seconds(n) for n in range(1, delivery_services.MAX_ATTEMPTS)
    ]
    return render(
        request,
        "feedback/outbound/delivery.html",
        {
            "delivery": current,
            "payload": event_payload_text(current.event),
            "headers": (HEADER_EVENT_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE),
            "schedule": schedule,
            "max_attempts": delivery_services.MAX_ATTEMPTS,
            "backoff_max": delivery_services.BACKOFF_MAX_SECONDS,
        },
    )


@require_POST
@admin_required
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    current = _delivery(request, delivery_id)
    delivery_services.delivery_resend(delivery_id=current.pk, user=request.user)
    logger.info("delivery %s resent by %s", current.pk, request.user.username)
    if request.htmx:
        refreshed = deliveries_for(user=request.user).get(pk=current.pk)
        return render(
            request,
            "feedback/outbound/deliveries.html#row",
            {"delivery": refreshed, "here": request.POST.get("next", "")},
        )
    messages.success(request, "Queued to send again within seconds, with the same event id.")
    return redirect(
        _back(request, reverse("feedback:outbound_delivery", kwargs={"delivery_id": current.pk}))
    )


# --- CRM sync and downloads -------------------------------------------------------------------


@require_GET
@pm_required
def crm_sync(request: HttpRequest) -> HttpResponse:
    """The CRM sync's latest runs with their CSV, where it goes and its fields."""
    context = {
        "runs": crm_syncs_for(user=request.user),
        "running": crm_sync_running(user=request.user),
    }
    if request.htmx:
        return render(request, "feedback/outbound/crm_sync.html#runs", context)
    return render(
        request,
        "feedback/outbound/crm_sync.html",
        {
            **context,
            "endpoints": crm_sync_endpoints(user=request.user),
            "fields": CRM_FIELDS,
            "routes": Route.choices,
            "can_run": is_admin(request.user),
        },
    )


@require_POST
@admin_required
def crm_sync_start(request: HttpRequest) -> HttpResponse:
    form = CrmSyncStartForm(request.POST)
    full = form.is_valid() and form.cleaned_data["full"]
    if crm_sync_running(user=request.user):
        messages.warning(request, "A CRM sync is running; start another when it has finished.")
        return redirect("feedback:outbound_crm_sync")
    with transaction.atomic():
        job = crm_sync_services.crm_sync_start(user=request.user, full=full)
    kind = "of every account" if full else "of the accounts changed since the last sync"
    messages.success(request, f"CRM sync {kind} started (job #{job.pk}).")
    return redirect("feedback:outbound_crm_sync")


@require_GET
@pm_required
def crm_sync_csv(request: HttpRequest, crm_sync_id: int) -> StreamingHttpResponse:
    try:
        sync = crm_sync_for(user=request.user, crm_sync_id=crm_sync_id)
    except CrmSync.DoesNotExist:
        raise Http404("No such CRM sync.") from None
    filename = f"pls-crm-sync-{sync.pk}-{sync.cutoff:%Y-%m-%d}.csv"
    return _csv_response(crm_sync_csv_rows(crm_sync_id=sync.pk), filename)


@require_GET
@pm_required
def scores_csv(request: HttpRequest) -> StreamingHttpResponse:
    """``export_scores`` as a download: every scored account, CRM-ready columns."""
    routes = [r for r in request.GET.getlist("route") if r in Route.values]

    def rows():
        yield list(SCORE_EXPORT_COLUMNS)
        yield from score_export_rows(routes=routes or None)

    suffix = f"-{'-'.join(routes)}" if routes else ""
    return _csv_response(rows(), f"pls-scores{suffix}-{timezone.now():%Y-%m-%d}.csv")
