"""Feedback's part of the demo: post-deal feedback on the deals the demo AE closed today
(scoring's demo walk closes one won and one lost), and five months of closed queue
history with its feedback, so the monthly PM report has figures and changes to show.

The history is what the queue would have recorded had the portal run for those months:
closed queue items with their RouteChange rows (opened, closed) and, for won and lost
ones, their Deals through the accounts service. It goes on accounts that never had a
queue item, and its Deals have no owner, so no account gains an owner and today's
routing is untouched. One lost deal of last month is left without feedback: the demo
AE sees the reminder.

Deterministic (fixed seed, accounts in id order, months counted back from today) and
idempotent: the history is written once; feedback is given once per item.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Deal, TrackingPlanEntry
from accounts.services.deals import deal_close, deal_open
from playbooks.models import Play, PlayMatch
from pls_portal.models import RepType, Role, User
from scoring.models import QueueItem, Route, RouteChange

from .models import Feedback, FeedbackCategory
from .selectors_report import month_add, month_start
from .services import FeedbackInput, feedback_submit

SEED = 1515
MONTHS = 5
HISTORY_REASON = "demo history: routed as a PQL"
State = QueueItem.State

REASONS = (
    "7 active users in 30 days",
    "hit the export limit twice this week",
    "viewed the pricing page 4 times",
    "tried SSO on the team plan",
    "5 core features used",
    "invited 6 teammates",
    "API key created, no integration yet",
    "usage up 80% week over week",
)
DISQUALIFY = (
    "Agency evaluating for a client, no budget of its own",
    "Student project",
    "A competitor researching us",
    "Existing customer under another account",
    "Three-person team, no growth plans",
)
LOST_REASONS = (
    "Chose a cheaper competitor",
    "Security review failed",
    "No budget until next year",
    "Went quiet after the demo",
)
# (objection, weight in the oldest month, weight now): security rises, price eases.
OBJECTIONS = (
    ("price", 5, 3),
    ("security-compliance", 1, 5),
    ("missing-feature", 3, 3),
    ("procurement", 2, 3),
    ("enterprise-features", 2, 3),
    ("timing", 2, 1),
    ("no-budget", 2, 2),
    ("chose-competitor", 2, 1),
    ("stakeholders", 1, 2),
)
BLOCKERS = (
    ("invoicing", 4, 5),
    ("security-review", 1, 4),
    ("enterprise-features", 2, 3),
    ("card-limit", 3, 3),
    ("legal-terms", 1, 2),
    ("custom-pricing", 2, 1),
    ("onboarding", 1, 1),
    ("nothing", 2, 1),
)
FEATURES = (("api", 2, 4), ("integrations", 3, 4), ("export", 4, 2), ("dashboards", 2, 2))
NOTES = {
    "objection": (
        "Their security team wanted our SOC 2 report before the trial ended.",
        "Finance compared us with a tool they already pay for.",
        "They need SCIM provisioning before rolling out to 200 people.",
        "",
        "",
    ),
    "feature": ("Audit log export to their SIEM.", "A Salesforce integration.", "", "", ""),
    "self_serve": (
        "Pay by invoice from the checkout, with a PO number.",
        "A security page with the SOC 2 report and a DPA to download.",
        "SSO on the team plan.",
        "An annual plan above the card limit.",
        "",
    ),
}


@dataclass(frozen=True)
class DemoFeedbackResult:
    history_items: int
    feedback_given: int

    @property
    def summary(self) -> str:
        return (
            f"{self.history_items} closed queue items of the last {MONTHS} months, "
            f"{self.feedback_given} feedback entries given"
        )


def _rep(rep_type: str) -> User | None:
    return (
        User.objects.filter(role=Role.REP, rep_type=rep_type, is_active=True)
        .order_by("username")
        .first()
    )


def _weighted(rng: random.Random, table: tuple, progress: float, k: int) -> list[str]:
    """``k`` distinct keys drawn by weights moving from the oldest month's to today's."""
    keys = [row[0] for row in table]
    weights = [row[1] + (row[2] - row[1]) * progress for row in table]
    chosen: list[str] = []
    while len(chosen) < min(k, len(keys)):
        key = rng.choices(keys, weights=weights)[0]
        if key not in chosen:
            chosen.append(key)
    return chosen


def demo_feedback_seed(*, now: datetime | None = None) -> DemoFeedbackResult:
    now = now or timezone.now()
    ae, sdr = _rep(RepType.AE), _rep(RepType.SDR)
    if ae is None:
        return DemoFeedbackResult(0, 0)
    history = 0
    if not QueueItem.objects.filter(route_reason=HISTORY_REASON).exists():
        history = _history(ae=ae, sdr=sdr, now=now)
    given = _feedback(now=now, ae=ae)
    return DemoFeedbackResult(history, given)


def _history(*, ae: User, sdr: User | None, now: datetime) -> int:
    """Closed queue cycles in each of the last ``MONTHS`` complete months."""
    rng = random.Random(SEED)  # noqa: S311 (demo data)
    accounts = list(
        Account.objects.filter(merged_into__isnull=True)
        .exclude(pk__in=QueueItem.objects.values("account_id"))
        .order_by("pk")
        .values_list("pk", "name")
    )
    this_month = month_start(now.date())
    made = 0
    with transaction.atomic():
        for back in range(MONTHS, 0, -1):
            month = month_add(this_month, -back)
            for _ in range(rng.randint(9, 14)):
                if not accounts:
                    return made
                account_id, name = accounts.pop(0)
                _cycle(rng, account_id=account_id, name=name, month=month, ae=ae, sdr=sdr)
                made += 1
    return made


def _cycle(rng, *, account_id: int, name: str, month, ae: User, sdr: User | None) -> None:
    state = rng.choices(
        [State.WON, State.LOST, State.DISQUALIFIED, State.BACKED_OFF, State.HANDED_TO_MARKETING],
        weights=[35, 30, 12, 15, 8],
    )[0]
    route = Route.SDR if sdr is not None and rng.random() < 0.25 else Route.AE
    rep = sdr if route == Route.SDR else ae
    closed_at = datetime(
        month.year,
        month.month,
        rng.randint(1, 28),
        rng.randint(9, 17),
        rng.randint(0, 59),
        tzinfo=UTC,
    )
    created = closed_at - timedelta(days=rng.randint(8, 45), hours=rng.randint(0, 8))
    first_touch = created + timedelta(hours=rng.randint(2, 20))
    responded = first_touch + timedelta(days=rng.randint(1, 3))
    deal = None
    if state in (State.WON, State.LOST):
        deal = deal_open(
            account_id=account_id,
            source=Deal.Source.PQL,
            name=f"{name} ({Route(route).label})",
            opened_at=responded,
        )
        won = state == State.WON
        arr = Decimal(rng.choice((12_000, 18_000, 24_000, 36_000, 48_000, 60_000, 90_000)))
        lost_reason = "" if won else rng.choice(LOST_REASONS)
        deal_close(
            deal_id=deal.pk,
            won=won,
            arr=arr if won else None,
            closed_at=closed_at,
            lost_reason=lost_reason,
        )
        reason = f"won: ${arr:,.0f} ARR" if won else f"lost: {lost_reason}"
    elif state == State.DISQUALIFIED:
        reason = f"disqualified: {rng.choice(DISQUALIFY)}"
    elif state == State.BACKED_OFF:
        reason = "backed off: no response 7 days after the first touch"
    else:
        reason = "handed to marketing: only end users active; no buyer found"
    touched = state != State.HANDED_TO_MARKETING or rng.random() < 0.5
    item = QueueItem.objects.create(
        account_id=account_id,
        route=route,
        state=state,
        score=rng.randint(45, 95) if route == Route.SDR else rng.randint(71, 98),
        reasons=rng.sample(REASONS, 3),
        route_reason=HISTORY_REASON,
        missing_buyer=state == State.HANDED_TO_MARKETING,
        created_at=created,
        routed_at=created,
        due_at=created + timedelta(hours=48 if route == Route.SDR else 24),
        claimed_by=rep,
        claimed_at=created + timedelta(hours=1),
        first_touch_at=first_touch if touched else None,
        responded_at=responded if deal else None,
        closed_at=closed_at,
        close_reason=reason[:300],
        closed_by=rep,
        deal=deal,
    )
    RouteChange.objects.bulk_create(
        [
            RouteChange(
                account_id=account_id,
                item=item,
                from_route="",
                to_route=route,
                from_state="",
                to_state=State.OPEN,
                reason=f"queue item opened: {HISTORY_REASON}",
                at=created,
            ),
            RouteChange(
                account_id=account_id,
                item=item,
                from_route=route,
                to_route=Route.HELD,
                from_state=State.TOUCHED if touched else State.CLAIMED,
                to_state=state,
                reason=reason[:300],
                by=rep,
                at=closed_at,
            ),
        ]
    )


def _feedback(*, now: datetime, ae: User) -> int:
    """Feedback on every won or lost item without it, but the AE's newest lost item of
    the history (their reminder). Items in item order, each drawn from a fixed seed."""
    items = list(
        QueueItem.objects.filter(
            state__in=[State.WON, State.LOST], feedback__isnull=True, claimed_by__isnull=False
        )
        .select_related("claimed_by")
        .order_by("pk")
    )
    reminder = (
        QueueItem.objects.filter(route_reason=HISTORY_REASON, state=State.LOST, claimed_by=ae)
        .order_by("-closed_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    categories = {(c.kind, c.key): c.pk for c in FeedbackCategory.objects.filter(is_active=True)}
    features = set(
        TrackingPlanEntry.objects.filter(category=TrackingPlanEntry.Category.FEATURE).values_list(
            "key", flat=True
        )
    )
    plays = dict(PlayMatch.objects.values_list("account_id", "play_id"))
    all_plays = list(
        Play.objects.filter(is_active=True).order_by("key").values_list("pk", flat=True)
    )
    oldest = month_add(month_start(now.date()), -MONTHS)
    given = 0
    for item in items:
        if item.pk == reminder or Feedback.objects.filter(item=item).exists():
            continue
        # Each item draws from its own seed: the same feedback whatever else exists.
        rng = random.Random(SEED * 100_003 + item.pk)  # noqa: S311 (demo data)
        span = max((month_start(now.date()) - oldest).days, 1)
        progress = min(max((item.closed_at.date() - oldest).days / span, 0.0), 1.0)
        lost = item.state == State.LOST
        objections = _weighted(rng, OBJECTIONS, progress, rng.randint(1 if lost else 0, 2))
        blockers = _weighted(rng, BLOCKERS, progress, rng.randint(1, 2))
        wanted = _weighted(rng, FEATURES, progress, rng.randint(0, 2))
        play = plays.get(item.account_id) or (rng.choice(all_plays) if all_plays else None)
        data = FeedbackInput(
            trigger_signal=(item.reasons or [rng.choice(REASONS)])[0],
            trigger_play_id=play,
            objection_ids=tuple(
                categories[("objection", k)] for k in objections if ("objection", k) in categories
            ),
            objection_note=rng.choice(NOTES["objection"]),
            feature_keys=tuple(k for k in wanted if k in features),
            feature_note=rng.choice(NOTES["feature"]),
            blocker_ids=tuple(
                categories[("blocker", k)] for k in blockers if ("blocker", k) in categories
            ),
            self_serve_note=rng.choice(NOTES["self_serve"]),
        )
        when = min(item.closed_at + timedelta(hours=rng.randint(1, 72)), now)
        feedback_submit(item_id=item.pk, author=item.claimed_by, data=data, now=when)
        given += 1
    return given
