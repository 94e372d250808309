"""PQL metrics: PQL-to-close at 30/60/90 days, time to close, and PQL volume against AE
capacity. All read the PQL queue items (routes AE and SDR) of the window."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DateTimeField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Deal
from feedback.metrics.base import (
    WON,
    Chart,
    Metric,
    Part,
    Series,
    fmt_days,
    fmt_pct,
    month_of,
    pct,
    ratio,
    round1,
)
from feedback.metrics.verdicts import (
    pql_to_close_verdict,
    pql_volume_verdict,
    time_to_close_verdict,
)
from feedback.metrics.window import Window
from pls_portal.models import RepType, Role, User
from scoring.models import PQL_ROUTES, QueueItem, RuleSet

PQL_HORIZONS = (30, 60, 90)
MONTH_DAYS = 30  # "a month" of PQL volume, so partial months compare
# A purchase that makes or grows an account's contract (refunds and downgrades do not).
WIN_CHANGES = (Deal.Change.NEW, Deal.Change.UPGRADE)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def pql_items_with_win(currency: str):
    """PQL items (routes ae/sdr) with the first winning Deal of their account inside the
    cycle: on or after the item's creation and before the account's next item, so one
    win is credited to one cycle."""
    next_item = (
        QueueItem.objects.filter(account=OuterRef("account"), created_at__gt=OuterRef("created_at"))
        .order_by("created_at")
        .values("created_at")[:1]
    )
    first_win = (
        Deal.objects.filter(
            account=OuterRef("account"),
            stage=WON,
            currency=currency,
            change__in=WIN_CHANGES,
            closed_at__gte=OuterRef("created_at"),
            closed_at__lt=OuterRef("cycle_end"),
        )
        .order_by("closed_at")
        .values("closed_at")[:1]
    )
    return (
        QueueItem.objects.filter(route__in=PQL_ROUTES)
        .annotate(
            cycle_end=Coalesce(Subquery(next_item), Value(FAR_FUTURE, output_field=DateTimeField()))
        )
        .annotate(first_win=Subquery(first_win))
    )


def pql_to_close_metric(window: Window, now: datetime, currency: str) -> dict:
    counts = {
        f"won{d}": Count("pk", filter=Q(first_win__lte=F("created_at") + timedelta(days=d)))
        for d in PQL_HORIZONS
    }
    young = {
        f"young{d}": Count("pk", filter=Q(created_at__gt=now - timedelta(days=d)))
        for d in PQL_HORIZONS
    }
    rows = list(
        pql_items_with_win(currency)
        .filter(created_at__gte=window.start_at, created_at__lt=window.end_at)
        .annotate(month=TruncMonth("created_at", tzinfo=UTC))
        .values("month")
        .annotate(n=Count("pk"), **counts, **young)
        .order_by()
    )
    per_month = {month_of(r["month"]): r for r in rows}
    total = sum(r["n"] for r in rows)
    parts, rates = [], {}
    for d in PQL_HORIZONS:
        won = sum(r[f"won{d}"] for r in rows)
        younger = sum(r[f"young{d}"] for r in rows)
        rates[d] = pct(won, total)
        detail = f"{won} of {total} PQL{'s' if total != 1 else ''}"
        if younger:
            detail += f"; {younger} younger than {d} days may still close"
        parts.append(Part(f"{d} days", fmt_pct(rates[d]), detail, pql_to_close_verdict(rates[d])))
    verdict = pql_to_close_verdict(rates[90])
    chart = Chart(
        "Closed won, % of the month's PQLs",
        [
            Series(
                f"within {d} days",
                [
                    pct(per_month[m][f"won{d}"], per_month[m]["n"]) if m in per_month else None
                    for m in window.months
                ],
            )
            for d in PQL_HORIZONS
        ],
        band=(15, 30),
        unit="%",
    )
    metric = Metric(
        key="pql_to_close",
        title="PQL-to-close",
        band="15–30 %; below 10 % rules too loose, above 40 % too tight",
        definition=(
            "Queue items routed to a rep as PQLs (routes AE and SDR) created in the window "
            "whose account won a deal (new business or upgrade) within 30, 60 and 90 days of "
            "the item's creation, ÷ those items. A win counts for the latest item before it "
            "(one cycle), never twice. Inbound and expansion items are left out. By month "
            "of the item's creation. The verdict reads the 90-day rate."
        ),
        source="seed 003",
        value=rates[90],
        display=fmt_pct(rates[90]),
        detail=parts[-1].detail,
        verdict=verdict,
        chart=chart,
        parts=parts,
        rules_lever=True,
    )
    return {"metric": metric, "per_month": per_month, "total": total}


def time_to_close_metric(window: Window, currency: str) -> Metric:
    rows = list(
        pql_items_with_win(currency)
        .filter(
            created_at__lt=window.end_at,
            first_win__gte=window.start_at,
            first_win__lt=window.end_at,
        )
        .values_list("created_at", "first_win")
    )
    days = [(won - created).total_seconds() / 86400 for created, won in rows]
    by_month: dict[date, list[float]] = defaultdict(list)
    for (_created, won), d in zip(rows, days, strict=True):
        by_month[month_of(won)].append(d)
    median = round1(Decimal(statistics.median(days))) if days else None
    mean = round1(Decimal(statistics.fmean(days))) if days else None
    return Metric(
        key="time_to_close",
        title="Time to close",
        band="14–30 days",
        definition=(
            "Days from the PQL trigger (the AE or SDR queue item's creation) to the won deal "
            "of that cycle, for PQLs won in the window; the verdict reads the median."
        ),
        source="seed 003",
        value=median,
        display=fmt_days(median),
        detail=f"median of {len(days)} won PQL{'s' if len(days) != 1 else ''}"
        + (f"; mean {fmt_days(mean)}" if mean is not None else ""),
        verdict=time_to_close_verdict(median),
        chart=Chart(
            "Median days, PQL to won",
            [
                Series(
                    "median days",
                    [
                        round1(Decimal(statistics.median(by_month[m]))) if by_month.get(m) else None
                        for m in window.months
                    ],
                )
            ],
            band=(14, 30),
            unit="days",
        ),
        parts=[Part("Median", fmt_days(median)), Part("Mean", fmt_days(mean))],
        rules_lever=True,
    )


def pql_volume_metric(window: Window, per_month: dict[date, dict], total: int) -> Metric:
    aes = User.objects.filter(role=Role.REP, rep_type=RepType.AE, is_active=True).count()
    capacity = (
        RuleSet.objects.filter(state=RuleSet.State.ACTIVE)
        .values_list("ae_weekly_capacity", flat=True)
        .first()
    ) or RuleSet._meta.get_field("ae_weekly_capacity").default
    per_ae_month = ratio(Decimal(total) * MONTH_DAYS, Decimal(aes) * window.days) if aes else None
    per_week = ratio(Decimal(total) * 7, window.days)
    per_ae_week = ratio(Decimal(total) * 7, Decimal(aes) * window.days) if aes else None
    series = [
        ratio(Decimal(per_month[m]["n"]) * MONTH_DAYS, Decimal(aes) * window.days_in(m))
        if aes and m in per_month
        else (0.0 if aes else None)
        for m in window.months
    ]
    return Metric(
        key="pql_volume",
        title="PQL volume against AE capacity",
        band="≈10 good PQLs a week; 30–50 a month fill one AE",
        definition=(
            "New PQL queue items (routes AE and SDR; inbound and expansion left out) created "
            "in the window, per week and per active AE per 30 days. The weekly capacity per "
            f"AE is the active rule set's setting (now {capacity}). Partial months are "
            "scaled to 30 days."
        ),
        source="seed 003",
        value=per_ae_month,
        display="–" if per_ae_month is None else f"{per_ae_month:.1f} a month per AE",
        detail=f"{total} new PQLs, {aes} active AE{'s' if aes != 1 else ''}",
        verdict=pql_volume_verdict(per_ae_month),
        chart=Chart(
            "New PQLs per AE per 30 days", [Series("per AE", series, "bar")], band=(30, 50)
        ),
        parts=[
            Part("Per week", "–" if per_week is None else f"{per_week:.1f}", "all AEs"),
            Part(
                "Per week per AE",
                "–" if per_ae_week is None else f"{per_ae_week:.1f}",
                f"capacity {capacity} a week",
            ),
        ],
        rules_lever=True,
    )
