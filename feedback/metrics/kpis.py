"""PM KPIs: free-to-paid, package mix, the self-serve ceiling and the activation rate."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from django.db.models import Case, Count, Exists, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import TruncMonth

from accounts.models import Account, Deal, Event, TrackingPlanEntry
from feedback.metrics.base import (
    INFO,
    NEW_BUSINESS,
    NONE,
    NOT_ENOUGH,
    SELF_SERVE,
    WON,
    Category,
    Chart,
    Metric,
    Part,
    Series,
    Verdict,
    fmt_money,
    fmt_pct,
    group_by_month,
    month_of,
    pct,
    plural,
    whole_mean,
)
from feedback.metrics.verdicts import (
    activation_verdict,
    ceiling_verdict,
    freemium_verdict,
    trial_verdict,
)
from feedback.metrics.window import Window

TRIAL_KEY = "trial_started"  # the default tracking plan's "Trial Started" milestone


def free_to_paid_metric(window: Window, currency: str) -> Metric:
    start, end = window.start_at, window.end_at
    first_win = Deal.objects.filter(
        account=OuterRef("pk"), stage=WON, change=Deal.Change.NEW, arr__gt=0
    ).order_by("closed_at", "pk")
    trial = (
        Q(status=Account.Status.TRIAL)
        | Q(plan__is_trial=True)
        | Exists(
            Event.objects.filter(
                account=OuterRef("pk"),
                category=Category.MILESTONE,
                key=TRIAL_KEY,
                timestamp__lt=end,
            )
        )
    )
    rows = list(
        Account.objects.filter(merged_into__isnull=True, created_at__lt=end)
        .annotate(
            converted_at=Subquery(first_win.values("closed_at")[:1]),
            converted_currency=Subquery(first_win.values("currency")[:1]),
        )
        .filter(
            Q(converted_at__isnull=True, status__in=(Account.Status.FREE, Account.Status.TRIAL))
            | Q(converted_at__gte=start, converted_currency=currency)
        )
        .annotate(
            trial=Case(When(trial, then=Value(True)), default=Value(False)),
            converted=Case(When(converted_at__lt=end, then=Value(True)), default=Value(False)),
            created_month=TruncMonth("created_at", tzinfo=UTC),
            converted_month=TruncMonth("converted_at", tzinfo=UTC),
        )
        .values("trial", "converted", "created_month", "converted_month")
        .annotate(n=Count("pk"))
        .order_by()
    )
    first_month = window.months[0]

    def rate(is_trial: bool, month: date | None = None) -> tuple[float | None, int, int]:
        pool = converted = 0
        for r in rows:
            if r["trial"] != is_trial:
                continue
            conv = month_of(r["converted_month"]) if r["converted"] else None
            if month is not None:
                if max(month_of(r["created_month"]), first_month) > month:
                    continue
                if conv is not None and conv < month:
                    continue
            pool += r["n"]
            if conv is not None and (month is None or conv == month):
                converted += r["n"]
        return pct(converted, pool), converted, pool

    free_rate, free_conv, free_pool = rate(False)
    trial_rate, trial_conv, trial_pool = rate(True)
    return Metric(
        key="free_to_paid",
        title="Free-to-paid",
        band="freemium ≈5 %, trial 10–15 %",
        definition=(
            "Accounts that were free or on a trial during the window (not paying before it "
            "began) that won their first paid deal (either motion) in the window, ÷ those "
            "accounts; trial accounts (a “Trial Started” milestone or a trial plan) apart "
            "from freemium ones; an account whose first purchase is in another currency is "
            "left out. A month of the chart is that month's conversions ÷ the accounts still "
            "free then, so longer windows compare better with the benchmarks."
        ),
        source="seed 004",
        value=free_rate,
        display=fmt_pct(free_rate),
        detail=f"freemium: {free_conv} of {free_pool} accounts",
        verdict=freemium_verdict(free_rate),
        chart=Chart(
            "Converted to paid, % of free or trial accounts",
            [
                Series("freemium", [rate(False, m)[0] for m in window.months]),
                Series("trial", [rate(True, m)[0] for m in window.months]),
            ],
            unit="%",
        ),
        parts=[
            Part(
                "Freemium",
                fmt_pct(free_rate),
                f"{free_conv} of {free_pool} accounts",
                freemium_verdict(free_rate),
            ),
            Part(
                "Trial",
                fmt_pct(trial_rate),
                f"{trial_conv} of {trial_pool} accounts",
                trial_verdict(trial_rate),
            ),
        ],
        kpi=True,
    )


def package_mix_metric(window: Window, currency: str) -> Metric:
    rows = list(
        Deal.objects.filter(NEW_BUSINESS, stage=WON, currency=currency)
        .filter(closed_at__gte=window.start_at, closed_at__lt=window.end_at)
        .annotate(month=TruncMonth("closed_at", tzinfo=UTC))
        .values("month", "plan_id", "plan__name", "plan__position")
        .annotate(accounts=Count("account", distinct=True), arr=Sum("arr"))
        .order_by("plan__position", "plan__name")
    )
    plans: dict[int | None, dict] = {}
    for r in rows:
        plan = plans.setdefault(
            r["plan_id"],
            {"plan": r["plan__name"] or "No plan", "accounts": 0, "arr": Decimal(0), "by": {}},
        )
        # An account buys one new contract: summing monthly distinct counts is exact.
        plan["accounts"] += r["accounts"]
        plan["arr"] += r["arr"] or Decimal(0)
        month = month_of(r["month"])
        plan["by"][month] = plan["by"].get(month, Decimal(0)) + (r["arr"] or Decimal(0))
    total_arr = sum((p["arr"] for p in plans.values()), Decimal(0))
    total_accounts = sum(p["accounts"] for p in plans.values())
    table = [
        {
            "plan": p["plan"],
            "accounts": p["accounts"],
            "arr": fmt_money(p["arr"]),
            "share": fmt_pct(pct(p["arr"], total_arr)),
        }
        for p in plans.values()
    ]
    return Metric(
        key="package_mix",
        title="Package mix",
        band="trend, no band",
        definition=(
            "New paid accounts and their new ARR per plan: won new-business deals (either "
            "motion) closed in the window, by the deal's plan."
        ),
        source="seed 004",
        value=float(total_arr) if plans else None,
        display=f"{fmt_money(total_arr)} new ARR" if plans else "–",
        detail=f"{plural(total_accounts, 'new paid account')} on {plural(len(plans), 'plan')}",
        verdict=Verdict(INFO, "Trend, no band")
        if plans
        else Verdict(NONE, NOT_ENOUGH, "No new paid account in this window."),
        chart=Chart(
            "New ARR by plan",
            [
                Series(p["plan"], [float(p["by"].get(m, 0)) for m in window.months], "bar")
                for p in plans.values()
            ],
            stacked=True,
            unit="$",
        ),
        rows=table,
        rows_total=len(table),
        kpi=True,
    )


def ceiling_metric(months: list[date], won_rows: list[dict]) -> Metric:
    mine = [r for r in won_rows if r["motion"] == SELF_SERVE]
    by_month = group_by_month(mine)

    def monthly_mean(rows: list[dict]) -> Decimal | None:
        mean = whole_mean(sum((r["arr"] for r in rows), Decimal(0)), sum(r["n"] for r in rows))
        return None if mean is None else (mean / 12).quantize(Decimal("1"))

    value = monthly_mean(mine)
    count = sum(r["n"] for r in mine)
    return Metric(
        key="ceiling",
        title="Self-serve ceiling",
        band="trend; commonly plateaus at $500–2,000 a month",
        definition=(
            "Mean self-serve deal size (new purchases, upgrades and downgrades from "
            "checkout; refunds left out) closed in the window, as a monthly price (ARR ÷ 12), "
            "by month. Where it plateaus is the self-serve ceiling."
        ),
        source="seed 003",
        value=None if value is None else float(value),
        display="–" if value is None else f"{fmt_money(value)} a month",
        detail=f"{count} self-serve purchase{'s' if count != 1 else ''}",
        verdict=ceiling_verdict(value),
        chart=Chart(
            "Mean self-serve deal, $ a month",
            [
                Series(
                    "mean a month",
                    [
                        None if (v := monthly_mean(by_month.get(m, []))) is None else float(v)
                        for m in months
                    ],
                )
            ],
            band=(500, 2000),
            unit="$",
            band_label="common ceiling",
        ),
        kpi=True,
    )


def activation_metric(window: Window) -> Metric:
    keys = list(
        TrackingPlanEntry.objects.filter(
            category=Category.MILESTONE,
            flag=TrackingPlanEntry.Flag.ACTIVATION,
        )
        .exclude(key="")
        .values_list("key", flat=True)
        .distinct()
    )
    rows = []
    if keys:
        rows = list(
            Account.objects.filter(
                merged_into__isnull=True,
                created_at__gte=window.start_at,
                created_at__lt=window.end_at,
            )
            .annotate(
                activated=Exists(
                    Event.objects.filter(
                        account=OuterRef("pk"), category=Category.MILESTONE, key__in=keys
                    )
                ),
                month=TruncMonth("created_at", tzinfo=UTC),
            )
            .values("month")
            .annotate(n=Count("pk"), activated_n=Count("pk", filter=Q(activated=True)))
            .order_by()
        )
    per_month = {month_of(r["month"]): r for r in rows}
    total = sum(r["n"] for r in rows)
    activated = sum(r["activated_n"] for r in rows)
    value = pct(activated, total)
    return Metric(
        key="activation",
        title="Activation rate",
        band="trend, no band",
        definition=(
            "New accounts (created in the window) that reached an activation milestone "
            "(tracking-plan milestones flagged “Activation milestone”"
            + (f": {', '.join(sorted(keys))}" if keys else "")
            + ") by now, ÷ new accounts; by month of creation."
        ),
        source="seed 000",
        value=value,
        display=fmt_pct(value),
        detail=f"{activated} of {total} new accounts",
        verdict=activation_verdict(value, has_milestone=bool(keys)),
        chart=Chart(
            "Activated, % of new accounts",
            [
                Series(
                    "activated",
                    [
                        pct(per_month[m]["activated_n"], per_month[m]["n"])
                        if m in per_month
                        else None
                        for m in window.months
                    ],
                )
            ],
            unit="%",
        ),
        kpi=True,
    )
