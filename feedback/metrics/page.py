"""The metrics page: every metric of DESIGN.md's table and the PM KPIs over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from accounts.models import Deal
from feedback.metrics.base import WON, Metric
from feedback.metrics.cannibalisation import cannibalisation_metric
from feedback.metrics.kpis import (
    activation_metric,
    ceiling_metric,
    free_to_paid_metric,
    package_mix_metric,
)
from feedback.metrics.pql import pql_to_close_metric, pql_volume_metric, time_to_close_metric
from feedback.metrics.revenue import deal_size_metric, pipeline_metric, sales_share_metric
from feedback.metrics.window import Window


@dataclass
class Metrics:
    window: Window
    months: list[date]
    currency: str
    other_currency: list[tuple[str, int]]
    items: list[Metric]

    @property
    def other_currency_count(self) -> int:
        return sum(n for _c, n in self.other_currency)


def metrics_for(*, window: Window, now: datetime) -> Metrics:
    """Every metric of DESIGN.md's table and the PM KPIs over ``window``."""
    currency = settings.PLS_CURRENCY
    months = window.months
    start, end = window.start_at, window.end_at
    in_window = {"closed_at__gte": start, "closed_at__lt": end}

    other_currency = list(
        Deal.objects.exclude(currency=currency)
        .filter(Q(opened_at__gte=start, opened_at__lt=end) | Q(**in_window))
        .values_list("currency")
        .annotate(n=Count("pk"))
        .order_by("currency")
    )

    # Won purchases of the window (refunds left out): share, deal size, ceiling.
    won_rows = list(
        Deal.objects.filter(stage=WON, currency=currency, **in_window)
        .exclude(change=Deal.Change.REFUND)
        .annotate(month=TruncMonth("closed_at", tzinfo=UTC))
        .values("month", "motion", "source", "change")
        .annotate(n=Count("pk"), arr=Sum("arr"))
        .order_by()
    )
    pql = pql_to_close_metric(window, now, currency)
    items = [
        pql["metric"],
        sales_share_metric(months, won_rows),
        deal_size_metric(months, won_rows),
        time_to_close_metric(window, currency),
        pipeline_metric(window, currency),
        cannibalisation_metric(window, currency),
        pql_volume_metric(window, pql["per_month"], pql["total"]),
        free_to_paid_metric(window, currency),
        package_mix_metric(window, currency),
        ceiling_metric(months, won_rows),
        activation_metric(window),
    ]
    return Metrics(
        window=window,
        months=months,
        currency=currency,
        other_currency=other_currency,
        items=items,
    )
