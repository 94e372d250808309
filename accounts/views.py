"""HTTP for accounts/: the Segment-compatible ingestion API and the admin's data pages."""

import base64
import json
import logging
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.forms import IngestionKeyForm, RejectedDeleteForm
from accounts.ingest import (
    EVENT_TYPES,
    RequestRejected,
    check_request,
    decode_body,
    load_json,
)
from accounts.models import IngestionKey
from accounts.selectors import (
    ingestion_overview,
    plans_with_limits,
    rejected_events,
    tracking_plan_entries,
)
from accounts.services.incoming import incoming_store
from accounts.services.ingestion import rejected_events_clear, request_reject
from accounts.services.keys import (
    ingestion_key_check,
    ingestion_key_create,
    ingestion_key_revoke,
)
from pls_portal.permissions import admin_required

logger = logging.getLogger(__name__)

INGEST_CALLS = ("batch", *EVENT_TYPES)


def _basic_username(request: HttpRequest) -> str | None:
    """The write key from ``Authorization: Basic base64(key:)``, as Segment SDKs send."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except ValueError:
        # binascii.Error and UnicodeDecodeError, and the ValueError b64decode raises
        # for a header that is not ASCII ("Basic é", as a server hands it over).
        return ""
    return decoded.partition(":")[0]


def _unauthorized(message: str) -> RequestRejected:
    return RequestRejected(status=401, field="writeKey", message=message)


def _authenticate(plaintext: str | None) -> IngestionKey:
    if not plaintext:
        raise _unauthorized(
            "a write key is required: HTTP Basic user name (empty password) or writeKey"
        )
    key = ingestion_key_check(plaintext=plaintext)
    if key is None:
        raise _unauthorized("the write key is unknown or revoked")
    return key


@csrf_exempt
def ingest(request: HttpRequest, call: str) -> HttpResponse:
    """POST /ingest/v1/<call>: Segment's HTTP Tracking API. Request-level limits are
    checked here; the request is committed before the 200, and the drain task turns it
    into events (event-level checks, dedupe, identity) within seconds."""
    if request.method != "POST":
        response = JsonResponse(
            {
                "success": False,
                "code": "method_not_allowed",
                "message": "use POST",
                "error": "use POST",
                "field": "method",
            },
            status=405,
        )
        response["Allow"] = "POST"
        return response
    received_at = timezone.now()
    key = None
    try:
        header_key = _basic_username(request)
        if header_key is not None:
            key = _authenticate(header_key)
        try:
            body = request.body
        except RequestDataTooBig:
            raise RequestRejected(
                status=400, field="body", message="request body is over 500 KB (512000 bytes)"
            ) from None
        data = decode_body(body, request.headers.get("Content-Encoding", ""))
        payload = load_json(data)
        if key is None:
            write_key = payload.get("writeKey")
            key = _authenticate(write_key if isinstance(write_key, str) else None)
        check_request(call=call, payload=payload)
        # Durable before 200; the drain task turns it into events within seconds.
        with transaction.atomic():
            incoming_store(
                call=call,
                body=data.decode(json.detect_encoding(data)),
                key=key,
                received_at=received_at,
            )
            IngestionKey.objects.filter(pk=key.pk).update(last_used_at=received_at)
    except RequestRejected as rejection:
        try:
            request_reject(
                status=rejection.status,
                reason=rejection.message,
                field=rejection.field,
                path=request.path,
                key=key,
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except DatabaseError:
            logger.warning("could not count a rejected ingestion request")
        return JsonResponse(rejection.as_json(), status=rejection.status)
    except DatabaseError:
        logger.exception("ingestion: database unavailable")
        message = "the database is unavailable; retry later"
        response = JsonResponse(
            {"success": False, "code": "unavailable", "message": message, "error": message},
            status=503,
        )
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"success": True})


@require_GET
@admin_required
def tracking_plan(request: HttpRequest) -> HttpResponse:
    """Which product events mean a feature, milestone, limit, paywall or buyer intent,
    and the plans with their limits. Editing happens in the Django admin."""
    return render(
        request,
        "accounts/tracking_plan.html",
        {"entries": tracking_plan_entries(), "plans": plans_with_limits()},
    )


REJECTED_PER_PAGE = 50


def _ingestion_page(request: HttpRequest, *, form=None, new_key=None, status=200):
    reason = request.GET.get("reason", "")
    page = Paginator(rejected_events(reason=reason), REJECTED_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "overview": ingestion_overview(),
        "form": form or IngestionKeyForm(),
        "new_key": new_key,
        "page": page,
        "reason": reason,
        "query": urlencode({"reason": reason}) if reason else "",
        "ingest_url": request.build_absolute_uri("/ingest"),
    }
    return render(request, "accounts/ingestion.html", context, status=status)


@require_GET
@admin_required
def ingestion(request: HttpRequest) -> HttpResponse:
    """Write keys, refused requests and rejected events kept for review."""
    return _ingestion_page(request)


@require_POST
@admin_required
def ingestion_key_new(request: HttpRequest) -> HttpResponse:
    form = IngestionKeyForm(request.POST)
    if not form.is_valid():
        return _ingestion_page(request, form=form, status=400)
    new = ingestion_key_create(name=form.cleaned_data["name"], created_by=request.user)
    # Rendered, not redirected: the key is shown this once and never stored in clear.
    return _ingestion_page(request, new_key=new)


@require_POST
@admin_required
def ingestion_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(IngestionKey, pk=key_id)
    ingestion_key_revoke(key_id=key.pk)
    messages.success(request, f"Write key “{key.name}” revoked; SDKs using it now get 401.")
    return redirect("accounts:ingestion")


@require_POST
@admin_required
def rejected_events_delete(request: HttpRequest) -> HttpResponse:
    form = RejectedDeleteForm(request.POST)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    deleted = rejected_events_clear(reason=reason)
    what = f"with reason “{reason}”" if reason else "in all"
    messages.success(request, f"Deleted {deleted} rejected events {what}.")
    return redirect("accounts:ingestion")
