"""HTTP for accounts/: the Segment-compatible ingestion API and the admin's data pages."""

import base64
import binascii
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from accounts.ingest import (
    EVENT_TYPES,
    RequestRejected,
    decode_body,
    load_json,
    parse_request,
)
from accounts.models import IngestionKey
from accounts.services.ingestion import events_ingest, request_reject
from accounts.services.keys import ingestion_key_check
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
    except (binascii.Error, UnicodeDecodeError):
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
    """POST /ingest/v1/<call>: Segment's HTTP Tracking API. 200 only once committed."""
    if request.method != "POST":
        response = JsonResponse(
            {"success": False, "error": "use POST", "field": "method"}, status=405
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
        payload = load_json(decode_body(body, request.headers.get("Content-Encoding", "")))
        if key is None:
            write_key = payload.get("writeKey")
            key = _authenticate(write_key if isinstance(write_key, str) else None)
        messages, invalid = parse_request(call=call, payload=payload, received_at=received_at)
        result = events_ingest(
            messages=messages, invalid=invalid, source="http", key=key, received_at=received_at
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
        response = JsonResponse(
            {"success": False, "error": "the database is unavailable; retry later"}, status=503
        )
        response["Retry-After"] = "5"
        return response
    logger.info(
        "ingest call=%s key=%s stored=%s duplicates=%s rejected=%s",
        call,
        key.pk,
        result.stored,
        result.duplicates,
        result.rejected,
    )
    return JsonResponse({"success": True})


@require_GET
@admin_required
def tracking_plan(request: HttpRequest) -> HttpResponse:
    """Which product events mean a feature, milestone, limit, paywall or buyer intent."""
    return render(request, "accounts/tracking_plan.html")
