"""The touch log of the current item: its touches and responses, the SLA and the
back-off clock."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dossiers.dossier.scope import DossierScope, display_name, item_dict
from scoring.models import QueueItem, Touch


def touches_for(*, items: list[QueueItem]) -> list[Touch]:
    """The touches of these items, oldest first (one query, none without items)."""
    if not items:
        return []
    return list(
        Touch.objects.filter(item__in=[i.pk for i in items])
        .select_related("by")
        .order_by("at", "pk")
    )


def touch_log_get(*, scope: DossierScope, touches: list[Touch] | None = None) -> dict:
    """The current item's touches, SLA and back-off clock (one query, or none when the
    touches are passed in)."""
    item = scope.item
    if item is None:
        return {"item": None, "touches": [], "can_act": False}
    if touches is None:
        touches = touches_for(items=[item])
    now = timezone.now()
    rows = [
        {
            "id": t.pk,
            "at": t.at,
            "channel": t.get_channel_display(),
            "person": t.person,
            "note": t.note,
            "by": display_name(t.by),
            "response_at": t.response_at,
            "response_note": t.response_note,
        }
        for t in touches
        if t.item_id == item.pk
    ]
    if item.first_touch_at is not None:
        sla = "met" if item.sla_met else "missed"
    elif not item.is_active:
        sla = "never touched"
    else:
        sla = "overdue" if now > item.due_at else "due"
    backoff_until = (
        item.first_touch_at + timedelta(days=scope.settings.backoff_days)
        if item.first_touch_at
        else None
    )
    return {
        "item": item_dict(item),
        "touches": rows,
        "buyer_names": sorted({b.get("name") or b.get("email") or "" for b in item.buyers} - {""}),
        "sla": sla,
        "sla_delta": abs(item.due_at - (item.first_touch_at or now)),
        "backoff_days": scope.settings.backoff_days,
        "backoff_until": backoff_until,
        "backoff_stopped": item.responded_at is not None,
        "can_act": scope.can_act,
        "blocked_by": scope.blocked_by,
        "read_only": scope.read_only,
    }
