"""Sending deliveries: dispatch (lease the due ones), one attempt (POST, signed), record
the outcome with exponential backoff, and resend.

Retries are scheduled in the Delivery row (``next_attempt_at``) rather than in the
broker, so a lost broker message, a worker killed mid-attempt or a restart loses
nothing: whatever is due and not leased is dispatched again by the next tick. A worker
lost between the POST and the record lets its lease lapse and the delivery goes out
again with the same event id, which the receiver dedupes.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from urllib.error import HTTPError
from urllib.request import HTTPRedirectHandler, Request, build_opener

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from feedback.outbound import signing
from feedback.outbound.models import Delivery, EventType
from feedback.outbound.payloads import request_body
from pls_portal.models import User

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
REQUEST_TIMEOUT_SECONDS = 10
# Longer than an attempt can take (the timeout), so two workers never send at once.
LEASE = timedelta(minutes=2)
DISPATCH_LIMIT = 500
SNIPPET_CHARS = 500
USER_AGENT = "PLS-Portal-Webhooks/1"


def backoff_seconds(attempt: int) -> int:
    """Wait after failed attempt ``attempt`` (1-based): 30 s, 1, 2, 4, 8, 16, 32 min…"""
    return min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)


# --- dispatch --------------------------------------------------------------------------------


def deliveries_dispatch(
    *, now: datetime | None = None, limit: int = DISPATCH_LIMIT
) -> list[tuple[int, str]]:
    """Lease the deliveries that are due (pending, their time come, not leased) and
    return ``(delivery id, lease token)`` for the tasks that send them."""
    now = now or timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = Delivery.objects.filter(
        free,
        Q(endpoint__is_active=True) | Q(event__type=EventType.PING),
        state=Delivery.State.PENDING,
        next_attempt_at__lte=now,
    )
    ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    token = uuid.uuid4().hex
    Delivery.objects.filter(free, pk__in=ids, state=Delivery.State.PENDING).update(
        lease_token=token, lease_until=now + LEASE
    )
    leased = Delivery.objects.filter(pk__in=ids, lease_token=token).values_list("pk", flat=True)
    return [(pk, token) for pk in sorted(leased)]


# --- one attempt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    snippet: str = ""
    retry_after: int | None = None


class _NoRedirect(HTTPRedirectHandler):
    """A redirect is an answer, not a place to resend the signed body to."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = build_opener(_NoRedirect)


def _retry_after(headers) -> int | None:
    value = (headers or {}).get("Retry-After", "")
    return int(value) if str(value).strip().isdigit() else None


def _read_snippet(response) -> str:
    try:
        raw = response.read(2048)
    except (OSError, HTTPException):
        return ""
    return raw.decode("utf-8", "replace")[:SNIPPET_CHARS]


def http_post(*, url: str, body: bytes, headers: dict, timeout: float) -> Outcome:
    """POST without following redirects; any 2xx is success."""
    request = Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (admin-set URL, http/https only)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Outcome(ok=True, status_code=response.status, snippet=_read_snippet(response))
    except HTTPError as exc:
        with exc:
            return Outcome(
                ok=False,
                status_code=exc.code,
                error=f"HTTP {exc.code} {exc.reason}"[:SNIPPET_CHARS],
                snippet=_read_snippet(exc),
                retry_after=_retry_after(exc.headers),
            )
    except (OSError, HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Outcome(ok=False, error=f"{exc.__class__.__name__}: {reason}"[:SNIPPET_CHARS])


def delivery_headers(*, delivery: Delivery, body: bytes, attempt: int, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        signing.HEADER_EVENT_ID: delivery.event_id,
        signing.HEADER_EVENT_TYPE: delivery.event.type,
        signing.HEADER_TIMESTAMP: str(timestamp),
        signing.HEADER_SIGNATURE: signing.signature_header(
            secret=delivery.endpoint.secret, timestamp=timestamp, body=body
        ),
        signing.HEADER_ATTEMPT: str(attempt),
    }


def delivery_attempt(
    *,
    delivery_id: int,
    token: str,
    now: datetime | None = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> Delivery | None:
    """Send one leased delivery once and record the outcome. None when the lease is no
    longer this caller's (a duplicate task, or a later dispatch took over)."""
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, lease_token=token
    ).update(lease_until=now + LEASE)
    if not claimed:
        logger.info("delivery %s: lease gone; not sending", delivery_id)
        return None
    delivery = Delivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None:  # its endpoint was deleted meanwhile
        logger.info("delivery %s: gone; not sending", delivery_id)
        return None
    attempt = delivery.attempts + 1
    event = delivery.event
    body = request_body(
        endpoint_format=delivery.endpoint.format,
        event_type=event.type,
        summary=event.summary,
        payload=event.payload,
    )
    # The signature carries the real clock (receivers check its age), whatever ``now``
    # the schedule runs on.
    headers = delivery_headers(
        delivery=delivery, body=body, attempt=attempt, timestamp=int(time.time())
    )
    outcome = http_post(url=delivery.endpoint.url, body=body, headers=headers, timeout=timeout)
    return _record(delivery_id=delivery_id, token=token, attempt=attempt, outcome=outcome, now=now)


def _record(
    *, delivery_id: int, token: str, attempt: int, outcome: Outcome, now: datetime
) -> Delivery | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, state=Delivery.State.PENDING, lease_token=token)
            .first()
        )
        if delivery is None:
            logger.info("delivery %s: sent, but another attempt owns it now", delivery_id)
            return None
        delivery.attempts = attempt
        delivery.last_attempt_at = now
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        delivery.response_snippet = outcome.snippet
        delivery.lease_token, delivery.lease_until = "", None
        if outcome.ok:
            delivery.state = Delivery.State.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif attempt >= MAX_ATTEMPTS:
            delivery.state = Delivery.State.FAILED
            delivery.next_attempt_at = None
            logger.warning(
                "delivery %s failed for good after %s attempts: %s",
                delivery_id,
                attempt,
                outcome.error,
            )
        else:
            wait = backoff_seconds(attempt)
            if outcome.retry_after:
                wait = min(max(wait, outcome.retry_after), BACKOFF_MAX_SECONDS)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save()
    return delivery


# --- resend -----------------------------------------------------------------------------


def delivery_resend(*, delivery_id: int, user: User | None, now: datetime | None = None) -> int:
    """Send a delivery again from its first attempt (whatever its state); the event id
    is unchanged, so a receiver that already has it skips it. Returns rows changed."""
    now = now or timezone.now()
    return Delivery.objects.filter(pk=delivery_id).update(
        state=Delivery.State.PENDING,
        attempts=0,
        next_attempt_at=now,
        lease_token="",
        lease_until=None,
        resent_at=now,
        resent_by=user,
    )
