"""Accepted ingestion requests: stored as they came (one INSERT, the API answers 200 once
it is committed), then drained into events by the worker a few seconds later, through
the same validation, dedupe and identity path as a file import."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.db import DatabaseError, DataError, transaction

from accounts.ingest import InvalidEvent, RequestRejected, parse_request
from accounts.models import IncomingRequest, IngestionKey
from accounts.services.ingestion import IngestResult, events_ingest

logger = logging.getLogger(__name__)

DRAIN_REQUESTS = 20  # per transaction: about 10,000 events at the SDKs' batch size


def incoming_store(
    *, call: str, body: str, key: IngestionKey, received_at: datetime
) -> IncomingRequest:
    return IncomingRequest.objects.create(call=call, body=body, key=key, received_at=received_at)


def incoming_pending() -> bool:
    return IncomingRequest.objects.exists()


def incoming_drain(*, chunk: int = DRAIN_REQUESTS) -> IngestResult:
    """Turn accepted requests into events, oldest first, ``chunk`` requests per
    transaction; a request leaves the table in the same transaction as its events."""
    total = IngestResult()
    while True:
        with transaction.atomic():
            rows = list(IncomingRequest.objects.select_related("key").order_by("pk")[:chunk])
            if not rows:
                return total
            for row in rows:
                total.add(_drain_isolated(row))
            IncomingRequest.objects.filter(pk__in=[row.pk for row in rows]).delete()


def _drain_isolated(row: IncomingRequest) -> IngestResult:
    """One request in a savepoint. A database error (connection lost, a race) fails the
    run so the task retries it; a value the database refuses, or any other error, is a
    request the code cannot handle: it is kept whole as a rejected event for review, and
    the queue behind it moves on."""
    try:
        with transaction.atomic():
            return _drain_one(row)
    except DataError as exc:
        # A value of the request itself the database refuses (a NUL character, a number
        # past its column): retrying would stall the queue behind it for good.
        error: Exception = exc
    except DatabaseError:
        raise
    except Exception as exc:
        error = exc
    logger.error("accepted request could not be processed incoming_id=%s", row.pk, exc_info=error)
    return events_ingest(
        messages=[],
        invalid=[
            InvalidEvent(
                reason=_storable(f"could not be processed: {error.__class__.__name__}: {error}")[
                    :300
                ],
                field="body",
                payload=_storable(row.body),
            )
        ],
        source="http",
        key=row.key,
        received_at=row.received_at,
    )


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL: kept as its JSON escape, readable for review."""
    return text.replace("\x00", "\\u0000")


def _drain_one(row: IncomingRequest) -> IngestResult:
    try:
        payload = json.loads(row.body)
        messages, invalid = parse_request(
            call=row.call, payload=payload, received_at=row.received_at
        )
    except (ValueError, RecursionError, RequestRejected) as exc:
        # Checked when it was accepted; kept for review rather than lost if that changed.
        logger.warning("accepted request no longer parses incoming_id=%s: %s", row.pk, exc)
        messages = []
        invalid = [
            InvalidEvent(
                reason=f"accepted request could not be read: {exc}"[:300],
                field="body",
                payload=row.body,
            )
        ]
    return events_ingest(
        messages=messages,
        invalid=invalid,
        source="http",
        key=row.key,
        received_at=row.received_at,
    )
