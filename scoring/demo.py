"""Scoring's part of the demo: an ICP list, every account scored and routed, and queue
items walked through every state by the demo reps (claimed, touched, answered, won,
lost, disqualified, handed to marketing, backed off, overdue, expired).

Deterministic (items taken in account order) and idempotent: the walk happens once,
when the demo AE has logged no touch yet; a rerun only rescores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from pls_portal.models import RepType, Role, User
from scoring.models import IcpEntry, QueueItem, Route, Touch
from scoring.services.queue import (
    queue_item_claim,
    queue_item_close,
    queue_item_disqualify,
    queue_item_hand_to_marketing,
    queue_item_touch,
    queue_sweep,
    touch_response,
)
from scoring.services.run import ScoringResult, scoring_run

ICP = [
    (IcpEntry.Kind.INDUSTRY, "insurance", "Regulated, buys on security reviews"),
    (IcpEntry.Kind.INDUSTRY, "financial services", "Regulated, buys on security reviews"),
]


@dataclass(frozen=True)
class DemoScoringResult:
    scoring: ScoringResult
    walked: int
    states: dict[str, int]


def _backdate(item: QueueItem, hours: float) -> None:
    """Move an item's cycle into the past, as if routed ``hours`` ago."""
    shift = timedelta(hours=hours)
    QueueItem.objects.filter(pk=item.pk).update(
        created_at=item.created_at - shift,
        routed_at=item.routed_at - shift,
        due_at=item.due_at - shift,
    )


def _rep(rep_type: str) -> User | None:
    return (
        User.objects.filter(role=Role.REP, rep_type=rep_type, is_active=True)
        .order_by("username")
        .first()
    )


def demo_scoring_seed() -> DemoScoringResult:
    for kind, value, note in ICP:
        IcpEntry.objects.get_or_create(kind=kind, value=value, defaults={"note": note})
    result = scoring_run(full=True)
    ae = _rep(RepType.AE)
    walked = 0
    if ae is not None and not Touch.objects.filter(by=ae).exists():
        walked = _walk(ae)
        # The expired item's account still qualifies: its next cycle opens now.
        scoring_run(full=True)
    states = dict.fromkeys(QueueItem.State.values, 0)
    for state in QueueItem.objects.values_list("state", flat=True):
        states[state] += 1
    return DemoScoringResult(scoring=result, walked=walked, states=states)


def _walk(ae: User) -> int:
    """Take the AE pool's open items in account order through the life cycle."""
    items = list(
        QueueItem.objects.filter(
            state=QueueItem.State.OPEN, route__in=[Route.AE, Route.INBOUND]
        ).order_by("account_id")
    )
    now = timezone.now()
    steps = [
        lambda i: queue_item_claim(item_id=i.pk, rep=ae),
        lambda i: queue_item_touch(
            item_id=i.pk, rep=ae, channel="email", person="Head of Operations",
            note="Shared the team-plan comparison they asked about.",
        ),
        lambda i: _answered(i, ae, days_ago=3),
        lambda i: _unanswered(i, ae, days_ago=8),
        lambda i: _won(i, ae),
        lambda i: _lost(i, ae),
        lambda i: queue_item_disqualify(
            item_id=i.pk, rep=ae, reason="Agency evaluating for a client, no budget of its own"
        ),
        lambda i: queue_item_hand_to_marketing(
            item_id=i.pk, rep=ae, note="Only interns use it; no buyer found"
        ),
        lambda i: _backdate(i, 30),  # overdue: due 6 h ago, nobody claimed it
        lambda i: _backdate(i, 60),  # expired: unclaimed past twice its SLA
    ]  # fmt: skip
    for item, step in zip(items, steps, strict=False):
        with transaction.atomic():
            step(item)
    queue_sweep(now=now)
    return min(len(items), len(steps))


def _answered(item: QueueItem, ae: User, *, days_ago: int) -> None:
    _backdate(item, 24 * days_ago + 2)
    touch = queue_item_touch(
        item_id=item.pk,
        rep=ae,
        channel="linkedin",
        person="VP Engineering",
        note="Mentioned their seat limit and the SSO attempts.",
        at=timezone.now() - timedelta(days=days_ago),
    )
    touch_response(
        touch_id=touch.pk,
        rep=ae,
        note="Wants a call about the Business plan next week.",
        at=timezone.now() - timedelta(days=days_ago - 1),
    )


def _unanswered(item: QueueItem, ae: User, *, days_ago: int) -> None:
    _backdate(item, 24 * days_ago + 2)
    queue_item_touch(
        item_id=item.pk,
        rep=ae,
        channel="email",
        person="CTO",
        note="Offered help with the integration they started.",
        at=timezone.now() - timedelta(days=days_ago),
    )


def _won(item: QueueItem, ae: User) -> None:
    _answered(item, ae, days_ago=12)
    queue_item_close(item_id=item.pk, rep=ae, won=True, arr=Decimal("36000"))


def _lost(item: QueueItem, ae: User) -> None:
    _answered(item, ae, days_ago=10)
    queue_item_close(item_id=item.pk, rep=ae, won=False, lost_reason="Chose a cheaper competitor")
