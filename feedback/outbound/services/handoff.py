"""The handoff: RouteChange rows past the cursor become events and deliveries, in the
same transaction as the cursor advance (the outbox).

Nothing is lost: ids are handed out before their transaction commits, so a row can
become visible after a higher id was read (PostgreSQL; SQLite commits in id order). Each
run records the ids it stepped over as *gaps* and re-reads them on every later run until
they appear, or until ``GAP_TIMEOUT`` — far longer than any transaction that writes
RouteChange (a scoring chunk takes seconds) — says they were rolled back.

Nothing is sent twice by the handoff: the cursor and the gaps move in the same
transaction as the rows it writes, an event's id is derived from its RouteChange id and
both tables are unique on it (event id; endpoint × event), so a rerun after a crash
writes nothing new. A crash between sending and recording a delivery sends it again:
receivers dedupe by the event id (docs/outbound.md).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from feedback.outbound.models import (
    ROUTE_CHANGE_TYPES,
    Delivery,
    Endpoint,
    OutboundCursor,
    OutboundEvent,
)
from feedback.outbound.payloads import event_type_of, route_change_event
from scoring.models import RouteChange

logger = logging.getLogger(__name__)

HANDOFF_BATCH = 1000
GAP_TIMEOUT = timedelta(minutes=10)
# Ranges per query when re-reading gaps (an OR of BETWEENs).
GAP_QUERY_RANGES = 100


@dataclass
class HandoffResult:
    read: int = 0
    events: int = 0
    deliveries: int = 0
    gaps_filled: int = 0
    gaps_open: int = 0
    gaps_expired: int = 0
    cursor: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        return (
            f"{self.read} route changes read, {self.events} events and {self.deliveries} "
            f"deliveries written, cursor at {self.cursor}, {self.gaps_open} ids awaited"
        )


def _top_route_change_id() -> int:
    return RouteChange.objects.aggregate(top=Max("id"))["top"] or 0


def outbound_cursor_ensure() -> OutboundCursor:
    """The cursor, made at the newest RouteChange when missing: a new install tells what
    happens from now on, not its whole history."""
    cursor, _ = OutboundCursor.objects.get_or_create(
        pk=1, defaults={"last_route_change_id": _top_route_change_id()}
    )
    return cursor


def _cursor_locked() -> OutboundCursor:
    outbound_cursor_ensure()
    return OutboundCursor.objects.select_for_update().get(pk=1)


def _subscriptions() -> dict[str, list[int]]:
    """Active endpoint ids by route-change event type."""
    endpoints = list(Endpoint.objects.filter(is_active=True).values_list("pk", "event_types"))
    return {t: [pk for pk, types in endpoints if t in types] for t in ROUTE_CHANGE_TYPES}


def _changes():
    return RouteChange.objects.select_related(
        "account__owner", "item__claimed_by", "item__deal", "by"
    ).order_by("id")


def _write(changes: list[RouteChange], subscribed: dict[str, list[int]], now: datetime):
    events, deliveries = [], []
    for change in changes:
        event_type = event_type_of(
            from_route=change.from_route,
            to_route=change.to_route,
            from_state=change.from_state,
            to_state=change.to_state,
        )
        endpoint_ids = subscribed.get(event_type or "", [])
        if not endpoint_ids:
            continue
        event_id, summary, payload = route_change_event(change, created_at=now)
        events.append(
            OutboundEvent(
                id=event_id,
                type=event_type,
                route_change_id=change.pk,
                summary=summary,
                payload=payload,
                occurred_at=change.at,
                created_at=now,
            )
        )
        deliveries += [
            Delivery(endpoint_id=pk, event_id=event_id, created_at=now, next_attempt_at=now)
            for pk in endpoint_ids
        ]
    # The unique keys make a repeated handoff write nothing (belt and braces: the cursor
    # and the gaps already keep rows from being handed off twice).
    OutboundEvent.objects.bulk_create(events, ignore_conflicts=True)
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return len(events), len(deliveries)


# --- gaps: [low, high, first seen ISO] ----------------------------------------------------


def _gaps_expire(gaps: list[list], now: datetime, result: HandoffResult) -> list[list]:
    limit = now - GAP_TIMEOUT
    kept = []
    for low, high, seen in gaps:
        if datetime.fromisoformat(seen) < limit:
            result.gaps_expired += high - low + 1
            logger.info("outbound handoff: ids %s-%s never appeared; given up", low, high)
        else:
            kept.append([low, high, seen])
    return kept


def _gaps_subtract(gaps: list[list], found: list[int]) -> list[list]:
    """The gaps without the ids found (sorted)."""
    found_set = set(found)
    kept = []
    for low, high, seen in gaps:
        inside = sorted(i for i in found_set if low <= i <= high)
        start = low
        for pk in inside:
            if pk > start:
                kept.append([start, pk - 1, seen])
            start = pk + 1
        if start <= high:
            kept.append([start, high, seen])
    return kept


def _gap_q(gaps: list[list]) -> Q:
    q = Q(pk__in=[])
    for low, high, _ in gaps:
        q |= Q(pk__gte=low, pk__lte=high)
    return q


def _refill_gaps(subscribed: dict, now: datetime, batch: int, result: HandoffResult) -> None:
    """Hand off the rows that appeared in earlier runs' gaps."""
    while True:
        with transaction.atomic():
            cursor = _cursor_locked()
            gaps = _gaps_expire(cursor.gaps, now, result)
            found: list[RouteChange] = []
            for start in range(0, len(gaps), GAP_QUERY_RANGES):
                found += _changes().filter(_gap_q(gaps[start : start + GAP_QUERY_RANGES]))[
                    : batch - len(found)
                ]
                if len(found) >= batch:
                    break
            found.sort(key=lambda c: c.pk)
            events, deliveries = _write(found, subscribed, now)
            cursor.gaps = _gaps_subtract(gaps, [c.pk for c in found])
            cursor.save(update_fields=["gaps", "updated_at"])
        result.read += len(found)
        result.gaps_filled += len(found)
        result.events += events
        result.deliveries += deliveries
        if len(found) < batch:
            return


def outbound_handoff(*, now: datetime | None = None, batch: int = HANDOFF_BATCH) -> HandoffResult:
    """Turn the RouteChange rows past the cursor (and those awaited in its gaps) into
    events and deliveries for the active endpoints subscribed to them. The caller holds
    the outbound lock (``outbound_tick``)."""
    now = now or timezone.now()
    result = HandoffResult()
    subscribed = _subscriptions()
    if not any(subscribed.values()):
        # Nobody listens: move on to the newest row; nothing from this time is owed.
        with transaction.atomic():
            cursor = _cursor_locked()
            cursor.last_route_change_id = max(cursor.last_route_change_id, _top_route_change_id())
            cursor.gaps = []
            cursor.save(update_fields=["last_route_change_id", "gaps", "updated_at"])
        result.cursor = cursor.last_route_change_id
        return result
    _refill_gaps(subscribed, now, batch, result)
    while True:
        with transaction.atomic():
            cursor = _cursor_locked()
            last = cursor.last_route_change_id
            rows = list(_changes().filter(pk__gt=last)[:batch])
            gaps = list(cursor.gaps)
            for change in rows:
                if change.pk > last + 1:
                    gaps.append([last + 1, change.pk - 1, now.isoformat()])
                last = change.pk
            events, deliveries = _write(rows, subscribed, now)
            cursor.last_route_change_id, cursor.gaps = last, gaps
            cursor.save(update_fields=["last_route_change_id", "gaps", "updated_at"])
        result.read += len(rows)
        result.events += events
        result.deliveries += deliveries
        if len(rows) < batch:
            break
    result.cursor = cursor.last_route_change_id
    result.gaps_open = sum(high - low + 1 for low, high, _ in cursor.gaps)
    return result
