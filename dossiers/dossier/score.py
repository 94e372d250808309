"""The score breakdown: every rule of the set with its points, the value × engagement
cell, the route and why, and the score history."""

from __future__ import annotations

from accounts.models import Account
from scoring.engine import rule_condition
from scoring.models import AccountScore, Route, ScoreHistory
from scoring.services.run import rule_specs
from scoring.signals import SIGNALS_BY_NAME

SCORE_HISTORY_ROWS = 200

# What each route means for the rep, in the seeds' words (the reason says why this one).
ROUTE_HELP = {
    Route.AE: "A PQL for an AE: high value and high engagement, score above the AE threshold.",
    Route.SDR: "A PQL for an SDR: high value and high engagement, score in the SDR band.",
    Route.INBOUND: "Inbound: the account asked for a demo or sales contact — answer it.",
    Route.EXPANSION: "Expansion of a customer won by sales: usage grew past the win.",
    Route.NURTURE: "Nurture: high value, low engagement — marketing content, no rep yet.",
    Route.SELF_SERVE: "Self-serve: no sales touch.",
    Route.SELF_SERVE_HERO: (
        "Self-serve hero: high engagement, low value — converting by itself, never sent to sales."
    ),
    Route.HELD: "Held: a guard keeps reps away for now.",
    Route.NOT_ROUTED: "Not routed.",
}


def score_get(*, account: Account) -> dict | None:
    """The score breakdown, or None when the account is not scored yet."""
    score = AccountScore.objects.select_related("rule_set").filter(account=account).first()
    if score is None:
        return None
    rule_set = score.rule_set
    points = {c.get("rule"): c for c in score.contributions}
    rules = []
    for spec in rule_specs(rule_set):
        contribution = points.pop(spec.id, None)
        signal = SIGNALS_BY_NAME.get(spec.signal)
        rules.append(
            {
                "label": spec.label or (signal.label if signal else spec.signal),
                "condition": rule_condition(spec),
                "dimension": spec.dimension,
                "value": score.signals.get(spec.signal),
                "unit": signal.unit if signal else "",
                "rule_points": spec.points,
                "points": contribution["points"] if contribution else 0,
                "reason": contribution["reason"] if contribution else "",
                "matched": contribution is not None,
            }
        )
    for contribution in points.values():  # rules since removed from the set
        rules.append(
            {
                "label": contribution.get("reason", contribution.get("signal", "")),
                "condition": "",
                "dimension": contribution.get("dimension", ""),
                "value": contribution.get("value"),
                "unit": "",
                "rule_points": contribution.get("points", 0),
                "points": contribution.get("points", 0),
                "reason": contribution.get("reason", ""),
                "matched": True,
            }
        )
    rules.sort(key=lambda r: (not r["matched"], -abs(r["points"]), r["label"]))
    high_value = score.value >= rule_set.value_cutoff
    high_engagement = score.engagement >= rule_set.engagement_cutoff
    cell = {
        (True, True): "high value × high engagement: a PQL",
        (True, False): "high value × low engagement: nurture",
        (False, True): "low value × high engagement: a self-serve hero",
        (False, False): "low value × low engagement: self-serve",
    }[(high_value, high_engagement)]
    history = [
        {**row, "route_label": Route(row["route"]).label}
        for row in reversed(
            ScoreHistory.objects.filter(account=account)
            .order_by("-at", "-pk")
            .values("at", "score", "value", "engagement", "route")[:SCORE_HISTORY_ROWS]
        )
    ]
    return {
        "score": score.score,
        "value": score.value,
        "engagement": score.engagement,
        "value_points": rule_set.value_points,
        "engagement_points": rule_set.engagement_points,
        "value_cutoff": rule_set.value_cutoff,
        "engagement_cutoff": rule_set.engagement_cutoff,
        "ae_threshold": rule_set.ae_threshold,
        "sdr_threshold": rule_set.sdr_threshold,
        "high_value": high_value,
        "high_engagement": high_engagement,
        "cell": cell,
        "route": score.route,
        "route_label": score.get_route_display(),
        "route_reason": score.route_reason,
        "route_help": ROUTE_HELP.get(score.route, ""),
        "cooldown_until": score.cooldown_until,
        "rule_set": str(rule_set),
        "scored_at": score.scored_at,
        "rules": rules,
        "history": history,
    }
