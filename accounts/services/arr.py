"""ARR potential: what an account could be worth per year if sales helped it upgrade.

An estimate, shown with its inputs so a rep or admin can check it (DESIGN.md
"Decisions": routing sends accounts below the rule set's ARR floor to self-serve).

    employee seats = min(ceil(10 % of employees), 1,000)
    likely seats   = max(active users in the last 30 days, employee seats)
    plan used      = the next paid plan above the account's current plan (by position);
                     an account with no plan, or a free or trial one, is priced at the
                     first paid plan; an account already on the top plan at that plan
    price per year = plan used's price per seat (per seat per month) × 12
    ARR potential  = likely seats × price per year

Ten percent of employees is the share of a company that typically ends up using a
team tool once it is rolled out; the 1,000-seat cap keeps a 100,000-person company
from dwarfing every real signal, since a first sales deal rarely covers a whole
enterprise. Active users win when they are more: seats already in use are not a guess.
An account with neither employees nor active users has 0 likely seats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from accounts.models import Account, AccountUserDay, Plan

EMPLOYEE_SEAT_SHARE = Decimal("0.10")
EMPLOYEE_SEAT_CAP = 1000
MONTHS_PER_YEAR = 12
ACTIVE_WINDOW_DAYS = 30
CHUNK = 2000
CENTS = Decimal("0.01")


def plan_to_price(*, current: Plan | None, plans: Sequence[Plan]) -> Plan | None:
    """The next paid plan above ``current``; the top plan when already on it."""
    ordered = sorted(plans, key=lambda p: (p.position, p.key))
    paid = [p for p in ordered if p.is_paid]
    if not paid:
        return None
    if current is None:
        return paid[0]
    above = [p for p in paid if (p.position, p.key) > (current.position, current.key)]
    if above:
        return above[0]
    return current if current.is_paid else paid[-1]


def arr_potential(
    account: Account, *, active_users_30d: int, plans: Sequence[Plan]
) -> tuple[Decimal, dict]:
    """The account's ARR potential and the inputs it was made of (module docstring)."""
    employees = account.employees
    employee_seats = (
        min(math.ceil(employees * EMPLOYEE_SEAT_SHARE), EMPLOYEE_SEAT_CAP) if employees else 0
    )
    likely_seats = max(active_users_30d, employee_seats)
    current = next((p for p in plans if p.pk == account.plan_id), None)
    plan = plan_to_price(current=current, plans=plans)
    price_per_seat = plan.price_per_seat if plan else Decimal("0.00")
    price_per_year = (price_per_seat * MONTHS_PER_YEAR).quantize(CENTS)
    arr = (price_per_year * likely_seats).quantize(CENTS)
    inputs = {
        "employees": employees,
        "active_users_30d": active_users_30d,
        "employee_seats": employee_seats,
        "likely_seats": likely_seats,
        "current_plan": current.key if current else None,
        "plan": plan.key if plan else None,
        "plan_name": plan.name if plan else None,
        "price_per_seat_month": str(price_per_seat),
        "price_per_seat_year": str(price_per_year),
        "arr_potential": str(arr),
    }
    return arr, inputs


def active_users_30d(*, account_ids: Iterable[int], today=None) -> dict[int, int]:
    """Distinct active users per account over the last 30 UTC days (today included), in
    one aggregate query over the user-day rollup."""
    today = today or timezone.now().date()
    since = today - timedelta(days=ACTIVE_WINDOW_DAYS - 1)
    return dict(
        AccountUserDay.objects.filter(account__in=list(account_ids), day__gte=since)
        .order_by()
        .values("account")
        .annotate(users=Count("user", distinct=True))
        .values_list("account", "users")
    )


def accounts_arr_recompute(*, account_ids: Iterable[int] | None = None) -> int:
    """Recompute ARR potential of the given accounts (all live accounts by default);
    writes only rows whose estimate or inputs changed. Returns how many changed."""
    plans = list(Plan.objects.all())
    accounts = Account.objects.filter(merged_into__isnull=True).order_by("pk")
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    ids = list(accounts.values_list("pk", flat=True))
    changed_total = 0
    fields = ["id", "employees", "plan", "arr_potential", "arr_potential_inputs"]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        users = active_users_30d(account_ids=chunk)
        changed = []
        for account in Account.objects.filter(pk__in=chunk).only(*fields):
            arr, inputs = arr_potential(
                account, active_users_30d=users.get(account.pk, 0), plans=plans
            )
            if account.arr_potential != arr or account.arr_potential_inputs != inputs:
                account.arr_potential = arr
                account.arr_potential_inputs = inputs
                changed.append(account)
        Account.objects.bulk_update(changed, ["arr_potential", "arr_potential_inputs"])
        changed_total += len(changed)
    return changed_total
