"""Product usage: active users, departments, core features, integrations, each plan limit
against its use, limits hit and paywalls; the milestones reached; the 90-day trend."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, FloatField, Max, Min, Q, Subquery, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.models import (
    Account,
    AccountDay,
    AccountFeatureDay,
    AccountUserDay,
    Event,
    Plan,
    PlanLimit,
    ProductUser,
    TrackingPlanEntry,
)
from dossiers.charts import TREND_DAYS, Trend, usage_trend
from scoring.signals import LIMIT_FEATURES

USAGE_HIGH_PCT = 80  # a limit used this much is highlighted (seed 003: 80 %+ of a limit)
LIMIT_HIT_RECENT_DAYS = 14  # a limit hit this recently counts as 100 % (scoring.signals)
PAYWALL_DAYS = 90


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


def usage_get(*, account: Account, today: date, days: list[AccountDay]) -> dict:
    """Usage as of ``today``, given the account's rollup ``days`` of the trend window. Also
    the tracking plan's milestones as ``milestone_entries``, for ``milestones_get``."""
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
    # Active users by department (each user is in one, maybe ""), so their sums are the
    # account's active users, counted as ``scoring.signals`` counts them (any user-day in
    # the window): for this one account only, as the whole signal computation of the
    # account cost more than the rest of the page. The users' own account too: it lets
    # PostgreSQL read the account's users by index instead of hashing every user.
    by_department = list(
        AccountUserDay.objects.filter(
            account=account, user__account=account, day__gt=since_30, day__lte=today
        )
        .values("user__department")
        .annotate(
            users=Count("user_id", distinct=True),
            users_7=Count("user_id", distinct=True, filter=Q(day__gt=today - timedelta(days=7))),
        )
        .order_by("-users", "user__department")
        .values_list("user__department", "users", "users_7")
    )
    departments = [(name, users) for name, users, _users_7 in by_department if name]
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
        "active_users_7": sum(users_7 for _name, _users, users_7 in by_department),
        "active_users_30": sum(users for _name, users, _users_7 in by_department),
        "departments": [{"name": n, "users": u} for n, u in departments],
        "core_features": core_rows,
        "core_used": sum(1 for row in core_rows if row["used"]),
        "integrations": integrations,
        "limits": limits,
        # The most used limit, as ``scoring.signals`` reports it (``usage_pct``).
        "usage_pct": max((limit["pct"] for limit in limits), default=0),
        "limit_hits": sorted(limit_hits.values(), key=lambda r: r["last"], reverse=True),
        "paywall": paywall,
        "paywall_days": PAYWALL_DAYS,
        "seats": seats,
        "milestone_entries": [e for e in plan_entries if e["category"] == "milestone"],
    }


def milestones_get(*, account: Account, entries: list[dict] | None = None) -> dict:
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


def trend_get(*, account: Account, today: date, days: list[AccountDay]) -> dict:
    """Daily active users and events since signup (at most the trend window), and the
    fitted trend of the active users."""
    first = max(today - timedelta(days=TREND_DAYS - 1), timezone.localdate(account.created_at))
    first = min(first, today)
    by_day = {d.day: d for d in days}
    span = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    active = [by_day[d].active_users if d in by_day else 0 for d in span]
    events = [by_day[d].events if d in by_day else 0 for d in span]
    trend: Trend = usage_trend(active)
    return {"days": span, "active_users": active, "events": events, "trend": trend}
