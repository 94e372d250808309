"""What play conditions test, read in bulk: each account's stored signals (scoring's
``AccountScore.signals``) plus a few account facts — route, plan, account age, new
departments since the win, and feature events and limit hits by key over N days from
the daily rollups (never raw events).

A fixed number of queries per call whatever the number of accounts: the stored scores
(with the account's plan and age), one aggregate over ``AccountFeatureDay`` and one over
``AccountDay`` when some condition needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from accounts.models import AccountDay, AccountFeatureDay, Plan, PlanLimit
from playbooks.conditions import window_name, windows_needed
from scoring.models import AccountScore
from scoring.signals import Scope


@dataclass(frozen=True)
class FactsContext:
    """What every chunk of a run shares, read once per run (two queries)."""

    plan_keys: dict[int, str]
    plan_names: dict[str, str]
    lowest_plan: str
    limit_keys: tuple[str, ...]


def facts_context() -> FactsContext:
    plans = list(Plan.objects.order_by("position", "id").values_list("id", "key", "name"))
    return FactsContext(
        plan_keys={pk: key for pk, key, _ in plans},
        plan_names={key: name for _, key, name in plans},
        lowest_plan=plans[0][1] if plans else "",
        limit_keys=tuple(sorted(set(PlanLimit.objects.values_list("key", flat=True).order_by()))),
    )


def _hits(key: str):
    return Coalesce(Cast(KT(f"limit_hits__{key}"), IntegerField()), 0)


def _since(today: date, days: int) -> Q:
    return Q(day__gt=today - timedelta(days=days))


def account_facts(
    *,
    scope: Scope,
    today: date,
    conditions: list[list[dict]],
    context: FactsContext,
) -> dict[int, dict]:
    """Facts of the scoped scored accounts, keyed by account id. Merged-away accounts
    are left out (they are never matched)."""
    rows = (
        AccountScore.objects.filter(scope.q("account_id"), account__merged_into__isnull=True)
        .values(
            "account_id", "signals", "route", "expansion_baseline", "account__plan_id",
            "account__created_at",
        )
        .order_by()
    )  # fmt: skip
    facts: dict[int, dict] = {}
    for row in rows:
        signals = row["signals"] or {}
        baseline = row["expansion_baseline"] or {}
        departments_new = 0
        if baseline:
            departments_new = max(
                (signals.get("departments_30") or 0) - (baseline.get("departments_30") or 0), 0
            )
        plan_id = row["account__plan_id"]
        facts[row["account_id"]] = {
            **signals,
            "route": row["route"],
            "plan": context.plan_keys.get(plan_id, "") if plan_id else context.lowest_plan,
            "account_age_days": max((today - row["account__created_at"].date()).days, 0),
            "departments_new": departments_new,
        }
    if not facts:
        return facts
    needed = windows_needed(conditions)
    if needed["feature_events"]:
        _feature_windows(scope, today, needed["feature_events"], facts)
    if needed["limit_hits"]:
        _limit_windows(scope, today, needed["limit_hits"], context, facts)
    return facts


def _feature_windows(
    scope: Scope, today: date, windows: set[tuple[str, int]], facts: dict[int, dict]
) -> None:
    widest = max(days for _, days in windows)
    aggregates = {}
    names = {}
    for n, (key, days) in enumerate(sorted(windows)):
        # Integrations are keyed per integration (integrations:slack).
        keys = Q(feature_key=key) | Q(feature_key__startswith=f"{key}:")
        aggregates[f"w{n}"] = Sum("events", filter=_since(today, days) & keys)
        names[f"w{n}"] = window_name("feature_events", key, days)
    for row in (
        AccountFeatureDay.objects.filter(scope.q(), _since(today, widest), day__lte=today)
        .values("account_id")
        .annotate(**aggregates)
        .order_by()
    ):
        fact = facts.get(row["account_id"])
        if fact is not None:
            for alias, name in names.items():
                fact[name] = row[alias] or 0
    for fact in facts.values():
        for name in names.values():
            fact.setdefault(name, 0)


def _limit_windows(
    scope: Scope,
    today: date,
    windows: set[tuple[str, int]],
    context: FactsContext,
    facts: dict[int, dict],
) -> None:
    widest = max(days for _, days in windows)
    aggregates = {}
    names = {}
    for n, (key, days) in enumerate(sorted(windows)):
        keys = [key] if key else list(context.limit_keys)
        if not keys:
            continue
        total = sum((_hits(k) for k in keys[1:]), _hits(keys[0]))
        aggregates[f"w{n}"] = Sum(total, filter=_since(today, days))
        names[f"w{n}"] = window_name("limit_hits", key, days)
    if aggregates:
        for row in (
            AccountDay.objects.filter(scope.q(), _since(today, widest), day__lte=today)
            .exclude(limit_hits={})
            .values("account_id")
            .annotate(**aggregates)
            .order_by()
        ):
            fact = facts.get(row["account_id"])
            if fact is not None:
                for alias, name in names.items():
                    fact[name] = row[alias] or 0
    for fact in facts.values():
        for key, days in windows:
            fact.setdefault(window_name("limit_hits", key, days), 0)
