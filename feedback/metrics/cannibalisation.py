"""Cannibalisation: accounts sales closed that fit the self-serve profile, with the reason
for each flagged account."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import BooleanField, Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from accounts.models import Deal, Event
from feedback.metrics.base import (
    NEW_BUSINESS,
    SALES,
    WON,
    Category,
    Chart,
    Metric,
    Series,
    fmt_pct,
    month_of,
    pct,
)
from feedback.metrics.verdicts import cannibalisation_verdict
from feedback.metrics.window import Window
from scoring.models import PQL_ROUTES, QueueItem, Route, RouteChange

# The routes the product gives on its own; the one before a sales cycle tells whether the
# account fitted self-serve when sales took it.
PRODUCT_ROUTES = (Route.AE, Route.SDR, Route.NURTURE, Route.SELF_SERVE, Route.SELF_SERVE_HERO)
# Self-serve hero, or self-serve because ARR potential was below the floor (scoring's
# reason says "below the $X floor").
FITS_SELF_SERVE = Q(to_route=Route.SELF_SERVE_HERO) | Q(
    to_route=Route.SELF_SERVE, reason__contains="floor"
)


def cannibalisation_metric(window: Window, currency: str) -> Metric:
    item = QueueItem.objects.filter(deal=OuterRef("pk")).order_by("-created_at")
    checkout = Event.objects.filter(account=OuterRef("account"), timestamp__lt=OuterRef("touch"))
    fits = RouteChange.objects.filter(FITS_SELF_SERVE, account=OuterRef("account"))
    last_product_route = (
        RouteChange.objects.filter(
            account=OuterRef("account"),
            at__lte=OuterRef("cycle_start"),
            to_route__in=PRODUCT_ROUTES,
        )
        .annotate(
            fits=Case(When(FITS_SELF_SERVE, then=Value(True)), default=Value(False)),
        )
        .order_by("-at", "-id")
        .values("fits")[:1]
    )
    rows = list(
        Deal.objects.filter(NEW_BUSINESS, stage=WON, motion=SALES, currency=currency)
        .filter(closed_at__gte=window.start_at, closed_at__lt=window.end_at)
        .annotate(
            item_route=Subquery(item.values("route")[:1]),
            cycle_start=Coalesce(Subquery(item.values("created_at")[:1]), F("opened_at")),
            touch=Coalesce(Subquery(item.values("first_touch_at")[:1]), F("opened_at")),
        )
        .annotate(
            started=Subquery(
                checkout.filter(category=Category.CHECKOUT_STARTED)
                .order_by("-timestamp")
                .values("timestamp")[:1]
            ),
            completed=Subquery(
                checkout.filter(category=Category.CHECKOUT_COMPLETED)
                .order_by("-timestamp")
                .values("timestamp")[:1]
            ),
            hero_in_cycle=Exists(
                fits.filter(at__gte=OuterRef("cycle_start"), at__lte=OuterRef("closed_at"))
            ),
            fit_when_routed=Subquery(last_product_route, output_field=BooleanField()),
        )
        .values(
            "pk",
            "account_id",
            "account__name",
            "closed_at",
            "arr",
            "source",
            "item_route",
            "touch",
            "started",
            "completed",
            "account__checkout_started_at",
            "account__checkout_completed_at",
            "hero_in_cycle",
            "fit_when_routed",
        )
        .order_by("-closed_at", "-pk")
    )
    flagged: dict[int, dict] = {}
    accounts: set[int] = set()
    month_accounts: dict[date, set[int]] = defaultdict(set)
    month_flagged: dict[date, set[int]] = defaultdict(set)
    for r in rows:
        month = month_of(r["closed_at"])
        accounts.add(r["account_id"])
        month_accounts[month].add(r["account_id"])
        why = _cannibalised_why(r)
        if why:
            month_flagged[month].add(r["account_id"])
            if r["account_id"] not in flagged:
                flagged[r["account_id"]] = {
                    "account_id": r["account_id"],
                    "account": r["account__name"],
                    "closed_at": r["closed_at"],
                    "arr": r["arr"],
                    "source": Deal.Source(r["source"]).label,
                    "why": "; ".join(why),
                }
    value = pct(len(flagged), len(accounts))
    rows_out = list(flagged.values())
    return Metric(
        key="cannibalisation",
        title="Cannibalisation",
        band="as low as possible",
        definition=(
            "Accounts sales closed (won new-business sales-assisted deals closed in the "
            "window) that fit the self-serve profile, ÷ all accounts sales closed. An account "
            "fits when a self-serve checkout was open at the first touch (started before it, "
            "not completed in between), when scoring routed it self-serve hero or below the "
            "ARR floor while sales worked it, or — for inbound and outbound deals, which the "
            "PQL rules did not route — when that was its route before the sales cycle began."
        ),
        source="seed 003",
        value=value,
        display=fmt_pct(value),
        detail=f"{len(flagged)} of {len(accounts)} accounts closed by sales",
        verdict=cannibalisation_verdict(value),
        chart=Chart(
            "Fit self-serve, % of accounts closed by sales",
            [
                Series(
                    "cannibalised",
                    [pct(len(month_flagged[m]), len(month_accounts[m])) for m in window.months],
                )
            ],
            unit="%",
        ),
        rows=rows_out[:20],
        rows_total=len(rows_out),
        rules_lever=True,
    )


def _cannibalised_why(r: dict) -> list[str]:
    """Why one sales-closed deal's account fitted the self-serve profile (none: [])."""
    why = []
    touch = r["touch"]
    started, completed = r["started"], r["completed"]
    open_checkout = started is not None and (completed is None or completed < started)
    acc_started, acc_completed = (
        r["account__checkout_started_at"],
        r["account__checkout_completed_at"],
    )
    if not open_checkout and acc_started is not None and acc_started < touch:
        # The account's latest checkout fields, for history without stored events.
        open_checkout = acc_completed is None or not (acc_started <= acc_completed < touch)
    if open_checkout:
        why.append("checkout started before the first touch")
    if r["hero_in_cycle"]:
        why.append("routed self-serve hero or below the ARR floor during the sales cycle")
    elif r["item_route"] not in PQL_ROUTES and r["fit_when_routed"]:
        why.append("self-serve hero or below the ARR floor when sales took it")
    return why
