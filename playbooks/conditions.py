"""Play conditions: what they may test, how they are checked, and how a match reads.

A play's ``conditions`` is a list of dicts, all of which must hold::

    {"signal": "active_users_30", "operator": "gte", "threshold": 5}
    {"signal": "plan", "operator": "in", "values": ["free"]}
    {"signal": "limit_hits", "key": "exports", "days": 7, "operator": "gte", "threshold": 2}

``signal`` names a stored signal of the scoring registry (``scoring.signals.SIGNALS``) or
one of the account facts below, which playbooks computes in bulk from the account, its
stored score and the rollups (never raw events). A condition may carry a ``label`` with
``{value}`` in it to say the match in the admin's own words.

Pure code: no queries, so the bulk matching, the editor's preview and the tests share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scoring.models import Route
from scoring.signals import SIGNALS, SIGNALS_BY_NAME

NUMERIC_OPERATORS = {
    "gte": "≥",
    "gt": ">",
    "lte": "≤",
    "lt": "<",
    "eq": "=",
    "ne": "≠",
    "between": "between",
}
CHOICE_OPERATORS = {"in": "is one of", "not_in": "is none of"}
OPERATORS = {**NUMERIC_OPERATORS, **CHOICE_OPERATORS}
MAX_DAYS = 90  # the rollups the dossier charts keep in view; windows stay within them
MAX_CONDITIONS = 12


@dataclass(frozen=True)
class Fact:
    """A value a condition may test, besides the stored signals."""

    name: str
    label: str
    kind: str  # "number", "choice" or "windowed" (needs key and days)
    help: str


FACTS: tuple[Fact, ...] = (
    Fact("route", "Route", "choice", "The account's current route (ae, sdr, inbound, …)."),
    Fact("plan", "Plan", "choice", "The plan key (free, trial, team, …); no plan counts as the "
         "lowest plan, as scoring does."),
    Fact("account_age_days", "Account age (days)", "number",
         "Days since the account was first seen (signup or first event)."),
    Fact("departments_new", "New departments since the win", "number",
         "Departments active in 30 days beyond those active when sales won the account "
         "(0 for accounts not won by sales)."),
    Fact("feature_events", "Feature events (key, days)", "windowed",
         "Events of a tracking-plan feature key (api, export, integrations, …) in the last "
         "N days; integrations:slack counts under integrations."),
    Fact("limit_hits", "Limit hits (key, days)", "windowed",
         "Hits of a plan limit (exports, seats, api_calls, …; blank: any limit) in the last "
         "N days."),
)  # fmt: skip
FACTS_BY_NAME = {f.name: f for f in FACTS}

ROUTE_LABELS = dict(Route.choices)


def subject_choices() -> list[tuple[str, str]]:
    """What a condition may test, grouped for a select box."""
    signals = [(s.name, f"{s.label} ({s.unit})") for s in SIGNALS]
    facts = [(f.name, f.label) for f in FACTS]
    return [("Account facts", facts), ("Stored signals", signals)]


def subject_kind(name: str) -> str | None:
    if name in SIGNALS_BY_NAME:
        return "number"
    fact = FACTS_BY_NAME.get(name)
    return fact.kind if fact else None


def window_name(kind: str, key: str, days: int) -> str:
    """The facts key of a windowed count: ``feature_events:api:30``."""
    return f"{kind}:{key}:{days}"


# --- validation ---------------------------------------------------------------------------


class ConditionError(ValueError):
    """A condition that cannot be checked; the message names the condition and field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _number(value, where: str, field: str) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ConditionError(f"{where}: “{field}” must be a number, not {value!r}.", field)
    return number


def _tidy(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def condition_clean(raw, *, position: int) -> dict:
    """One condition, checked and normalised; ``position`` is 1-based for messages. A
    ConditionError names the condition and the field (``.field``)."""
    where = f"Condition {position}"
    if not isinstance(raw, dict):
        raise ConditionError(f"{where}: must be an object with “signal” and “operator”.")
    unknown = set(raw) - {"signal", "operator", "threshold", "threshold_high", "values", "key",
                          "days", "label"}  # fmt: skip
    if unknown:
        raise ConditionError(f"{where}: unknown field “{sorted(unknown)[0]}”.")
    subject = raw.get("signal")
    kind = subject_kind(subject) if isinstance(subject, str) else None
    if kind is None:
        raise ConditionError(
            f"{where}: “signal” must be a stored signal or an account fact, not {subject!r}.",
            "signal",
        )
    operator = raw.get("operator")
    clean: dict = {"signal": subject, "operator": operator}
    if kind == "choice":
        if operator not in CHOICE_OPERATORS:
            raise ConditionError(
                f"{where}: “operator” of {subject} must be “in” or “not_in”, not {operator!r}.",
                "operator",
            )
        values = raw.get("values")
        if isinstance(values, str):
            values = [v for v in (part.strip() for part in values.split(",")) if v]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v.strip() for v in values)
        ):
            raise ConditionError(f"{where}: “values” must list at least one {subject}.", "values")
        values = [v.strip() for v in values]
        if subject == "route":
            wrong = [v for v in values if v not in ROUTE_LABELS]
            if wrong:
                raise ConditionError(
                    f"{where}: “values” has an unknown route {wrong[0]!r} "
                    f"(routes: {', '.join(ROUTE_LABELS)}).",
                    "values",
                )
        clean["values"] = values
    else:
        if operator not in NUMERIC_OPERATORS:
            raise ConditionError(
                f"{where}: “operator” must be one of {', '.join(NUMERIC_OPERATORS)}, "
                f"not {operator!r}.",
                "operator",
            )
        if raw.get("threshold") in (None, ""):
            raise ConditionError(f"{where}: “threshold” is required.", "threshold")
        threshold = _number(raw.get("threshold"), where, "threshold")
        clean["threshold"] = _tidy(threshold)
        if operator == "between":
            if raw.get("threshold_high") in (None, ""):
                raise ConditionError(
                    f"{where}: “between” needs “threshold_high”.", "threshold_high"
                )
            high = _number(raw.get("threshold_high"), where, "threshold_high")
            if high < threshold:
                raise ConditionError(
                    f"{where}: “threshold_high” ({_tidy(high)}) is below “threshold” "
                    f"({_tidy(threshold)}).",
                    "threshold_high",
                )
            clean["threshold_high"] = _tidy(high)
    if kind == "windowed":
        key = raw.get("key") or ""
        if not isinstance(key, str) or (key and not _slug_like(key)):
            raise ConditionError(
                f"{where}: “key” must be a tracking-plan key like export or api_calls.", "key"
            )
        if subject == "feature_events" and not key:
            raise ConditionError(f"{where}: “key” names the feature (api, export, …).", "key")
        days = raw.get("days")
        if isinstance(days, str) and days.strip().isdigit():
            days = int(days.strip())
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise ConditionError(
                f"{where}: “days” must be a whole number from 1 to {MAX_DAYS}.", "days"
            )
        clean["key"], clean["days"] = key, days
    label = raw.get("label") or ""
    if not isinstance(label, str) or len(label) > 120:
        raise ConditionError(f"{where}: “label” must be text of at most 120 characters.", "label")
    if label.strip():
        clean["label"] = label.strip()
    return clean


def _slug_like(key: str) -> bool:
    return len(key) <= 80 and "__" not in key and all(c.isalnum() or c in "_-:" for c in key)


def conditions_clean(raw) -> list[dict]:
    """The whole list, checked: at least one condition, each valid."""
    if not isinstance(raw, list):
        raise ConditionError("Conditions must be a list.")
    if not raw:
        raise ConditionError("A play needs at least one condition.")
    if len(raw) > MAX_CONDITIONS:
        raise ConditionError(f"A play has at most {MAX_CONDITIONS} conditions.")
    return [condition_clean(c, position=i) for i, c in enumerate(raw, start=1)]


# --- evaluation ---------------------------------------------------------------------------


def condition_value(condition: dict, facts: dict):
    """The account's value for the condition (None when unknown)."""
    subject = condition["signal"]
    if subject_kind(subject) == "windowed":
        return facts.get(window_name(subject, condition.get("key", ""), condition["days"]), 0)
    return facts.get(subject)


def condition_holds(condition: dict, value) -> bool:
    operator = condition["operator"]
    if operator in CHOICE_OPERATORS:
        inside = value in condition["values"]
        return inside if operator == "in" else (value is not None and not inside)
    if value is None or isinstance(value, str):
        return False
    t = condition["threshold"]
    match operator:
        case "gte":
            return value >= t
        case "gt":
            return value > t
        case "lte":
            return value <= t
        case "lt":
            return value < t
        case "eq":
            return value == t
        case "ne":
            return value != t
        case "between":
            return t <= value <= condition["threshold_high"]
    return False


def _num(value) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def _count(n, one: str, many: str | None = None) -> str:
    many = many or f"{one}s"
    if n is None:
        return f"no {many}"
    if n == 0:
        return f"no {many}"
    return f"{_num(n)} {one if n == 1 else many}"


# Each phrase says the account's value in a rep's words: "7 active users in 30 days".
PHRASES: dict[str, Callable[[float], str]] = {
    "active_users_7": lambda v: f"{_count(v, 'active user')} in the last 7 days",
    "active_users_30": lambda v: f"{_count(v, 'active user')} in the last 30 days",
    "core_features_30": lambda v: f"{_count(v, 'core feature')} used in 30 days",
    "integrations": lambda v: f"{_count(v, 'integration')} connected",
    "usage_pct": lambda v: f"{_num(v)} % of a plan limit used",
    "active_days_14": lambda v: f"active {_num(v)} of the last 14 days",
    "active_days_30": lambda v: f"active {_num(v)} of the last 30 days",
    "users_wow_pct": lambda v: (
        f"active users {'up' if v >= 0 else 'down'} {_num(abs(v))} % week over week"
    ),
    "events_wow_pct": lambda v: (
        f"events {'up' if v >= 0 else 'down'} {_num(abs(v))} % week over week"
    ),
    "departments_30": lambda v: f"{_count(v, 'department')} active in 30 days",
    "invites_30": lambda v: f"{_count(v, 'teammate')} invited in 30 days",
    "employees": lambda v: f"{_count(v, 'employee')}",
    "icp_domain": lambda v: "an ICP domain" if v else "not an ICP domain",
    "icp_industry": lambda v: "an ICP industry" if v else "not an ICP industry",
    "arr_potential": lambda v: f"${_num(v)} ARR potential",
    "pricing_views_30": lambda v: f"{_count(v, 'pricing page view')} in 30 days",
    "legal_views_30": lambda v: f"{_count(v, 'terms or privacy page view')} in 30 days",
    "security_views_30": lambda v: f"{_count(v, 'security page view')} in 30 days",
    "sso_audit_30": lambda v: f"{_count(v, 'SSO or audit-log attempt')} in 30 days",
    "admin_change_30": lambda v: f"{_count(v, 'admin change')} in 30 days",
    "paywall_hits_14": lambda v: (
        f"{_count(v, 'paywall hit')} (features not in the plan) in 14 days"
    ),
    "limit_hits_7": lambda v: f"{_count(v, 'limit hit')} this week",
    "limit_hits_14": lambda v: f"{_count(v, 'limit hit')} in 14 days",
    "api_key_30": lambda v: f"{_count(v, 'API key')} created in 30 days",
    "idle_days": lambda v: f"idle for {_count(v, 'day')}",
    "checkout_in_progress": lambda v: "a checkout in progress" if v else "no checkout in progress",
    "sales_request_days": lambda v: (
        "asked for a demo or sales contact " + ("today" if v == 0 else f"{_count(v, 'day')} ago")
    ),
    "paid_plan": lambda v: "on a paid plan" if v else "not on a paid plan",
    "account_age_days": lambda v: (
        "signed up today" if v == 0 else f"signed up {_count(v, 'day')} ago"
    ),
    "departments_new": lambda v: f"{_count(v, 'new department')} since the win",
}


def condition_words(condition: dict, value, *, plan_names: dict[str, str] | None = None) -> str:
    """The condition as it holds for this account, in words."""
    subject = condition["signal"]
    label = condition.get("label")
    if label:
        shown = value if isinstance(value, str) else _num(value)
        return label.replace("{value}", shown)
    if subject == "plan":
        name = (plan_names or {}).get(value, value or "no")
        return f"on the {name} plan"
    if subject == "route":
        return f"routed {ROUTE_LABELS.get(value, value or 'nowhere')}"
    if subject == "feature_events":
        return f"{_count(value, condition['key'] + ' event')} in {condition['days']} days"
    if subject == "limit_hits":
        key = condition.get("key", "").replace("_", " ")
        what = f"{key} limit" if key else "plan limits"
        return f"{what} hit {_count(value, 'time')} in {condition['days']} days"
    if subject == "sales_request_days" and value in (None, ""):
        return "never asked for a demo or sales contact"
    phrase = PHRASES.get(subject)
    if phrase is None or value in (None, ""):
        signal = SIGNALS_BY_NAME.get(subject)
        shown = "unknown" if value in (None, "") else _num(value)
        return f"{signal.label if signal else subject}: {shown}"
    return phrase(value)


def condition_rule(condition: dict) -> str:
    """The condition itself, for the editor: "Active users, 30 days ≥ 5"."""
    subject = condition["signal"]
    signal = SIGNALS_BY_NAME.get(subject)
    fact = FACTS_BY_NAME.get(subject)
    name = signal.label if signal else fact.label if fact else subject
    if fact and fact.kind == "windowed":
        key = condition.get("key") or "any"
        name = f"{fact.label.split(' (')[0]} of {key} in {condition['days']} days"
    operator = condition["operator"]
    if operator in CHOICE_OPERATORS:
        return f"{name} {CHOICE_OPERATORS[operator]} {', '.join(condition['values'])}"
    if operator == "between":
        return f"{name} between {_num(condition['threshold'])} and " + _num(
            condition["threshold_high"]
        )
    return f"{name} {NUMERIC_OPERATORS[operator]} {_num(condition['threshold'])}"


@dataclass(frozen=True)
class ConditionCheck:
    condition: dict
    rule: str
    value: object
    holds: bool
    words: str


def conditions_check(
    conditions: list[dict], facts: dict, *, plan_names: dict[str, str] | None = None
) -> list[ConditionCheck]:
    """Every condition against one account's facts (the editor's preview)."""
    checks = []
    for condition in conditions:
        value = condition_value(condition, facts)
        checks.append(
            ConditionCheck(
                condition=condition,
                rule=condition_rule(condition),
                value=value,
                holds=condition_holds(condition, value),
                words=condition_words(condition, value, plan_names=plan_names),
            )
        )
    return checks


@dataclass(frozen=True)
class PlaySpec:
    """A play detached from the database, as matching reads it."""

    id: int
    priority: int
    name: str
    conditions: tuple[dict, ...]


def play_match(
    play: PlaySpec, facts: dict, *, plan_names: dict[str, str] | None = None
) -> list[str] | None:
    """The matched conditions in words when all hold, else None. A play without
    conditions matches nothing (it would match every account)."""
    if not play.conditions:
        return None
    words = []
    for condition in play.conditions:
        value = condition_value(condition, facts)
        if not condition_holds(condition, value):
            return None
        words.append(condition_words(condition, value, plan_names=plan_names))
    return words


def best_play(
    plays: list[PlaySpec], facts: dict, *, plan_names: dict[str, str] | None = None
) -> tuple[PlaySpec, list[str]] | None:
    """The best matching play: highest priority, then most conditions, then name."""
    ordered = sorted(plays, key=lambda p: (-p.priority, -len(p.conditions), p.name, p.id))
    for play in ordered:
        words = play_match(play, facts, plan_names=plan_names)
        if words is not None:
            return play, words
    return None


def windows_needed(plays: list[PlaySpec] | list[list[dict]]) -> dict[str, set[tuple[str, int]]]:
    """The (key, days) windows the conditions read, by kind: what the bulk query sums."""
    needed: dict[str, set[tuple[str, int]]] = {"feature_events": set(), "limit_hits": set()}
    for play in plays:
        conditions = play.conditions if isinstance(play, PlaySpec) else play
        for condition in conditions:
            if condition.get("signal") in needed:
                needed[condition["signal"]].add((condition.get("key", ""), condition["days"]))
    return needed
