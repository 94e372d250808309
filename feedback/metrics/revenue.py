"""Revenue metrics: the sales-assisted share of new revenue, deal size by motion, and the
pipeline that came from product."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Deal
from feedback.metrics.base import (
    SALES,
    SELF_SERVE,
    WON,
    Chart,
    Metric,
    Part,
    Series,
    fmt_money,
    fmt_pct,
    group_by_month,
    is_new_business,
    pct,
    plural,
    ratio,
    whole_mean,
)
from feedback.metrics.verdicts import deal_size_verdict, pipeline_verdict, sales_share_verdict
from feedback.metrics.window import Window


def sales_share_metric(months: list[date], won_rows: list[dict]) -> Metric:
    new = [r for r in won_rows if is_new_business(r)]
    by_month = group_by_month(new)

    def share(rows: list[dict]) -> tuple[float | None, Decimal, Decimal]:
        total = sum((r["arr"] for r in rows), Decimal(0))
        sales = sum((r["arr"] for r in rows if r["motion"] == SALES), Decimal(0))
        return pct(sales, total), sales, total

    value, sales, total = share(new)
    return Metric(
        key="sales_share",
        title="Sales-assisted share of new revenue",
        band="40–60 %; above 70 % sales may be cannibalising self-serve",
        definition=(
            "New ARR of won sales-assisted deals ÷ new ARR of all won deals, both motions, "
            "closed in the window. New business only: first purchases (deal change “new”); "
            "upgrades, downgrades, refunds and expansion deals are left out."
        ),
        source="seed 003",
        value=value,
        display=fmt_pct(value),
        detail=f"{fmt_money(sales)} sales-assisted of {fmt_money(total)} new ARR",
        verdict=sales_share_verdict(value),
        chart=Chart(
            "Sales-assisted, % of new ARR",
            [Series("sales-assisted share", [share(by_month.get(m, []))[0] for m in months])],
            band=(40, 60),
            unit="%",
        ),
        rules_lever=True,
    )


def deal_size_metric(months: list[date], won_rows: list[dict]) -> Metric:
    new = [r for r in won_rows if is_new_business(r)]
    by_month = group_by_month(new)

    def means(rows: list[dict]) -> dict[str, Decimal | None]:
        out = {}
        for motion in (SALES, SELF_SERVE):
            mine = [r for r in rows if r["motion"] == motion]
            out[motion] = whole_mean(
                sum((r["arr"] for r in mine), Decimal(0)), sum(r["n"] for r in mine)
            )
        return out

    overall = means(new)
    counts = {m: sum(r["n"] for r in new if r["motion"] == m) for m in (SALES, SELF_SERVE)}
    multiple = (
        ratio(overall[SALES], overall[SELF_SERVE])
        if overall[SALES] is not None and overall[SELF_SERVE]
        else None
    )
    monthly = {m: means(by_month.get(m, [])) for m in months}
    return Metric(
        key="deal_size",
        title="Deal size by motion",
        band="sales-assisted 3–5× self-serve",
        definition=(
            "Mean ARR of won new-business deals closed in the window, sales-assisted against "
            "self-serve, and how many times larger the sales-assisted mean is."
        ),
        source="seed 003",
        value=multiple,
        display="–" if multiple is None else f"{multiple:.1f}×",
        detail="",
        verdict=deal_size_verdict(multiple),
        chart=Chart(
            "Mean ARR of won new deals",
            [
                Series(
                    "sales-assisted",
                    [None if (v := monthly[m][SALES]) is None else float(v) for m in months],
                ),
                Series(
                    "self-serve",
                    [None if (v := monthly[m][SELF_SERVE]) is None else float(v) for m in months],
                ),
            ],
            unit="$",
        ),
        parts=[
            Part(
                "Sales-assisted",
                fmt_money(overall[SALES]),
                plural(counts[SALES], "deal"),
            ),
            Part(
                "Self-serve",
                fmt_money(overall[SELF_SERVE]),
                plural(counts[SELF_SERVE], "deal"),
            ),
        ],
        rules_lever=True,
    )


def pipeline_metric(window: Window, currency: str) -> Metric:
    # An open PQL deal has no amount until it closes: count it at the account's ARR
    # potential, as a CRM counts an opportunity at its expected amount.
    amount = Case(
        When(
            stage=Deal.Stage.OPEN,
            arr=0,
            then=Coalesce(
                F("account__arr_potential"),
                Value(Decimal(0), output_field=DecimalField(max_digits=14, decimal_places=2)),
            ),
        ),
        default=F("arr"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    rows = list(
        Deal.objects.filter(
            motion=SALES,
            stage__in=(Deal.Stage.OPEN, WON),
            currency=currency,
            opened_at__gte=window.start_at,
            opened_at__lt=window.end_at,
        )
        .annotate(month=TruncMonth("opened_at", tzinfo=UTC))
        .values("month", "source")
        .annotate(n=Count("pk"), amount=Sum(amount))
        .order_by()
    )
    by_month = group_by_month(rows)

    def share(rows: list[dict]) -> float | None:
        total = sum((r["amount"] or Decimal(0) for r in rows), Decimal(0))
        pqls = sum(
            (r["amount"] or Decimal(0) for r in rows if r["source"] == Deal.Source.PQL),
            Decimal(0),
        )
        return pct(pqls, total)

    value = share(rows)
    by_source: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for r in rows:
        by_source[r["source"]][0] += r["n"]
        by_source[r["source"]][1] += r["amount"] or Decimal(0)
    labels = dict(Deal.Source.choices)
    parts = [
        Part(labels[s], fmt_money(by_source[s][1]), plural(by_source[s][0], "deal"))
        for s in (
            Deal.Source.PQL,
            Deal.Source.OUTBOUND,
            Deal.Source.INBOUND,
            Deal.Source.EXPANSION,
        )
        if s in by_source
    ]
    return Metric(
        key="pipeline",
        title="Pipeline from product",
        band="60–80 % product-sourced",
        definition=(
            "ARR of sales deals opened in the window that came from PQLs (source PQL), open "
            "or won, ÷ ARR of all sales deals opened in the window, open or won, whatever "
            "their source: PQL, inbound, outbound (CRM imports included) and expansion. An "
            "open deal without an amount yet counts at its account's ARR potential. Lost "
            "deals and self-serve purchases are not pipeline."
        ),
        source="seed 003",
        value=value,
        display=fmt_pct(value),
        detail=f"{sum(r['n'] for r in rows)} sales deals opened",
        verdict=pipeline_verdict(value),
        chart=Chart(
            "PQL-sourced, % of pipeline ARR",
            [Series("from product", [share(by_month.get(m, [])) for m in window.months])],
            band=(60, 80),
            unit="%",
        ),
        parts=parts,
        rules_lever=True,
    )
