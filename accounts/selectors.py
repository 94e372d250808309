"""Reads of accounts/ for pages."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Max, Prefetch, QuerySet
from django.utils import timezone

from accounts.models import (
    IncomingRequest,
    IngestionKey,
    Plan,
    PlanLimit,
    RejectedEvent,
    RejectedRequest,
    TrackingPlanEntry,
)


@dataclass(frozen=True)
class IngestionOverview:
    keys: list[IngestionKey]
    rejected_requests_day: int
    rejected_requests_week: int
    rejected_request_reasons: list[dict]
    rejected_event_reasons: list[dict]
    rejected_events_total: int
    waiting_requests: int


def ingestion_overview() -> IngestionOverview:
    """Write keys and what ingestion refused, for the admin's Ingestion page."""
    now = timezone.now()
    week = RejectedRequest.objects.filter(received_at__gte=now - timedelta(days=7))
    request_reasons = list(
        week.values("status", "reason")
        .annotate(count=Count("id"), latest=Max("received_at"))
        .order_by("-latest")[:20]
    )
    event_reasons = list(
        RejectedEvent.objects.values("reason", "field")
        .annotate(count=Count("id"), latest=Max("received_at"))
        .order_by("-latest")
    )
    return IngestionOverview(
        keys=list(IngestionKey.objects.select_related("created_by")),
        rejected_requests_day=week.filter(received_at__gte=now - timedelta(days=1)).count(),
        rejected_requests_week=week.count(),
        rejected_request_reasons=request_reasons,
        rejected_event_reasons=event_reasons,
        rejected_events_total=sum(r["count"] for r in event_reasons),
        waiting_requests=IncomingRequest.objects.count(),
    )


def rejected_events(*, reason: str = "") -> QuerySet[RejectedEvent]:
    """Rejected events, newest first, optionally of one reason."""
    events = RejectedEvent.objects.select_related("key")
    return events.filter(reason=reason) if reason else events


def tracking_plan_entries() -> QuerySet[TrackingPlanEntry]:
    return TrackingPlanEntry.objects.order_by("category", "match_type", "name")


def plans_with_limits() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related(
        Prefetch("limits", queryset=PlanLimit.objects.order_by("key"))
    )
