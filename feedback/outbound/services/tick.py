"""The periodic work: every few seconds hand off new route changes and dispatch the
deliveries that are due; nightly remove what has outlived its use."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from feedback.outbound.models import CrmSync, OutboundEvent
from feedback.outbound.services.delivery import deliveries_dispatch
from feedback.outbound.services.handoff import HandoffResult, outbound_handoff
from pls_portal.services import task_lock

logger = logging.getLogger(__name__)

OUTBOUND_LOCK = "outbound"
OUTBOUND_LOCK_TTL = timedelta(minutes=5)
# Route-change and test events (and their delivery log) are kept this long; CRM sync
# snapshots (their CSV download) less, as a full one holds every account.
EVENT_KEEP_DAYS = 90
CRM_SYNC_KEEP_DAYS = 30
PRUNE_BATCH = 1000


@dataclass
class TickResult:
    skipped: bool = False
    handoff: HandoffResult | None = None
    dispatched: list[tuple[int, str]] = field(default_factory=list)


def outbound_tick(*, now: datetime | None = None) -> TickResult:
    """Hand off, then lease the due deliveries for the caller to enqueue; one run at a
    time (a run that cannot take the lock skips)."""
    with task_lock(name=OUTBOUND_LOCK, ttl=OUTBOUND_LOCK_TTL) as acquired:
        if not acquired:
            return TickResult(skipped=True)
        now = now or timezone.now()
        handoff = outbound_handoff(now=now)
        return TickResult(handoff=handoff, dispatched=deliveries_dispatch(now=now))


@dataclass(frozen=True)
class PruneResult:
    events: int
    crm_syncs: int


def outbound_prune(*, now: datetime | None = None) -> PruneResult:
    """Delete events (with their deliveries) and CRM syncs past their retention, in
    batches so no delete holds a long lock."""
    now = now or timezone.now()
    old_syncs = CrmSync.objects.filter(started_at__lt=now - timedelta(days=CRM_SYNC_KEEP_DAYS))
    old_events = OutboundEvent.objects.filter(
        crm_sync__isnull=True, created_at__lt=now - timedelta(days=EVENT_KEEP_DAYS)
    )
    counts = {"events": 0, "crm_syncs": 0}
    # A full sync holds hundreds of batch events: a few syncs per delete.
    for name, qs, size in (("crm_syncs", old_syncs, 5), ("events", old_events, PRUNE_BATCH)):
        while ids := list(qs.values_list("pk", flat=True)[:size]):
            with transaction.atomic():
                qs.model.objects.filter(pk__in=ids).delete()
            counts[name] += len(ids)
    if counts["events"] or counts["crm_syncs"]:
        logger.info("outbound prune: %s", counts)
    return PruneResult(**counts)
