"""Pure scoring and routing: signals in, score and route out. No queries here, so the
live run, the backtest and the tests share exactly this code.

Score (DESIGN.md glossary): each matching rule gives its points to its dimension; the
value sub-score is clamped to 0..``value_points`` and engagement to
0..``100 - value_points``; the score is their sum. A rule with a half-life loses half
its points for every half-life the account has been idle (PQL intent decays).

Route: the order of DESIGN.md "Decisions", first match wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from scoring.models import Dimension, Operator, Route
from scoring.signals import SIGNALS_BY_NAME, AccountFacts


@dataclass(frozen=True)
class RuleSpec:
    """A rule, detached from the database (drafts and the active set alike)."""

    id: int | None
    signal: str
    operator: str
    threshold: float
    points: int
    dimension: str
    threshold_high: float | None = None
    half_life_days: int | None = None
    label: str = ""

    @cached_property
    def reasons(self) -> dict[float, str]:
        """The rule's reason for each value seen, so a run formats each text once (values
        repeat: counts and percentages). Frozen fields, so a cache never goes stale."""
        return {}


@dataclass(frozen=True)
class Settings:
    """The rule-set settings routing reads."""

    ae_threshold: int = 70
    sdr_threshold: int = 40
    value_points: int = 40
    value_cutoff: int = 20
    engagement_cutoff: int = 30
    arr_floor: float = 10_000
    backoff_days: int = 7
    cooldown_days: int = 30
    ae_sla_hours: int = 24
    sdr_sla_hours: int = 48
    checkout_hold_hours: int = 48
    sales_request_days: int = 30
    expansion_user_growth_pct: int = 50

    @classmethod
    def of(cls, rule_set) -> Settings:
        return cls(
            **{
                name: float(value) if isinstance(value, Decimal) else value
                for name in cls.__dataclass_fields__
                if (value := getattr(rule_set, name)) is not None
            }
        )

    def sla_hours(self, route: str) -> int:
        return self.sdr_sla_hours if route == Route.SDR else self.ae_sla_hours


@dataclass
class ScoreResult:
    score: int
    value: int
    engagement: int
    contributions: list[dict] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The positive contributions in words, strongest first."""
        return [c["reason"] for c in self.contributions if c["points"] > 0]


def rule_matches(rule: RuleSpec, value: float | None) -> bool:
    if value is None:
        return False
    t = rule.threshold
    match rule.operator:
        case Operator.GTE:
            return value >= t
        case Operator.GT:
            return value > t
        case Operator.LTE:
            return value <= t
        case Operator.LT:
            return value < t
        case Operator.EQ:
            return value == t
        case Operator.BETWEEN:
            return rule.threshold_high is not None and t <= value <= rule.threshold_high
    return False


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def rule_condition(rule: RuleSpec) -> str:
    symbol = Operator(rule.operator).label
    if rule.operator == Operator.BETWEEN:
        return f"{_number(rule.threshold)}–{_number(rule.threshold_high or 0)}"
    return f"{symbol} {_number(rule.threshold)}"


REASONS_CACHED = 5000  # distinct values per rule kept by ``RuleSpec.reasons``


def rule_reason(rule: RuleSpec, value: float) -> str:
    """What a rep reads: "7 active users, 30 days (≥ 5)"."""
    cache = rule.reasons
    reason = cache.get(value)
    if reason is None:
        reason = _rule_reason(rule, value)
        if len(cache) < REASONS_CACHED:
            cache[value] = reason
    return reason


def _rule_reason(rule: RuleSpec, value: float) -> str:
    signal = SIGNALS_BY_NAME.get(rule.signal)
    label = rule.label or (signal.label if signal else rule.signal)
    unit = signal.unit if signal else ""
    if unit == "yes/no":
        return label
    shown = f"${_number(value)}" if unit == "$" else f"{_number(value)}{'%' if unit == '%' else ''}"
    return f"{label}: {shown} ({rule_condition(rule)})"


def score_compute(
    *, signals: dict[str, float | None], rules: list[RuleSpec], settings: Settings
) -> ScoreResult:
    idle = signals.get("idle_days") or 0
    totals = {Dimension.VALUE: 0.0, Dimension.ENGAGEMENT: 0.0}
    contributions = []
    for rule in rules:
        value = signals.get(rule.signal)
        if not rule_matches(rule, value):
            continue
        points = float(rule.points)
        if rule.half_life_days:
            points *= 0.5 ** (idle / rule.half_life_days)
        points = round(points, 1)
        if points == 0:
            continue
        totals[rule.dimension] = totals.get(rule.dimension, 0.0) + points
        contributions.append(
            {
                "rule": rule.id,
                "signal": rule.signal,
                "dimension": rule.dimension,
                "points": points,
                "value": value,
                "reason": rule_reason(rule, value),
            }
        )
    contributions.sort(key=lambda c: (-c["points"], c["signal"]))
    value_score = round(min(max(totals[Dimension.VALUE], 0), settings.value_points))
    engagement_score = round(min(max(totals[Dimension.ENGAGEMENT], 0), 100 - settings.value_points))
    return ScoreResult(
        score=min(max(value_score + engagement_score, 0), 100),
        value=value_score,
        engagement=engagement_score,
        contributions=contributions,
    )


@dataclass(frozen=True)
class RouteDecision:
    route: str
    reason: str
    # Set when a won-by-sales account is first seen: what expansion compares against.
    baseline: dict | None = None


def _day(value: datetime) -> str:
    return f"{value:%Y-%m-%d}"


def _money(value: float) -> str:
    """Whole dollars, rounded down: $9,999.99 must not read as the $10,000 floor."""
    return f"${math.floor(value):,}"


def expansion_reason(
    *, signals: dict, baseline: dict, settings: Settings, usage_limit: str
) -> str | None:
    """Why a won-by-sales account should get an expansion item, or None (seed 003, Grow)."""
    users, before = signals.get("active_users_30") or 0, baseline.get("active_users_30") or 0
    if (
        before
        and users > before
        and users >= before * (1 + settings.expansion_user_growth_pct / 100)
    ):
        return f"expansion: active users up from {before} to {users} since the win"
    departments = signals.get("departments_30") or 0
    if departments > (baseline.get("departments_30") or 0):
        return (
            f"expansion: {departments} departments active now, "
            f"{baseline.get('departments_30') or 0} at the win — a new department"
        )
    if signals.get("paid_plan") and (signals.get("usage_pct") or 0) >= 80:
        limit = usage_limit.replace("_", " ") or "a limit"
        return f"expansion: at {signals['usage_pct']:.0f}% of the {limit} limit on a paid plan"
    return None


def route_decide(
    *,
    facts: AccountFacts,
    signals: dict,
    score: ScoreResult,
    settings: Settings,
    now: datetime,
    cooldown_until: datetime | None = None,
    cooldown_reason: str = "",
    baseline: dict | None = None,
) -> RouteDecision:
    """The account's route and why, in words a rep understands."""
    if facts.merged_into_id:
        return RouteDecision(Route.NOT_ROUTED, "merged into another account")
    if facts.sales_request_at and facts.sales_request_at >= now - timedelta(
        days=settings.sales_request_days
    ):
        return RouteDecision(
            Route.INBOUND, f"asked for a demo or sales contact on {_day(facts.sales_request_at)}"
        )
    if (
        signals.get("checkout_in_progress")
        and facts.checkout_started_at
        and facts.checkout_started_at >= now - timedelta(hours=settings.checkout_hold_hours)
    ):
        return RouteDecision(
            Route.HELD,
            f"checkout in progress since {_day(facts.checkout_started_at)} — don't interrupt",
        )
    if cooldown_until and cooldown_until > now:
        why = f"{cooldown_reason} — " if cooldown_reason else ""
        return RouteDecision(Route.HELD, f"{why}backed off until {_day(cooldown_until)}")
    if facts.owner_id:
        if not baseline:
            baseline = {
                "active_users_30": signals.get("active_users_30") or 0,
                "departments_30": signals.get("departments_30") or 0,
                "since": _day(now),
            }
            fresh = baseline
        else:
            fresh = None
        reason = expansion_reason(
            signals=signals, baseline=baseline, settings=settings, usage_limit=facts.usage_limit
        )
        if reason:
            return RouteDecision(Route.EXPANSION, reason, fresh)
        return RouteDecision(
            Route.HELD, "customer won by sales — watched for expansion by its owner", fresh
        )
    if facts.arr_potential is not None and facts.arr_potential < settings.arr_floor:
        return RouteDecision(
            Route.SELF_SERVE,
            f"ARR potential {_money(facts.arr_potential)} is below the "
            f"{_money(settings.arr_floor)} floor — no sales touch",
        )
    high_value = score.value >= settings.value_cutoff
    high_engagement = score.engagement >= settings.engagement_cutoff
    if high_engagement and not high_value:
        return RouteDecision(
            Route.SELF_SERVE_HERO,
            f"self-serve hero: engagement {score.engagement} is high but value "
            f"{score.value} is low — never sent to sales",
        )
    if high_value and not high_engagement:
        return RouteDecision(
            Route.NURTURE,
            f"high value ({score.value}) but low engagement ({score.engagement}) — "
            "nurture, no rep yet",
        )
    if not high_value:
        return RouteDecision(
            Route.SELF_SERVE,
            f"low value ({score.value}) and low engagement ({score.engagement}) — self-serve",
        )
    if score.score > settings.ae_threshold:
        return RouteDecision(
            Route.AE, f"PQL: score {score.score} is above {settings.ae_threshold} — AE"
        )
    if score.score >= settings.sdr_threshold:
        return RouteDecision(
            Route.SDR,
            f"PQL: score {score.score} is {settings.sdr_threshold}–{settings.ae_threshold} — SDR",
        )
    return RouteDecision(
        Route.SELF_SERVE,
        f"score {score.score} is below {settings.sdr_threshold} — stays self-serve",
    )
