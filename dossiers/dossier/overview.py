"""The overview: the company, its domains, ARR potential with its inputs and anonymous
visitors from its networks."""

from __future__ import annotations

from accounts.models import Account, AccountDomain
from accounts.selectors_reverse_ip import anonymous_visitors_by_company
from dossiers.dossier.scope import display_name

VISITOR_DAYS = 30

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


def overview_get(*, account: Account) -> dict:
    """The company as the overview shows it (three queries)."""
    domains = list(
        AccountDomain.objects.filter(account=account).values_list("domain", "is_primary")
    )
    # Read here, when the page builds this part, not with every view's account.
    related = (
        Account.objects.select_related("plan", "owner", "merged_into").filter(pk=account.pk).first()
    ) or account
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
        "plan": related.plan.name if related.plan else "",
        "status": account.get_status_display(),
        "created_at": account.created_at,
        "owner": display_name(related.owner),
        "merged_into": related.merged_into.name if related.merged_into else "",
        "arr_potential": account.arr_potential,
        "arr_inputs": shown,
        "visitors": visitors,
        "visitor_days": VISITOR_DAYS,
    }
