"""The dossier of one account: everything a rep needs before the first touch (seed 003,
"The PQL dossier"), read with a fixed number of queries whatever the account's size.

Every section is a plain dict (or a list of them) for the template. Who may open which
dossier is decided here (``dossier_scope``): reps the accounts with an item in their
pool (active, or claimed or closed by them), PMs and admins any account; PMs read only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Case, Count, FloatField, Max, Min, Q, Subquery, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.buyers import likely_buyers
from accounts.models import (
    Account,
    AccountDay,
    AccountDomain,
    AccountFeatureDay,
    AccountUserDay,
    Contact,
    Deal,
    Event,
    Plan,
    PlanLimit,
    ProductUser,
    TrackingPlanEntry,
)
from accounts.selectors_reverse_ip import anonymous_visitors_by_company
from dossiers.charts import TREND_DAYS, Trend, usage_trend
from playbooks.services import play_message_for
from pls_portal.models import Role, User
from scoring.engine import Settings, rule_condition
from scoring.models import AccountScore, QueueItem, Route, RuleSet, ScoreHistory, Touch
from scoring.services.queue import pool_q
from scoring.services.run import rule_specs
from scoring.signals import LIMIT_FEATURES, SIGNALS_BY_NAME, Scope, signals_compute

logger = logging.getLogger(__name__)

USAGE_HIGH_PCT = 80  # a limit used this much is highlighted (seed 003: 80 %+ of a limit)
LIMIT_HIT_RECENT_DAYS = 14  # a limit hit this recently counts as 100 % (scoring.signals)
PAYWALL_DAYS = 90
VISITOR_DAYS = 30
USER_EVENTS_DAYS = 30
USERS_SHOWN = 25
TOP_EVENTS = 3
SCORE_HISTORY_ROWS = 200
# What a person did: product events and pages, not identify / group calls.
ACTION_TYPES = (Event.Type.TRACK, Event.Type.PAGE, Event.Type.SCREEN)

State = QueueItem.State

# What each route means for the rep, in the seeds' words (the reason says why this one).
ROUTE_HELP = {
    Route.AE: "A PQL for an AE: high value and high engagement, score above the AE threshold.",
    Route.SDR: "A PQL for an SDR: high value and high engagement, score in the SDR band.",
    Route.INBOUND: "Inbound: the account asked for a demo or sales contact — answer it.",
    Route.EXPANSION: "Expansion of a customer won by sales: usage grew past the win.",
    Route.NURTURE: "Nurture: high value, low engagement — marketing content, no rep yet.",
    Route.SELF_SERVE: "Self-serve: no sales touch.",
    Route.SELF_SERVE_HERO: (
        "Self-serve hero: high engagement, low value — converting by itself, never sent to sales."
    ),
    Route.HELD: "Held: a guard keeps reps away for now.",
    Route.NOT_ROUTED: "Not routed.",
}

ARR_INPUTS = (
    ("employees", "Employees"),
    ("employee_seats", "Employee seats (10 % of employees, at most 1,000)"),
    ("active_users_30d", "Active users, 30 days"),
    ("likely_seats", "Likely seats (the larger of the two)"),
    ("current_plan", "Current plan"),
    ("plan_name", "Priced at plan"),
    ("price_per_seat_month", "Price per seat per month"),
    ("price_per_seat_year", "Price per seat per year"),
    ("arr_potential", "ARR potential"),
)


class DossierNotFound(Exception):
    """No such account, or not one the user may open (views answer 404)."""


@dataclass
class DossierScope:
    """The account, the queue item the page works on and what the user may do."""

    account: Account
    items: list[QueueItem]
    item: QueueItem | None
    read_only: bool
    can_act: bool  # may log touches and responses, hand over
    blocked_by: str = ""  # who holds the item when someone else does
    settings: Settings = field(default_factory=Settings)


def _display(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else ""


def dossier_scope(*, user: User, account_id: int) -> DossierScope:
    """The account if the user may open its dossier, else DossierNotFound. Three queries."""
    account = (
        Account.objects.select_related("plan", "owner", "merged_into").filter(pk=account_id).first()
    )
    if account is None or user.role not in (Role.REP, Role.PM, Role.ADMIN):
        raise DossierNotFound(account_id)
    items = QueueItem.objects.filter(account_id=account_id).select_related(
        "claimed_by", "closed_by", "owner"
    )
    if user.role == Role.REP:
        pool = pool_q(user)
        items = items.annotate(
            visible=Case(
                When((Q(state__in=QueueItem.ACTIVE_STATES) & pool) | Q(claimed_by=user)
                     | Q(closed_by=user), then=Value(True)),
                default=Value(False),
            ),
            workable=Case(
                When(Q(state__in=QueueItem.ACTIVE_STATES) & (pool | Q(claimed_by=user)),
                     then=Value(True)),
                default=Value(False),
            ),
        )  # fmt: skip
    items = list(items.order_by("-created_at", "-pk"))
    active = next((i for i in items if i.is_active), None)
    if user.role == Role.REP:
        visible = [i for i in items if i.visible]
        if not visible:
            raise DossierNotFound(account_id)
        item = next((i for i in visible if i.workable), None) or visible[0]
        workable = bool(getattr(item, "workable", False))
    else:
        item = active or (items[0] if items else None)
        workable = user.role == Role.ADMIN and item is not None and item.is_active
    read_only = user.role == Role.PM
    blocked_by = ""
    if (
        workable
        and item.claimed_by_id
        and item.claimed_by_id != user.pk
        and user.role != Role.ADMIN
    ):
        blocked_by = _display(item.claimed_by)
    rule_set = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    return DossierScope(
        account=account,
        items=items,
        item=item,
        read_only=read_only,
        can_act=workable and not read_only and not blocked_by,
        blocked_by=blocked_by,
        settings=Settings.of(rule_set) if rule_set else Settings(),
    )


# --- overview ----------------------------------------------------------------------------


def _overview(account: Account) -> dict:
    domains = list(
        AccountDomain.objects.filter(account=account).values_list("domain", "is_primary")
    )
    inputs = account.arr_potential_inputs or {}
    shown = [(label, inputs[key]) for key, label in ARR_INPUTS if key in inputs]
    visitors = [
        {"domain": v.domain, "company": v.company, "visitors": v.visitors, "events": v.events}
        for v in anonymous_visitors_by_company(days=VISITOR_DAYS, account_id=account.pk)
    ]
    return {
        "id": account.pk,
        "name": account.name,
        "domains": [{"domain": d, "primary": p} for d, p in domains],
        "industry": account.industry,
        "employees": account.employees,
        "country": account.country,
        "plan": account.plan.name if account.plan else "",
        "status": account.get_status_display(),
        "created_at": account.created_at,
        "owner": _display(account.owner),
        "merged_into": account.merged_into.name if account.merged_into else "",
        "arr_potential": account.arr_potential,
        "arr_inputs": shown,
        "visitors": visitors,
        "visitor_days": VISITOR_DAYS,
    }


# --- product usage, milestones, trend ----------------------------------------------------


def _number(field_name: str, key: str):
    return Coalesce(Cast(KT(f"{field_name}__{key}"), FloatField()), 0.0)


def _limits(
    account: Account, *, today: date, days: list[AccountDay], features: dict, seats: int
) -> list[dict]:
    """Each limit of the account's plan (no plan: the lowest plan's), measured as
    ``scoring.signals`` measures ``usage_pct``: per_month counters over the calendar
    month, current gauges over all time, a hit in the last 14 days is at least 100 %."""
    lowest = Plan.objects.order_by("position", "id").values("id")[:1]
    limits = list(
        PlanLimit.objects.filter(plan_id=account.plan_id)
        if account.plan_id
        else PlanLimit.objects.filter(plan_id=Subquery(lowest))
    )
    month_start = today.replace(day=1)
    recent = today - timedelta(days=LIMIT_HIT_RECENT_DAYS)
    gauges = [
        limit.key
        for limit in limits
        if limit.counting_mode == PlanLimit.CountingMode.CURRENT
        and limit.key != "seats"
        and limit.key not in LIMIT_FEATURES
    ]
    totals = {}
    if gauges:
        totals = AccountDay.objects.filter(account=account, day__lte=today).aggregate(
            **{key: Sum(_number("usage", key)) for key in gauges}
        )
    rows = []
    for limit in limits:
        if limit.value <= 0:
            continue
        per_month = limit.counting_mode == PlanLimit.CountingMode.PER_MONTH
        if limit.key == "seats":
            used = seats
        elif limit.key in LIMIT_FEATURES:
            feature = features.get(LIMIT_FEATURES[limit.key], {})
            used = feature.get("month" if per_month else "total") or 0
        elif per_month:
            used = sum(float(d.usage.get(limit.key) or 0) for d in days if d.day >= month_start)
        else:
            used = totals.get(limit.key) or 0
        pct = used * 100.0 / limit.value
        hit_recently = any(d.limit_hits.get(limit.key) for d in days if d.day > recent)
        if hit_recently:
            pct = max(pct, 100.0)
        rows.append(
            {
                "key": limit.key,
                "label": limit.label,
                "limit": limit.value,
                "used": used,
                "pct": round(pct, 1),
                "bar": min(round(pct), 100),
                "high": pct >= USAGE_HIGH_PCT,
                "mode": limit.get_counting_mode_display(),
                "hit_recently": hit_recently,
            }
        )
    return rows


def _usage(account: Account, *, today: date, days: list[AccountDay]) -> dict:
    _facts, signals = signals_compute(scope=Scope((account.pk,)), as_of=today)
    signal = signals.get(account.pk, {})
    since_30 = today - timedelta(days=30)
    month_start = today.replace(day=1)
    features = {
        row["feature_key"]: row
        for row in AccountFeatureDay.objects.filter(account=account, day__lte=today)
        .values("feature_key")
        .annotate(
            total=Sum("events"),
            events_30=Sum("events", filter=Q(day__gt=since_30)),
            month=Sum("events", filter=Q(day__gte=month_start)),
            first=Min("day"),
            last=Max("day"),
        )
        .order_by()
    }
    plan_entries = list(
        TrackingPlanEntry.objects.filter(
            Q(category=TrackingPlanEntry.Category.FEATURE, flag__in=["core", "integration"])
            | Q(category=TrackingPlanEntry.Category.MILESTONE)
        )
        .order_by("pk")
        .values("name", "category", "key", "flag", "description")
    )
    core, integration_keys = {}, set()
    for entry in plan_entries:
        if entry["category"] != TrackingPlanEntry.Category.FEATURE:
            continue
        if entry["flag"] == "core":
            core.setdefault(entry["key"], entry)
        else:
            integration_keys.add(entry["key"])
    core_rows = []
    for key, entry in sorted(core.items()):
        used = features.get(key, {})
        core_rows.append(
            {
                "key": key,
                "name": entry["name"],
                "description": entry["description"],
                "events_30": used.get("events_30") or 0,
                "last": used.get("last"),
                "used": bool(used.get("events_30")),
            }
        )
    integrations = []
    for key, row in sorted(features.items()):
        base, _, name = key.partition(":")
        if base in integration_keys:
            integrations.append(
                {"name": name or "unnamed integration", "first": row["first"], "last": row["last"]}
            )
    departments = list(
        AccountUserDay.objects.filter(account=account, day__gt=since_30, day__lte=today)
        .exclude(user__department="")
        .values("user__department")
        .annotate(users=Count("user_id", distinct=True))
        .order_by("-users", "user__department")
        .values_list("user__department", "users")
    )
    seats = ProductUser.objects.filter(account=account).count()
    limit_hits: dict[str, dict] = {}
    for day in days:
        for key, hits in (day.limit_hits or {}).items():
            row = limit_hits.setdefault(key, {"key": key, "hits": 0, "first": day.day})
            row["hits"] += int(hits or 0)
            row["last"] = day.day
    limits = _limits(account, today=today, days=days, features=features, seats=seats)
    labels = {limit["key"]: limit["label"] for limit in limits}
    for row in limit_hits.values():
        row["label"] = labels.get(row["key"], row["key"].replace("_", " ").capitalize())
    since = timezone.now() - timedelta(days=PAYWALL_DAYS)
    paywall = [
        {**row, "feature": row["key"].replace("-", " ").replace("_", " ") or "unnamed feature"}
        for row in Event.objects.filter(
            account=account, category="paywall_hit", timestamp__gte=since
        )
        .values("key")
        .annotate(hits=Count("id"), users=Count("user_id", distinct=True), last=Max("timestamp"))
        .order_by("-hits", "key")
    ]
    return {
        "signals": signal,
        "active_users_7": signal.get("active_users_7", 0),
        "active_users_30": signal.get("active_users_30", 0),
        "departments": [{"name": n, "users": u} for n, u in departments],
        "core_features": core_rows,
        "core_used": sum(1 for row in core_rows if row["used"]),
        "integrations": integrations,
        "limits": limits,
        "usage_pct": signal.get("usage_pct", 0),
        "limit_hits": sorted(limit_hits.values(), key=lambda r: r["last"], reverse=True),
        "paywall": paywall,
        "paywall_days": PAYWALL_DAYS,
        "seats": seats,
        "milestone_entries": [e for e in plan_entries if e["category"] == "milestone"],
    }


def _milestones(account: Account, entries: list[dict] | None = None) -> dict:
    """Every tracking-plan milestone with the first time the account reached it."""
    if entries is None:
        entries = list(
            TrackingPlanEntry.objects.filter(category=TrackingPlanEntry.Category.MILESTONE)
            .order_by("pk")
            .values("name", "category", "key", "flag", "description")
        )
    reached = dict(
        Event.objects.filter(account=account, category=TrackingPlanEntry.Category.MILESTONE)
        .values("key")
        .annotate(first=Min("timestamp"))
        .order_by()
        .values_list("key", "first")
    )
    rows, seen = [], set()
    for entry in entries:
        if entry["key"] in seen:
            continue
        seen.add(entry["key"])
        rows.append(
            {
                "key": entry["key"],
                "name": entry["name"],
                "description": entry["description"],
                "activation": entry["flag"] == TrackingPlanEntry.Flag.ACTIVATION,
                "reached_at": reached.get(entry["key"]),
            }
        )
    rows.sort(key=lambda r: (r["reached_at"] is None, r["reached_at"] or 0, r["name"]))
    activation = [r for r in rows if r["activation"]]
    activated = [r["reached_at"] for r in activation if r["reached_at"]]
    return {
        "rows": rows,
        "reached": sum(1 for r in rows if r["reached_at"]),
        "activation_defined": bool(activation),
        "activated_at": min(activated) if activated else None,
        "activated_by": next(
            (r["name"] for r in activation if activated and r["reached_at"] == min(activated)),
            "",
        ),
    }


def _trend(account: Account, *, today: date, days: list[AccountDay]) -> dict:
    first = max(today - timedelta(days=TREND_DAYS - 1), timezone.localdate(account.created_at))
    first = min(first, today)
    by_day = {d.day: d for d in days}
    span = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    active = [by_day[d].active_users if d in by_day else 0 for d in span]
    events = [by_day[d].events if d in by_day else 0 for d in span]
    trend: Trend = usage_trend(active)
    return {"days": span, "active_users": active, "events": events, "trend": trend}


# --- score ---------------------------------------------------------------------------------


def _score(account: Account) -> dict | None:
    score = AccountScore.objects.select_related("rule_set").filter(account=account).first()
    if score is None:
        return None
    rule_set = score.rule_set
    points = {c.get("rule"): c for c in score.contributions}
    rules = []
    for spec in rule_specs(rule_set):
        contribution = points.pop(spec.id, None)
        signal = SIGNALS_BY_NAME.get(spec.signal)
        rules.append(
            {
                "label": spec.label or (signal.label if signal else spec.signal),
                "condition": rule_condition(spec),
                "dimension": spec.dimension,
                "value": score.signals.get(spec.signal),
                "unit": signal.unit if signal else "",
                "rule_points": spec.points,
                "points": contribution["points"] if contribution else 0,
                "reason": contribution["reason"] if contribution else "",
                "matched": contribution is not None,
            }
        )
    for contribution in points.values():  # rules since removed from the set
        rules.append(
            {
                "label": contribution.get("reason", contribution.get("signal", "")),
                "condition": "",
                "dimension": contribution.get("dimension", ""),
                "value": contribution.get("value"),
                "unit": "",
                "rule_points": contribution.get("points", 0),
                "points": contribution.get("points", 0),
                "reason": contribution.get("reason", ""),
                "matched": True,
            }
        )
    rules.sort(key=lambda r: (not r["matched"], -abs(r["points"]), r["label"]))
    high_value = score.value >= rule_set.value_cutoff
    high_engagement = score.engagement >= rule_set.engagement_cutoff
    cell = {
        (True, True): "high value × high engagement: a PQL",
        (True, False): "high value × low engagement: nurture",
        (False, True): "low value × high engagement: a self-serve hero",
        (False, False): "low value × low engagement: self-serve",
    }[(high_value, high_engagement)]
    history = [
        {**row, "route_label": Route(row["route"]).label}
        for row in reversed(
            ScoreHistory.objects.filter(account=account)
            .order_by("-at", "-pk")
            .values("at", "score", "value", "engagement", "route")[:SCORE_HISTORY_ROWS]
        )
    ]
    return {
        "score": score.score,
        "value": score.value,
        "engagement": score.engagement,
        "value_points": rule_set.value_points,
        "engagement_points": rule_set.engagement_points,
        "value_cutoff": rule_set.value_cutoff,
        "engagement_cutoff": rule_set.engagement_cutoff,
        "ae_threshold": rule_set.ae_threshold,
        "sdr_threshold": rule_set.sdr_threshold,
        "high_value": high_value,
        "high_engagement": high_engagement,
        "cell": cell,
        "route": score.route,
        "route_label": score.get_route_display(),
        "route_reason": score.route_reason,
        "route_help": ROUTE_HELP.get(score.route, ""),
        "cooldown_until": score.cooldown_until,
        "rule_set": str(rule_set),
        "scored_at": score.scored_at,
        "rules": rules,
        "history": history,
    }


# --- touch log, timeline -----------------------------------------------------------------


def _item_dict(item: QueueItem) -> dict:
    return {
        "id": item.pk,
        "route": item.route,
        "route_label": item.get_route_display(),
        "state": item.state,
        "state_label": item.get_state_display(),
        "active": item.is_active,
        "score": item.score,
        "reasons": item.reasons,
        "route_reason": item.route_reason,
        "created_at": item.created_at,
        "due_at": item.due_at,
        "claimed_by": _display(item.claimed_by),
        "claimed_at": item.claimed_at,
        "first_touch_at": item.first_touch_at,
        "responded_at": item.responded_at,
        "closed_at": item.closed_at,
        "close_reason": item.close_reason,
        "closed_by": _display(item.closed_by),
        "missing_buyer": item.missing_buyer,
        "note": item.note,
    }


def _touches(items: list[QueueItem]) -> list[Touch]:
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
        touches = _touches([item])
    now = timezone.now()
    rows = [
        {
            "id": t.pk,
            "at": t.at,
            "channel": t.get_channel_display(),
            "person": t.person,
            "note": t.note,
            "by": _display(t.by),
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
        "item": _item_dict(item),
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


def _event(at: datetime, kind: str, label: str, detail: str = "") -> dict:
    return {"at": at, "kind": kind, "label": label, "detail": detail}


def _timeline(
    account: Account, *, items: list[QueueItem], touches: list[Touch], milestones: dict
) -> list[dict]:
    """Signup, activation, milestones, PQLs, touches and responses, checkout, deals and
    outcomes, oldest first."""
    events = [_event(account.created_at, "signup", "Signed up")]
    if activated := milestones["activated_at"]:
        events.append(_event(activated, "activation", "Activated", milestones["activated_by"]))
    events += [
        _event(row["reached_at"], "milestone", f"Milestone: {row['name']}", row["description"])
        for row in milestones["rows"]
        if row["reached_at"]
    ]
    for item in items:
        route = item.get_route_display()
        if item.route in (Route.AE, Route.SDR):
            label = f"PQL — routed to {route} (score {item.score})"
        else:  # inbound and expansion items are not PQLs (DESIGN.md "Decisions")
            label = f"{route} queue item opened (score {item.score})"
        events.append(_event(item.created_at, "pql", label, item.route_reason))
        if item.closed_at:
            label = f"Outcome: {item.get_state_display()}"
            events.append(_event(item.closed_at, "outcome", label, item.close_reason))
    for touch in touches:
        label = f"Touch by {touch.get_channel_display().lower()} — {touch.person}"
        detail = _display(touch.by) + (f": {touch.note}" if touch.note else "")
        events.append(_event(touch.at, "touch", label, detail))
        if touch.response_at:
            label = f"Response from {touch.person}"
            events.append(_event(touch.response_at, "response", label, touch.response_note))
    if account.checkout_started_at:
        events.append(_event(account.checkout_started_at, "checkout", "Checkout started"))
    if account.checkout_completed_at:
        events.append(_event(account.checkout_completed_at, "checkout", "Checkout completed"))
    for deal in Deal.objects.filter(account=account).order_by("opened_at", "pk"):
        name = deal.name or f"{deal.get_source_display()} deal"
        detail = f"{deal.get_motion_display()} · source: {deal.get_source_display()}"
        events.append(_event(deal.opened_at, "deal", f"Deal opened: {name}", detail))
        if deal.closed_at:
            won = deal.stage == Deal.Stage.WON
            detail = f"${deal.arr:,.0f} ARR {deal.currency}" if won else deal.lost_reason
            label = f"Deal {deal.get_stage_display().lower()}: {name}"
            events.append(_event(deal.closed_at, "deal", label, detail))
    events.sort(key=lambda e: e["at"])
    return events


def timeline_get(*, scope: DossierScope) -> list[dict]:
    """The timeline alone, after an action changed it (four queries)."""
    return _timeline(
        scope.account,
        items=scope.items,
        touches=_touches(scope.items),
        milestones=_milestones(scope.account),
    )


# --- people ----------------------------------------------------------------------------------


def people_get(*, scope: DossierScope, users_total: int | None = None) -> dict:
    """Likely buyers first, each with why (the active item's stored buyers and any contact
    added since; else computed now), then the other users, most recently seen first,
    with what they did in the last 30 days."""
    account, item = scope.account, scope.item
    active = item if item is not None and item.is_active else None
    if active is not None:
        buyers = [dict(b) for b in active.buyers]
        listed = {b.get("contact_id") for b in buyers if b.get("contact_id")}
        for contact in Contact.objects.filter(account=account).exclude(pk__in=listed):
            if contact.product_user_id and any(
                b.get("product_user_id") == contact.product_user_id for b in buyers
            ):
                continue
            buyers.append(
                {
                    "name": contact.name,
                    "email": contact.email,
                    "title": contact.title,
                    "product_user_id": contact.product_user_id,
                    "contact_id": contact.pk,
                    "reasons": [f"known contact ({contact.get_source_display().lower()})"],
                }
            )
    else:
        buyers = [b.as_dict() for b in likely_buyers(account_id=account.pk)]
    buyer_users = [b["product_user_id"] for b in buyers if b.get("product_user_id")]
    users = list(
        ProductUser.objects.filter(account=account)
        .exclude(pk__in=buyer_users)
        .order_by("-last_seen_at", "pk")[:USERS_SHOWN]
    )
    if buyer_users:
        users += list(ProductUser.objects.filter(account=account, pk__in=buyer_users))
    total = (
        users_total
        if users_total is not None
        else ProductUser.objects.filter(account=account).count()
    )
    since = timezone.now() - timedelta(days=USER_EVENTS_DAYS)
    top: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if users:
        for user_id, name, n in (
            Event.objects.filter(
                account=account,
                user_id__in=[u.pk for u in users],
                timestamp__gte=since,
                type__in=ACTION_TYPES,
            )
            .exclude(name="")
            .values("user_id", "name")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("user_id", "name", "n")
        ):
            top[user_id].append((name, n))
    for events in top.values():
        events.sort(key=lambda e: (-e[1], e[0]))

    def person(u: ProductUser) -> dict:
        return {
            "id": u.pk,
            "name": u.name,
            "email": u.email,
            "title": u.title,
            "department": u.department,
            "is_admin": u.is_admin,
            "first_seen_at": u.first_seen_at,
            "last_seen_at": u.last_seen_at,
            "events": sum(n for _name, n in top.get(u.pk, [])),
            "top_events": top.get(u.pk, [])[:TOP_EVENTS],
        }

    by_id = {u.pk: person(u) for u in users}
    for buyer in buyers:
        buyer["user"] = by_id.get(buyer.get("product_user_id"))
        buyer["used_product"] = buyer["user"] is not None
    others = [by_id[u.pk] for u in users if u.pk not in set(buyer_users)]
    return {
        "buyers": buyers,
        "missing_buyer": not buyers,
        "users": others,
        "users_total": total,
        "users_hidden": max(total - len(others) - len(buyer_users), 0),
        "user_events_days": USER_EVENTS_DAYS,
        "can_add_contact": not scope.read_only,
        "can_hand_to_marketing": scope.can_act and not buyers,
        "item": _item_dict(item) if item else None,
    }


# --- play ------------------------------------------------------------------------------------


def _play(account: Account, user: User) -> dict | None:
    """The recommended play and its filled first message; a failure shows as a notice,
    never breaks the dossier."""
    try:
        filled = play_message_for(account_id=account.pk, rep=user)
    except Exception:  # the dossier must open even when playbooks fails
        logger.exception("play message for account %s failed", account.pk)
        return {"failed": True}
    if filled is None:
        return None
    return {
        "failed": False,
        "name": filled.play.name,
        "situation": filled.play.situation,
        "approach": filled.play.approach,
        "matched": list(filled.matched),
        "text": filled.text,
        "error": filled.error,
    }


# --- the whole page ---------------------------------------------------------------------------


def dossier_get(*, user: User, account_id: int, today: date | None = None) -> dict:
    """Every section of the dossier (DossierNotFound when the user may not open it)."""
    scope = dossier_scope(user=user, account_id=account_id)
    account = scope.account
    today = today or timezone.now().date()
    days = list(
        AccountDay.objects.filter(
            account=account, day__gt=today - timedelta(days=TREND_DAYS), day__lte=today
        ).order_by("day")
    )
    usage = _usage(account, today=today, days=days)
    milestones = _milestones(account, usage.pop("milestone_entries"))
    touches = _touches(scope.items)
    return {
        "scope": scope,
        "overview": _overview(account),
        "usage": usage,
        "milestones": milestones,
        "trend": _trend(account, today=today, days=days),
        "score": _score(account),
        "timeline": _timeline(account, items=scope.items, touches=touches, milestones=milestones),
        "people": people_get(scope=scope, users_total=usage["seats"]),
        "play": _play(account, user),
        "touch_log": touch_log_get(scope=scope, touches=touches),
        "items": [_item_dict(i) for i in scope.items],
    }


def item_in_scope(scope: DossierScope, item_id: int) -> QueueItem | None:
    """One of the account's items, as the scope read it."""
    return next((i for i in scope.items if i.pk == item_id), None)


def touch_in_scope(scope: DossierScope, touch_id: int) -> Touch | None:
    """A touch of the account's current item."""
    if scope.item is None:
        return None
    return Touch.objects.filter(pk=touch_id, item=scope.item).first()
