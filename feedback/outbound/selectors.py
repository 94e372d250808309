"""Reads of feedback.outbound for the pages and downloads. Endpoints and the delivery
log are admins' (anyone else gets nothing); CRM syncs and downloads PMs' and admins'."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from feedback.outbound.models import (
    CRM_SYNC_KIND,
    CrmSync,
    Delivery,
    Endpoint,
    EventType,
    OutboundCursor,
    OutboundEvent,
)
from feedback.outbound.selectors_crm import CRM_FIELD_NAMES
from pls_portal.models import Job, User
from pls_portal.permissions import is_admin, is_pm

SECRET_SHOWN = 10
JOB_WAIT = timedelta(hours=2)


def _admin_scope(user: User, qs: QuerySet) -> QuerySet:
    return qs if is_admin(user) else qs.none()


def _reader_scope(user: User, qs: QuerySet) -> QuerySet:
    return qs if is_admin(user) or is_pm(user) else qs.none()


def secret_hint(secret: str) -> str:
    """Enough of a secret to recognise it, not to use it."""
    return secret[:SECRET_SHOWN] + "…"


def endpoints_for(*, user: User) -> QuerySet[Endpoint]:
    """Endpoints with their delivery counts by state."""
    return _admin_scope(user, Endpoint.objects.all()).annotate(
        pending=Count("deliveries", filter=Q(deliveries__state=Delivery.State.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__state=Delivery.State.FAILED)),
        delivered=Count("deliveries", filter=Q(deliveries__state=Delivery.State.DELIVERED)),
    )


def endpoint_for(*, user: User, endpoint_id: int) -> Endpoint:
    """Raises Endpoint.DoesNotExist when missing or not the user's to see."""
    return _admin_scope(user, Endpoint.objects.select_related("created_by")).get(pk=endpoint_id)


def handoff_state() -> dict:
    cursor = OutboundCursor.objects.filter(pk=1).first()
    if cursor is None:
        return {"started": False}
    return {
        "started": True,
        "cursor": cursor.last_route_change_id,
        "awaited": sum(high - low + 1 for low, high, _ in cursor.gaps),
        "updated_at": cursor.updated_at,
    }


def deliveries_for(
    *,
    user: User,
    endpoint_id: int | None = None,
    state: str = "",
    event_type: str = "",
    search: str = "",
) -> QuerySet[Delivery]:
    """The delivery log, newest first; payloads are left out (a CRM batch is large)."""
    qs = Delivery.objects.select_related("endpoint", "event", "resent_by").defer(
        "event__payload", "endpoint__secret"
    )
    if endpoint_id is not None:
        qs = qs.filter(endpoint_id=endpoint_id)
    if state:
        qs = qs.filter(state=state)
    if event_type:
        qs = qs.filter(event__type=event_type)
    if search:
        qs = qs.filter(Q(event__id=search) | Q(event__summary__icontains=search))
    return _admin_scope(user, qs).order_by("-created_at", "-id")


def delivery_for(*, user: User, delivery_id: int) -> Delivery:
    """One delivery with its event's payload; raises Delivery.DoesNotExist."""
    qs = Delivery.objects.select_related("endpoint", "event", "resent_by")
    return _admin_scope(user, qs).get(pk=delivery_id)


def event_payload_text(event: OutboundEvent, *, max_records: int = 3) -> str:
    """The event's JSON, pretty; a CRM batch shows its first records only."""
    payload = event.payload
    records = payload.get("data", {}).get("records")
    if isinstance(records, list) and len(records) > max_records:
        data = {
            **payload["data"],
            "records": [*records[:max_records], f"… {len(records) - max_records} more"],
        }
        payload = {**payload, "data": data}
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False)


def crm_syncs_for(*, user: User, limit: int = 20) -> list[dict]:
    """The latest CRM syncs with their deliveries counted by state (two queries)."""
    syncs = list(
        _reader_scope(user, CrmSync.objects.select_related("created_by")).order_by(
            "-started_at", "-id"
        )[:limit]
    )
    counts: dict[int, dict[str, int]] = {s.pk: {} for s in syncs}
    if syncs:
        rows = (
            Delivery.objects.filter(event__crm_sync_id__in=list(counts))
            .values("event__crm_sync_id", "state")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            counts[row["event__crm_sync_id"]][row["state"]] = row["n"]
    return [{"sync": s, "deliveries": counts[s.pk]} for s in syncs]


def crm_sync_for(*, user: User, crm_sync_id: int) -> CrmSync:
    return _reader_scope(user, CrmSync.objects.all()).get(pk=crm_sync_id)


def crm_sync_endpoints(*, user: User) -> list[dict]:
    """Active endpoints the CRM sync goes to (name and format only: PMs see this)."""
    endpoints = _reader_scope(user, Endpoint.objects.filter(is_active=True)).values_list(
        "name", "format", "event_types"
    )
    return [
        {"name": name, "format": "Slack" if fmt == Endpoint.Format.SLACK else "JSON"}
        for name, fmt, types in endpoints
        if EventType.CRM_SYNC in types
    ]


def crm_sync_running(*, user: User) -> bool:
    """A sync is running, or queued as a Job a worker has not started yet."""
    if not (is_admin(user) or is_pm(user)):
        return False
    # A job older than a sync may take was lost with its broker message: not waited for.
    waiting = Job.objects.filter(
        kind=CRM_SYNC_KIND,
        state__in=[Job.State.QUEUED, Job.State.RUNNING],
        created_at__gte=timezone.now() - JOB_WAIT,
    )
    return CrmSync.objects.filter(state=CrmSync.State.RUNNING).exists() or waiting.exists()


def crm_sync_csv_rows(*, crm_sync_id: int) -> Iterator[list]:
    """The header, then one row per account of the sync, batch by batch (streamed: one
    batch in memory at a time)."""
    yield list(CRM_FIELD_NAMES)
    payloads = (
        OutboundEvent.objects.filter(crm_sync_id=crm_sync_id)
        .order_by("batch")
        .values_list("payload", flat=True)
    )
    for payload in payloads.iterator(chunk_size=4):
        for record in payload["data"]["records"]:
            yield ["" if record.get(name) is None else record[name] for name in CRM_FIELD_NAMES]
