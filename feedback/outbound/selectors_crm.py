"""The CRM sync's account-level usage snapshot (seed 001: product data in the CRM,
ideally daily), with Salesforce-style field names (docs/outbound.md).

Read set-based, a fixed number of aggregate queries per batch of accounts over the
daily rollups: the account with its score and owner; distinct active users over 7 and
30 days; features used over 30 days; and the sums the usage trend's least-squares line
needs over the last 90 days.

Usage trend: the dossier's rule (dossiers/charts.py, which no app imports: DESIGN.md),
computed here from two SQL sums instead of the daily series. A line is fitted to the
daily active users over the last 90 days (from the signup day when later; days without
a rollup row count as 0); its slope relative to the mean decides: ≥ +0.5 % a day
growing, ≤ −0.5 % declining, else stable; under 14 days of history "too_early", no
active user "no_activity".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DateField,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import TruncDate

from accounts.models import Account, AccountDay, AccountFeatureDay, AccountUserDay
from scoring.models import QueueItem

TREND_DAYS = 90
TREND_MIN_DAYS = 14
TREND_THRESHOLD_PCT_PER_DAY = 0.5
GROWING, STABLE, DECLINING = "growing", "stable", "declining"
TOO_EARLY, NO_ACTIVITY = "too_early", "no_activity"


@dataclass(frozen=True)
class CrmField:
    name: str
    meaning: str


CRM_FIELDS = (
    CrmField("PLS_Account_Id__c", "The portal's account id: the external id to upsert on."),
    CrmField("Name", "Company name."),
    CrmField("Website", "Primary domain."),
    CrmField("PLS_Plan__c", "Current plan key (free, trial, team, …); blank when none."),
    CrmField("PLS_Status__c", "free, trial, paid or churned."),
    CrmField("PLS_Active_Users_7d__c", "Distinct users active in the last 7 days."),
    CrmField("PLS_Active_Users_30d__c", "Distinct users active in the last 30 days."),
    CrmField(
        "PLS_Features_Used_30d__c", "Distinct tracking-plan features used in the last 30 days."
    ),
    CrmField(
        "PLS_Features_List__c", "Those features' keys, ';'-separated (a multi-select picklist)."
    ),
    CrmField(
        "PLS_Usage_Trend__c", "growing, stable, declining, too_early or no_activity (90 days)."
    ),
    CrmField("PLS_Usage_Trend_Pct__c", "The fitted slope as % of mean daily active users a day."),
    CrmField(
        "PLS_Last_Active_Date__c",
        "Last day with events in the last 90 days (UTC); blank when none.",
    ),
    CrmField("PLS_Score__c", "0–100; blank when never scored."),
    CrmField("PLS_Value_Score__c", "Value (deal potential) points."),
    CrmField("PLS_Engagement_Score__c", "Engagement points."),
    CrmField(
        "PLS_Route__c",
        "ae, sdr, inbound, expansion, nurture, self_serve, self_serve_hero, held or not_routed.",
    ),
    CrmField("PLS_Route_Reason__c", "Why, in words."),
    CrmField("PLS_Queue_State__c", "State of the account's latest queue item; blank when none."),
    CrmField("PLS_ARR_Potential__c", "Estimated ARR potential in the portal's currency."),
    CrmField("PLS_Owner_Email__c", "Email of the account's owner (last won sales deal)."),
    CrmField("PLS_Scored_At__c", "When the score or route last changed (UTC, ISO 8601)."),
    CrmField("PLS_Synced_At__c", "When this snapshot was taken (UTC, ISO 8601)."),
)
CRM_FIELD_NAMES = tuple(f.name for f in CRM_FIELDS)


class DaysSince(Func):
    """Whole days from ``reference`` to a date column, in SQL (SQLite and PostgreSQL)."""

    output_field = IntegerField()

    def __init__(self, expression, reference: date):
        super().__init__(expression, Value(reference, output_field=DateField()))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" - ", **extra
        )


@dataclass(frozen=True)
class TrendSums:
    days: int  # days the line is fitted over
    sum_y: float  # Σ active users
    sum_xy: float  # Σ day index × active users, index 0 = first day


def trend_verdict(sums: TrendSums) -> tuple[str, float]:
    """(verdict, slope as % of the mean a day) — the dossier's rule, from sums."""
    n = sums.days
    if n < TREND_MIN_DAYS:
        return TOO_EARLY, 0.0
    mean = sums.sum_y / n
    if mean == 0:
        return NO_ACTIVITY, 0.0
    x_mean = (n - 1) / 2
    sxx = n * (n * n - 1) / 12  # Σ (x − x̄)² for x = 0 … n−1
    slope = (sums.sum_xy - x_mean * sums.sum_y) / sxx
    pct = slope * 100.0 / mean
    if pct >= TREND_THRESHOLD_PCT_PER_DAY:
        return GROWING, pct
    if pct <= -TREND_THRESHOLD_PCT_PER_DAY:
        return DECLINING, pct
    return STABLE, pct


def crm_changed_account_ids(*, since: datetime | None) -> list[int]:
    """Accounts (merged-away ones left out) whose usage, score row or own fields changed
    after ``since``; every account when None."""
    accounts: QuerySet[Account] = Account.objects.filter(merged_into__isnull=True)
    if since is not None:
        accounts = accounts.filter(
            Q(usage_changed_at__gt=since) | Q(score__changed_at__gt=since) | Q(updated_at__gt=since)
        )
    return list(accounts.order_by("id").values_list("id", flat=True))


def _number(value) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def crm_snapshot(*, account_ids: list[int], today: date, synced_at: datetime) -> list[dict]:
    """One record per account (CRM_FIELDS keys, in id order), in four queries."""
    latest_state = (
        QueueItem.objects.filter(account_id=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("state")[:1]
    )
    accounts = (
        Account.objects.filter(pk__in=account_ids)
        .annotate(queue_state=Subquery(latest_state))
        .values(
            "pk", "name", "domain", "plan__key", "status", "arr_potential", "owner__email",
            "created_at", "score__score", "score__value", "score__engagement", "score__route",
            "score__route_reason", "score__scored_at", "queue_state",
        )
        .order_by("pk")
    )  # fmt: skip
    week, month = today - timedelta(days=6), today - timedelta(days=29)
    users = {
        row["account_id"]: row
        for row in AccountUserDay.objects.filter(
            account_id__in=account_ids, day__gte=month, day__lte=today
        )
        .values("account_id")
        .annotate(
            u30=Count("user_id", distinct=True),
            u7=Count("user_id", distinct=True, filter=Q(day__gte=week)),
        )
        .order_by()
    }
    features: dict[int, list[str]] = defaultdict(list)
    for account_id, key in (
        AccountFeatureDay.objects.filter(
            account_id__in=account_ids, day__gte=month, day__lte=today, events__gt=0
        )
        .values_list("account_id", "feature_key")
        .distinct()
        .order_by("account_id", "feature_key")
    ):
        features[account_id].append(key)
    window_start = today - timedelta(days=TREND_DAYS - 1)
    trend_rows = _trend_rows(account_ids, window_start, today)
    records = []
    for row in accounts:
        account_id = row["pk"]
        first = min(max(window_start, row["created_at"].date()), today)
        trend = trend_rows.get(account_id, {})
        shift = (first - window_start).days
        sum_y = float(trend.get("sum_y") or 0)
        sum_xy = float(trend.get("sum_xy") or 0) - shift * sum_y
        verdict, pct = trend_verdict(
            TrendSums(days=(today - first).days + 1, sum_y=sum_y, sum_xy=sum_xy)
        )
        used = features.get(account_id, [])
        active = users.get(account_id, {})
        last_active = trend.get("last_active")
        scored_at = row["score__scored_at"]
        records.append(
            {
                "PLS_Account_Id__c": account_id,
                "Name": row["name"],
                "Website": row["domain"],
                "PLS_Plan__c": row["plan__key"] or "",
                "PLS_Status__c": row["status"],
                "PLS_Active_Users_7d__c": active.get("u7", 0),
                "PLS_Active_Users_30d__c": active.get("u30", 0),
                "PLS_Features_Used_30d__c": len(used),
                "PLS_Features_List__c": ";".join(used),
                "PLS_Usage_Trend__c": verdict,
                "PLS_Usage_Trend_Pct__c": round(pct, 2),
                "PLS_Last_Active_Date__c": last_active.isoformat() if last_active else None,
                "PLS_Score__c": row["score__score"],
                "PLS_Value_Score__c": row["score__value"],
                "PLS_Engagement_Score__c": row["score__engagement"],
                "PLS_Route__c": row["score__route"] or "",
                "PLS_Route_Reason__c": row["score__route_reason"] or "",
                "PLS_Queue_State__c": row["queue_state"] or "",
                "PLS_ARR_Potential__c": _number(row["arr_potential"]),
                "PLS_Owner_Email__c": row["owner__email"] or "",
                "PLS_Scored_At__c": scored_at.isoformat() if scored_at else None,
                "PLS_Synced_At__c": synced_at.isoformat(),
            }
        )
    return records


def _trend_rows(account_ids: list[int], window_start: date, today: date) -> dict[int, dict]:
    """Σ active users, Σ (days since window start × active users) and the last active
    day, per account, over its rows in the window from its signup day."""
    rows = (
        AccountDay.objects.filter(account_id__in=account_ids, day__gte=window_start, day__lte=today)
        .filter(day__gte=TruncDate("account__created_at"))
        .values("account_id")
        .annotate(
            sum_y=Sum("active_users"),
            sum_xy=Sum(DaysSince("day", window_start) * F("active_users")),
            last_active=Max("day", filter=Q(events__gt=0)),
        )
        .order_by()
    )
    return {row["account_id"]: row for row in rows}
