"""The first message's context: plain dicts of strings, numbers and lists, never model
instances (DESIGN.md "Decisions": templates get plain dicts), so a template can read an
account's numbers and nothing else.

- ``account``: name, domain, industry, employees, plan (its name), plan_key, created
  (YYYY-MM-DD), age_days
- ``usage``: active_users_7, active_users_30, features_used (core features in 30 days),
  features (their keys), integrations, integration_names, usage_pct, usage_limit and
  usage_limit_label (the limit behind it, when a limit was hit in 14 days),
  limit_hits_7, limits_hit (this week's hits by limit: key, label, hits), top_limit,
  top_limit_label, top_limit_hits, paywall_hits_14, departments_30, departments_new
- ``signals``: the stored signals (``scoring.signals.SIGNALS``)
- ``buyer``: the top likely buyer of the open queue item (name, first_name, title,
  email), all blank without one
- ``rep``: first_name, name, email of the rep reading the dossier
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Max
from django.utils import timezone

from accounts.models import (
    Account,
    AccountDay,
    AccountFeatureDay,
    Plan,
    PlanLimit,
    TrackingPlanEntry,
)
from scoring.models import AccountScore, QueueItem
from scoring.signals import SIGNALS


def plain(value):
    """A value as a template may see it: dicts, lists, str, int, float, bool. Whole
    floats become ints (12, not 12.0); None becomes "" so it never prints "None"."""
    if value is None:
        return ""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 1)
    if isinstance(value, Decimal):
        return plain(float(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)


def _first_name(name: str) -> str:
    return name.split()[0] if name and name.split() else ""


def rep_context(rep) -> dict:
    if rep is None:
        return {"first_name": "", "name": "", "email": ""}
    name = rep.get_full_name() or rep.username
    return {"first_name": rep.first_name or _first_name(name), "name": name, "email": rep.email}


def buyer_context(buyers: list | None) -> dict:
    top = (buyers or [{}])[0] or {}
    name = top.get("name") or ""
    return {
        "name": name,
        "first_name": _first_name(name),
        "title": top.get("title") or "",
        "email": top.get("email") or "",
    }


def message_context(*, account_id: int, rep, today: date | None = None) -> dict | None:
    """The context of one account's first message, in a constant number of queries
    (account, stored score, open item, features, tracking plan, this fortnight's days,
    limit labels). None when the account does not exist."""
    today = today or timezone.now().date()
    account = (
        Account.objects.filter(pk=account_id)
        .values("name", "domain", "industry", "employees", "created_at", "plan__key",
                "plan__name")
        .first()
    )  # fmt: skip
    if account is None:
        return None
    score = (
        AccountScore.objects.filter(account_id=account_id)
        .values("signals", "expansion_baseline")
        .first()
    ) or {"signals": {}, "expansion_baseline": {}}
    signals = score["signals"] or {}
    buyers = (
        QueueItem.objects.filter(account_id=account_id, state__in=QueueItem.ACTIVE_STATES)
        .values_list("buyers", flat=True)
        .first()
    )
    used = dict(
        AccountFeatureDay.objects.filter(account_id=account_id)
        .values("feature_key")
        .annotate(last=Max("day"))
        .order_by()
        .values_list("feature_key", "last")
    )
    core, integration_keys = set(), []
    for key, flag in TrackingPlanEntry.objects.filter(
        category=TrackingPlanEntry.Category.FEATURE, flag__in=["core", "integration"]
    ).values_list("key", "flag"):
        (core.add(key) if flag == "core" else integration_keys.append(key))
    since_30 = today - timedelta(days=30)
    features = sorted(k for k, last in used.items() if k in core and last > since_30)
    integrations = sorted(
        k.split(":", 1)[1] for k in used if ":" in k and k.split(":", 1)[0] in integration_keys
    )
    hits_7: dict[str, int] = {}
    hits_14: dict[str, int] = {}
    for day, limit_hits in AccountDay.objects.filter(
        account_id=account_id, day__gt=today - timedelta(days=14), day__lte=today
    ).values_list("day", "limit_hits"):
        for key, n in (limit_hits or {}).items():
            hits_14[key] = hits_14.get(key, 0) + int(n or 0)
            if day > today - timedelta(days=7):
                hits_7[key] = hits_7.get(key, 0) + int(n or 0)
    labels = dict(PlanLimit.objects.values_list("key", "label").order_by("-plan__position"))
    limits_hit = sorted(
        ({"key": k, "label": labels.get(k, k.replace("_", " ")), "hits": n}
         for k, n in hits_7.items() if n),
        key=lambda h: (-h["hits"], h["key"]),
    )  # fmt: skip
    # The limit behind usage_pct is not stored with the score; a limit hit in 14 days
    # counts as 100 % of it (scoring/signals.py), so the most-hit one is the best reading.
    usage_limit = max(hits_14, key=lambda k: (hits_14[k], k)) if any(hits_14.values()) else ""
    baseline = score["expansion_baseline"] or {}
    departments = signals.get("departments_30") or 0
    top = limits_hit[0] if limits_hit else {"key": "", "label": "", "hits": 0}
    usage = {
        "active_users_7": signals.get("active_users_7") or 0,
        "active_users_30": signals.get("active_users_30") or 0,
        "features_used": signals.get("core_features_30") or len(features),
        "features": features,
        "integrations": signals.get("integrations") or len(integrations),
        "integration_names": integrations,
        "usage_pct": signals.get("usage_pct") or 0,
        "usage_limit": usage_limit,
        "usage_limit_label": labels.get(usage_limit, "") if usage_limit else "",
        "limit_hits_7": sum(hits_7.values()),
        "limits_hit": limits_hit,
        "top_limit": top["key"],
        "top_limit_label": top["label"],
        "top_limit_hits": top["hits"],
        "paywall_hits_14": signals.get("paywall_hits_14") or 0,
        "departments_30": departments,
        "departments_new": max(departments - (baseline.get("departments_30") or 0), 0)
        if baseline
        else 0,
    }
    created = account["created_at"]
    lowest = {"name": "", "key": ""}
    if account["plan__key"] is None:
        lowest = Plan.objects.order_by("position", "id").values("name", "key").first() or lowest
    context = {
        "account": {
            "name": account["name"],
            "domain": account["domain"],
            "industry": account["industry"],
            "employees": account["employees"],
            # No plan is held to the lowest plan, as scoring and matching do.
            "plan": account["plan__name"] or lowest["name"],
            "plan_key": account["plan__key"] or lowest["key"],
            "created": created,
            "age_days": max((today - created.date()).days, 0),
        },
        "usage": usage,
        "signals": {s.name: signals.get(s.name) for s in SIGNALS} | signals,
        "buyer": buyer_context(buyers),
        "rep": rep_context(rep),
    }
    return plain(context)


SAMPLE_SIGNALS = {
    "active_users_7": 9, "active_users_30": 12, "core_features_30": 4, "integrations": 3,
    "usage_pct": 86.5, "active_days_14": 11, "active_days_30": 22, "users_wow_pct": 60.0,
    "events_wow_pct": 35.0, "departments_30": 3, "invites_30": 5, "employees": 1200,
    "icp_domain": 1, "icp_industry": 0, "arr_potential": 54000, "pricing_views_30": 4,
    "legal_views_30": 2, "security_views_30": 1, "sso_audit_30": 1, "admin_change_30": 1,
    "paywall_hits_14": 3, "limit_hits_7": 2, "limit_hits_14": 3, "api_key_30": 1,
    "idle_days": 0, "checkout_in_progress": 0, "sales_request_days": 2, "paid_plan": 0,
}  # fmt: skip


def sample_context() -> dict:
    """Made-up values with every key a real context has: the editor checks a template
    against it on save, and lists it as the variables a template may use."""
    return plain(
        {
            "account": {
                "name": "Acme Analytics",
                "domain": "acme.example",
                "industry": "Software",
                "employees": 1200,
                "plan": "Free",
                "plan_key": "free",
                "created": "2026-01-15",
                "age_days": 40,
            },
            "usage": {
                "active_users_7": 9,
                "active_users_30": 12,
                "features_used": 4,
                "features": ["dashboards", "export", "projects"],
                "integrations": 3,
                "integration_names": ["jira", "slack"],
                "usage_pct": 86.5,
                "usage_limit": "exports",
                "usage_limit_label": "Exports per month",
                "limit_hits_7": 2,
                "limits_hit": [{"key": "exports", "label": "Exports per month", "hits": 2}],
                "top_limit": "exports",
                "top_limit_label": "Exports per month",
                "top_limit_hits": 2,
                "paywall_hits_14": 3,
                "departments_30": 3,
                "departments_new": 1,
            },
            "signals": {s.name: SAMPLE_SIGNALS.get(s.name, 1) for s in SIGNALS},
            "buyer": {
                "name": "Dana Reyes",
                "first_name": "Dana",
                "title": "VP Operations",
                "email": "dana@acme.example",
            },
            "rep": {"first_name": "Alex", "name": "Alex Kim", "email": "alex@vendor.example"},
        }
    )


def variable_names(context: dict | None = None) -> list[tuple[str, object]]:
    """Every ``name.key`` a template may use, with its value in ``context``."""
    context = context or sample_context()
    return [
        (f"{group}.{key}", value)
        for group in ("account", "usage", "signals", "buyer", "rep")
        for key, value in context.get(group, {}).items()
    ]
