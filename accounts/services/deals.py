"""Deals: self-serve ones from checkout events, sales ones opened and closed through this
service (scoring's close service calls it), CRM imports. Account owner = owner of the
account's last won sales deal."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Deal, Plan
from pls_portal.models import User

# How many times a price is charged in a year, by the billing period it is quoted in.
PER_YEAR = {"month": 12, "monthly": 12, "year": 1, "yearly": 1, "annual": 1, "annually": 1}
SELF_SERVE_CATEGORIES = ("checkout_completed", "plan_change", "refund")


class DealError(Exception):
    """A deal change that cannot be made; the message says why."""


def _money(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def self_serve_arr(*, revenue, period: str, plan: Plan | None, seats) -> Decimal:
    """ARR of a self-serve purchase: its revenue times the charges per year of its
    billing period; without a revenue, the plan's seat price × seats × 12."""
    amount = _money(revenue)
    if amount is None:
        if plan is None:
            return Decimal("0.00")
        count = _money(seats) or Decimal(1)
        return (plan.price_per_seat * count * 12).quantize(Decimal("0.01"))
    return amount * PER_YEAR.get(period, 12)


def deals_from_checkout_events(events: Iterable) -> int:
    """Won self-serve deals from checkout completed, plan change and refund events
    (inside ingestion's transaction). One row per event, keyed by its messageId, so a
    replay creates nothing; a later purchase is an upgrade or a downgrade and a refund a
    negative row: shown, never dropped."""
    events = sorted(
        (e for e in events if e.account is not None and e.category in SELF_SERVE_CATEGORIES),
        key=lambda e: e.timestamp,
    )
    if not events:
        return 0
    plans = {plan.key: plan for plan in Plan.objects.all()}
    accounts = {e.account.pk for e in events}
    last_arr: dict[int, Decimal] = {}
    for account_id, arr in (
        Deal.objects.filter(account__in=accounts, stage=Deal.Stage.WON)
        .exclude(change=Deal.Change.REFUND)
        .order_by("account", "closed_at")
        .values_list("account", "arr")
    ):
        last_arr[account_id] = arr
    deals, plan_of = [], {}
    for event in events:
        props = event.properties or {}
        plan_key = str(props.get("plan", "")).strip().lower()
        plan = plans.get(plan_key) or event.account.plan
        period = str(props.get("billing_period") or props.get("interval") or "").lower()
        period = period or (plan.billing_period if plan else "month")
        revenue = event.value if event.value is not None else props.get("revenue")
        arr = self_serve_arr(revenue=revenue, period=period, plan=plan, seats=props.get("seats"))
        account_id = event.account.pk
        if event.category == "refund":
            change, arr = Deal.Change.REFUND, -abs(arr)
        else:
            previous = last_arr.get(account_id)
            change = (
                Deal.Change.NEW
                if previous is None
                else (Deal.Change.UPGRADE if arr >= previous else Deal.Change.DOWNGRADE)
            )
            last_arr[account_id] = arr
            if plan is not None:
                plan_of[account_id] = plan
        currency = str(props.get("currency") or settings.PLS_CURRENCY).upper()[:3]
        deals.append(
            Deal(
                account_id=account_id,
                name=f"Self-serve {plan.name if plan else 'purchase'}",
                motion=Deal.Motion.SELF_SERVE,
                source=Deal.Source.SELF_SERVE,
                stage=Deal.Stage.WON,
                change=change,
                plan=plan,
                arr=arr,
                currency=currency,
                opened_at=event.timestamp,
                closed_at=event.timestamp,
                source_message_id=event.message_id,
            )
        )
    # A race with a concurrent copy of the same event keeps one deal per messageId.
    Deal.objects.bulk_create(deals, ignore_conflicts=True)
    for account_id, plan in plan_of.items():
        Account.objects.filter(pk=account_id).update(
            plan=plan, status=Account.Status.PAID if plan.is_paid else Account.Status.FREE
        )
    return len(deals)


def deal_open(
    *,
    account_id: int,
    source: str,
    arr: Decimal | int = 0,
    name: str = "",
    owner: User | None = None,
    plan: Plan | None = None,
    opened_at: datetime | None = None,
) -> Deal:
    """Open a sales-assisted deal (a PQL at its first response, inbound, outbound…)."""
    if source == Deal.Source.SELF_SERVE:
        raise DealError("self-serve deals come from checkout events, not from this service")
    return Deal.objects.create(
        account_id=account_id,
        source=source,
        motion=Deal.Motion.SALES_ASSISTED,
        stage=Deal.Stage.OPEN,
        arr=arr,
        name=name,
        owner=owner,
        plan=plan,
        opened_at=opened_at or timezone.now(),
    )


def deal_update(*, deal_id: int, **changes) -> Deal:
    """Change an open deal's ARR, plan, name or owner."""
    allowed = {"arr", "plan", "name", "owner", "notes"}
    unknown = set(changes) - allowed
    if unknown:
        raise DealError(f"cannot change {', '.join(sorted(unknown))} of a deal")
    with transaction.atomic():
        deal = Deal.objects.select_for_update().get(pk=deal_id)
        if deal.stage != Deal.Stage.OPEN:
            raise DealError(f"the deal is {deal.get_stage_display().lower()}; it cannot change")
        for name, value in changes.items():
            setattr(deal, name, value)
        deal.save()
    return deal


def deal_close(
    *,
    deal_id: int,
    won: bool,
    arr: Decimal | int | None = None,
    closed_at: datetime | None = None,
    lost_reason: str = "",
) -> Deal:
    """Close an open sales deal won or lost; a win makes its owner the account's owner."""
    with transaction.atomic():
        deal = Deal.objects.select_for_update().get(pk=deal_id)
        if deal.stage != Deal.Stage.OPEN:
            raise DealError(f"the deal is already {deal.get_stage_display().lower()}")
        if not won and not lost_reason.strip():
            raise DealError("a lost deal needs a reason")
        deal.stage = Deal.Stage.WON if won else Deal.Stage.LOST
        deal.closed_at = closed_at or timezone.now()
        deal.lost_reason = "" if won else lost_reason.strip()[:300]
        if arr is not None:
            deal.arr = arr
        deal.save()
        if won and deal.owner_id:
            Account.objects.filter(pk=deal.account_id).update(owner=deal.owner_id)
    return deal
