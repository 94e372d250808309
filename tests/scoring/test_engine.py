"""The pure engine: scores (clamping, negative points, decay, operators, reasons) and
routes in the order of DESIGN.md "Decisions", first match wins, with the boundary
scores 40, 70 and 71. No database: signals and account facts are built by hand."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scoring.engine import (
    RuleSpec,
    ScoreResult,
    Settings,
    route_decide,
    rule_matches,
    rule_reason,
    score_compute,
)
from scoring.models import Dimension, Operator, Route
from scoring.signals import AccountFacts

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
DEFAULTS = Settings()
VALUE, ENGAGEMENT = Dimension.VALUE, Dimension.ENGAGEMENT


def rule(signal="active_users_30", operator=Operator.GTE, threshold=5.0, points=10, **fields):
    fields.setdefault("dimension", ENGAGEMENT)
    return RuleSpec(
        id=fields.pop("id", None),
        signal=signal,
        operator=operator,
        threshold=threshold,
        points=points,
        **fields,
    )


def score(signals: dict, *rules: RuleSpec, settings: Settings = DEFAULTS) -> ScoreResult:
    return score_compute(signals=signals, rules=list(rules), settings=settings)


# --- Score --------------------------------------------------------------------------------


def test_points_go_to_their_dimension_and_the_score_is_their_sum():
    result = score(
        {"arr_potential": 30_000, "active_users_30": 6},
        rule("arr_potential", threshold=25_000, points=20, dimension=VALUE),
        rule("active_users_30", threshold=5, points=12),
        rule("active_users_30", threshold=7, points=5),  # not met
    )
    assert (result.score, result.value, result.engagement) == (32, 20, 12)


def test_value_is_clamped_to_the_value_points_and_engagement_to_the_rest():
    rules = [
        rule("arr_potential", threshold=1, points=30, dimension=VALUE),
        rule("employees", threshold=1, points=30, dimension=VALUE),
        rule("active_users_30", threshold=1, points=50),
        rule("core_features_30", threshold=1, points=50),
    ]
    signals = {"arr_potential": 1, "employees": 1, "active_users_30": 1, "core_features_30": 1}

    result = score(signals, *rules)
    assert (result.score, result.value, result.engagement) == (100, 40, 60)

    result = score(signals, *rules, settings=Settings(value_points=70))
    assert (result.score, result.value, result.engagement) == (90, 60, 30)


def test_negative_points_subtract_within_their_dimension_and_never_go_below_zero():
    rules = [
        rule("arr_potential", threshold=1, points=30, dimension=VALUE),
        rule("pricing_views_30", threshold=1, points=-10, dimension=VALUE),
        rule("active_users_30", threshold=1, points=12),
        rule("idle_days", threshold=14, points=-40),
    ]
    busy = score({"arr_potential": 1, "pricing_views_30": 1, "active_users_30": 1}, *rules)
    assert (busy.score, busy.value, busy.engagement) == (32, 20, 12)

    idle = score({"arr_potential": 1, "active_users_30": 1, "idle_days": 20}, *rules)
    # Engagement would be -28: it is 0, and it does not eat into value.
    assert (idle.score, idle.value, idle.engagement) == (30, 30, 0)
    assert [c["points"] for c in idle.contributions] == [30, 12, -40]


def test_only_negative_points_give_a_score_of_zero():
    result = score({"idle_days": 31}, rule("idle_days", threshold=14, points=-10))
    assert (result.score, result.value, result.engagement) == (0, 0, 0)
    assert result.reasons == []


@pytest.mark.parametrize(
    ("idle", "points"),
    [(0, 20.0), (7, 10.0), (14, 5.0), (21, 2.5), (3.5, 14.1)],
)
def test_points_with_a_half_life_halve_for_every_half_life_idle(idle, points):
    result = score(
        {"pricing_views_30": 3, "idle_days": idle},
        rule("pricing_views_30", threshold=2, points=20, dimension=VALUE, half_life_days=7),
    )
    assert [c["points"] for c in result.contributions] == [points]


def test_decay_applies_only_to_rules_with_a_half_life():
    result = score(
        {"pricing_views_30": 3, "active_users_30": 8, "idle_days": 14},
        rule("pricing_views_30", threshold=2, points=20, dimension=VALUE, half_life_days=7),
        rule("active_users_30", threshold=5, points=20),
    )
    assert (result.value, result.engagement, result.score) == (5, 20, 25)


def test_points_that_decay_to_nothing_leave_no_contribution():
    result = score(
        {"paywall_hits_14": 1, "idle_days": 31},
        rule("paywall_hits_14", threshold=1, points=1, half_life_days=1),
    )
    assert result.contributions == []
    assert result.score == 0


@pytest.mark.parametrize(
    ("operator", "threshold", "high", "matches", "misses"),
    [
        (Operator.GTE, 5, None, [5, 5.5, 100], [4.9, 0]),
        (Operator.GT, 5, None, [5.1, 6], [5, 4]),
        (Operator.LTE, 5, None, [5, 0, -1], [5.1, 6]),
        (Operator.LT, 5, None, [4.9, 0], [5, 6]),
        (Operator.EQ, 1, None, [1, 1.0], [0, 2, 0.99]),
        (Operator.BETWEEN, 3, 8, [3, 5, 8], [2.9, 8.1]),
    ],
)
def test_operators(operator, threshold, high, matches, misses):
    spec = rule(operator=operator, threshold=threshold, threshold_high=high)
    assert [rule_matches(spec, v) for v in matches] == [True] * len(matches)
    assert [rule_matches(spec, v) for v in misses] == [False] * len(misses)


def test_between_without_an_upper_bound_and_a_missing_signal_never_match():
    assert not rule_matches(rule(operator=Operator.BETWEEN, threshold=0), 5)
    for operator in Operator:
        assert not rule_matches(rule(operator=operator, threshold=0, threshold_high=9), None)


def test_a_rule_on_sales_request_days_never_matches_an_account_that_never_asked():
    result = score(
        {"sales_request_days": None},
        rule("sales_request_days", operator=Operator.LTE, threshold=30, points=30),
    )
    assert result.contributions == []


def test_contributions_keep_every_matching_rule_with_its_value_and_reason():
    arr = rule("arr_potential", threshold=25_000, points=20, dimension=VALUE, id=1)
    users = rule("active_users_30", threshold=5, points=12, id=2, label="Active users, 30 days")
    idle = rule("idle_days", threshold=3, points=-5, id=3, label="Quiet lately")
    result = score(
        {"arr_potential": 42_000.0, "active_users_30": 7, "idle_days": 4}, arr, users, idle
    )
    assert result.contributions == [
        {
            "rule": 1,
            "signal": "arr_potential",
            "dimension": "value",
            "points": 20.0,
            "value": 42_000.0,
            "reason": "ARR potential: $42,000 (≥ 25,000)",
        },
        {
            "rule": 2,
            "signal": "active_users_30",
            "dimension": "engagement",
            "points": 12.0,
            "value": 7,
            "reason": "Active users, 30 days: 7 (≥ 5)",
        },
        {
            "rule": 3,
            "signal": "idle_days",
            "dimension": "engagement",
            "points": -5.0,
            "value": 4,
            "reason": "Quiet lately: 4 (≥ 3)",
        },
    ]
    # Reasons are the positive contributions, strongest first.
    assert result.reasons == [
        "ARR potential: $42,000 (≥ 25,000)",
        "Active users, 30 days: 7 (≥ 5)",
    ]


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        (rule("usage_pct", threshold=80), 85.5, "Usage of the plan's limit: 85.5% (≥ 80)"),
        (rule("icp_domain", operator=Operator.EQ, threshold=1), 1, "ICP domain"),
        (
            rule("active_users_30", operator=Operator.BETWEEN, threshold=3, threshold_high=8),
            5,
            "Active users, 30 days: 5 (3–8)",
        ),
        (
            rule("employees", operator=Operator.GT, threshold=1000),
            1500,
            "Employees: 1,500 (> 1,000)",
        ),
        (
            rule("idle_days", operator=Operator.LT, threshold=2),
            1,
            "Days since last activity: 1 (< 2)",
        ),
        (
            rule("invites_30", operator=Operator.LTE, threshold=2.5, label="Few invites"),
            2,
            "Few invites: 2 (≤ 2.5)",
        ),
    ],
)
def test_reasons_read_like_a_rep_would_say_them(spec, value, reason):
    assert rule_reason(spec, value) == reason


def test_stronger_contributions_come_first_and_ties_go_by_signal_name():
    result = score(
        {"invites_30": 3, "active_days_30": 6, "core_features_30": 4},
        rule("invites_30", threshold=3, points=5),
        rule("active_days_30", threshold=5, points=5),
        rule("core_features_30", threshold=4, points=10),
    )
    assert [c["signal"] for c in result.contributions] == [
        "core_features_30",
        "active_days_30",
        "invites_30",
    ]


def test_a_strong_pql_fills_value_and_nearly_fills_engagement_with_the_seed_rules():
    rules = [
        rule("arr_potential", threshold=25_000, points=20, dimension=VALUE),
        rule("employees", threshold=500, points=20, dimension=VALUE),
        rule("active_users_30", threshold=5, points=12),
        rule("active_users_30", threshold=7, points=5),
        rule("core_features_30", threshold=4, points=10),
        rule("active_days_14", threshold=10, points=10),
        rule("usage_pct", threshold=80, points=10, half_life_days=14),
        rule("invites_30", threshold=3, points=5),
        rule("active_days_30", threshold=5, points=5),
    ]
    signals = {
        "arr_potential": 60_000,
        "employees": 900,
        "active_users_30": 9,
        "core_features_30": 4,
        "active_days_14": 12,
        "usage_pct": 92.0,
        "invites_30": 4,
        "active_days_30": 20,
        "idle_days": 0,
    }
    result = score(signals, *rules)
    assert (result.score, result.value, result.engagement) == (97, 40, 57)


# --- Routing ------------------------------------------------------------------------------


def facts(**fields) -> AccountFacts:
    defaults = {
        "id": 1,
        "name": "Acme",
        "domain": "acme.com",
        "plan_id": None,
        "owner_id": None,
        "merged_into_id": None,
        "created_at": NOW - timedelta(days=90),
        "arr_potential": 50_000.0,
        "checkout_started_at": None,
        "checkout_completed_at": None,
        "sales_request_at": None,
        "usage_changed_at": NOW,
    }
    return AccountFacts(**{**defaults, **fields})


def scored(value: int, engagement: int) -> ScoreResult:
    return ScoreResult(score=value + engagement, value=value, engagement=engagement)


PQL = scored(40, 40)  # high value, high engagement, 80


def route(
    *,
    account: AccountFacts | None = None,
    signals: dict | None = None,
    result: ScoreResult = PQL,
    settings: Settings = DEFAULTS,
    **guards,
):
    account = account or facts()
    signals = signals if signals is not None else {}
    if account.checkout_started_at and "checkout_in_progress" not in signals:
        done = account.checkout_completed_at
        signals = {
            **signals,
            "checkout_in_progress": int(done is None or done < account.checkout_started_at),
        }
    return route_decide(
        facts=account, signals=signals, score=result, settings=settings, now=NOW, **guards
    )


def test_step_1_a_merged_away_account_is_not_routed():
    decision = route(account=facts(merged_into_id=7))
    assert (decision.route, decision.reason) == (Route.NOT_ROUTED, "merged into another account")


def test_step_2_a_sales_request_in_the_window_is_inbound():
    decision = route(account=facts(sales_request_at=NOW - timedelta(days=30)))
    assert decision.route == Route.INBOUND
    assert decision.reason == "asked for a demo or sales contact on 2026-02-18"


def test_step_2_a_sales_request_older_than_the_window_is_not_inbound():
    decision = route(account=facts(sales_request_at=NOW - timedelta(days=30, seconds=1)))
    assert decision.route == Route.AE
    decision = route(
        account=facts(sales_request_at=NOW - timedelta(days=8)),
        settings=Settings(sales_request_days=7),
    )
    assert decision.route == Route.AE


def test_step_3_a_checkout_in_progress_within_the_hold_is_held():
    started = NOW - timedelta(hours=48)
    decision = route(account=facts(checkout_started_at=started))
    assert decision.route == Route.HELD
    assert decision.reason == "checkout in progress since 2026-03-18 — don't interrupt"


def test_step_3_a_checkout_older_than_the_hold_or_completed_is_not_held():
    stale = facts(checkout_started_at=NOW - timedelta(hours=48, seconds=1))
    assert route(account=stale).route == Route.AE
    done = facts(
        checkout_started_at=NOW - timedelta(hours=2),
        checkout_completed_at=NOW - timedelta(hours=1),
    )
    assert route(account=done).route == Route.AE
    short_hold = Settings(checkout_hold_hours=1)
    two_hours = facts(checkout_started_at=NOW - timedelta(hours=2))
    assert route(account=two_hours, settings=short_hold).route == Route.AE


def test_step_4_a_cool_down_holds_until_it_ends():
    until = NOW + timedelta(days=12)
    decision = route(cooldown_until=until, cooldown_reason="no response to the first touch")
    assert decision.route == Route.HELD
    assert decision.reason == "no response to the first touch — backed off until 2026-04-01"
    assert route(cooldown_until=until).reason == "backed off until 2026-04-01"


def test_step_4_a_cool_down_that_ended_holds_no_more():
    assert route(cooldown_until=NOW).route == Route.AE
    assert route(cooldown_until=NOW - timedelta(days=1)).route == Route.AE
    assert route(cooldown_until=NOW + timedelta(seconds=1)).route == Route.HELD


def test_step_5_an_account_won_by_sales_is_watched_by_its_owner():
    decision = route(
        account=facts(owner_id=3), signals={"active_users_30": 10, "departments_30": 2}
    )
    assert decision.route == Route.HELD
    assert decision.reason == "customer won by sales — watched for expansion by its owner"
    # First seen won: its usage now is what expansion compares against.
    assert decision.baseline == {"active_users_30": 10, "departments_30": 2, "since": "2026-03-20"}


@pytest.mark.parametrize(
    ("signals", "reason"),
    [
        (
            {"active_users_30": 15, "departments_30": 2},
            "expansion: active users up from 10 to 15 since the win",
        ),
        (
            {"active_users_30": 10, "departments_30": 3},
            "expansion: 3 departments active now, 2 at the win — a new department",
        ),
        (
            {"active_users_30": 10, "departments_30": 2, "paid_plan": 1, "usage_pct": 80.0},
            "expansion: at 80% of the seats limit on a paid plan",
        ),
    ],
)
def test_step_5_a_won_account_that_grows_opens_an_expansion_item(signals, reason):
    decision = route(
        account=facts(owner_id=3, usage_limit="seats"),
        signals=signals,
        baseline={"active_users_30": 10, "departments_30": 2, "since": "2026-01-05"},
    )
    assert (decision.route, decision.reason) == (Route.EXPANSION, reason)
    assert decision.baseline is None  # the stored baseline stays


@pytest.mark.parametrize(
    "signals",
    [
        {"active_users_30": 14, "departments_30": 2},  # up 40 %, not 50 %
        {"active_users_30": 10, "departments_30": 1},
        {"active_users_30": 10, "departments_30": 2, "paid_plan": 0, "usage_pct": 95.0},
        {"active_users_30": 10, "departments_30": 2, "paid_plan": 1, "usage_pct": 79.9},
    ],
)
def test_step_5_a_won_account_that_does_not_grow_stays_watched(signals):
    decision = route(
        account=facts(owner_id=3),
        signals=signals,
        baseline={"active_users_30": 10, "departments_30": 2, "since": "2026-01-05"},
    )
    assert decision.route == Route.HELD


def test_step_6_arr_potential_below_the_floor_is_self_serve_whatever_the_score():
    decision = route(account=facts(arr_potential=9_500.0), result=scored(40, 60))
    assert decision.route == Route.SELF_SERVE
    assert decision.reason == "ARR potential $9,500 is below the $10,000 floor — no sales touch"
    assert route(account=facts(arr_potential=9_999.99)).route == Route.SELF_SERVE
    assert route(account=facts(arr_potential=10_000.0)).route == Route.AE
    assert route(account=facts(arr_potential=None)).route == Route.AE  # unknown: not below


@pytest.mark.parametrize(
    ("value", "engagement", "expected", "reason"),
    [
        (
            19,
            30,
            Route.SELF_SERVE_HERO,
            "self-serve hero: engagement 30 is high but value 19 is low — never sent to sales",
        ),
        (
            0,
            60,
            Route.SELF_SERVE_HERO,
            "self-serve hero: engagement 60 is high but value 0 is low — never sent to sales",
        ),
        (20, 29, Route.NURTURE, "high value (20) but low engagement (29) — nurture, no rep yet"),
        (40, 0, Route.NURTURE, "high value (40) but low engagement (0) — nurture, no rep yet"),
        (19, 29, Route.SELF_SERVE, "low value (19) and low engagement (29) — self-serve"),
        (20, 30, Route.SDR, "PQL: score 50 is 40–70 — SDR"),
        (40, 60, Route.AE, "PQL: score 100 is above 70 — AE"),
    ],
)
def test_step_7_the_value_engagement_matrix(value, engagement, expected, reason):
    decision = route(result=scored(value, engagement))
    assert (decision.route, decision.reason) == (expected, reason)


# Cut-offs low enough that scores 39 and 40 are PQLs (high value and high engagement).
LOW_CUTOFFS = Settings(value_cutoff=10, engagement_cutoff=10)


@pytest.mark.parametrize(
    ("value", "engagement", "expected", "reason"),
    [
        (40, 31, Route.AE, "PQL: score 71 is above 70 — AE"),
        (40, 30, Route.SDR, "PQL: score 70 is 40–70 — SDR"),
        (20, 20, Route.SDR, "PQL: score 40 is 40–70 — SDR"),
        (20, 19, Route.SELF_SERVE, "score 39 is below 40 — stays self-serve"),
    ],
)
def test_step_8_a_pql_above_70_goes_to_an_ae_40_to_70_to_an_sdr_below_40_stays(
    value, engagement, expected, reason
):
    decision = route(result=scored(value, engagement), settings=LOW_CUTOFFS)
    assert (decision.route, decision.reason) == (expected, reason)


def test_the_thresholds_are_the_rule_sets():
    settings = replace(LOW_CUTOFFS, ae_threshold=80, sdr_threshold=50)
    assert route(result=scored(40, 40), settings=settings).route == Route.SDR
    assert route(result=scored(40, 41), settings=settings).route == Route.AE
    assert route(result=scored(25, 24), settings=settings).route == Route.SELF_SERVE


# --- Earlier steps win --------------------------------------------------------------------


def everything(**overrides) -> AccountFacts:
    """An account every step would claim: merged, asked for sales, checking out, won
    by sales, below the ARR floor."""
    fields = {
        "merged_into_id": 7,
        "sales_request_at": NOW - timedelta(days=1),
        "checkout_started_at": NOW - timedelta(hours=1),
        "owner_id": 3,
        "arr_potential": 500.0,
    }
    return facts(**{**fields, **overrides})


def test_an_earlier_step_wins_over_every_later_one():
    cooldown = {"cooldown_until": NOW + timedelta(days=3), "cooldown_reason": "lost"}
    signals = {"active_users_30": 10, "departments_30": 2}
    steps = [
        (everything(), Route.NOT_ROUTED, "merged into another account"),
        (everything(merged_into_id=None), Route.INBOUND, "asked for a demo"),
        (
            everything(merged_into_id=None, sales_request_at=None),
            Route.HELD,
            "checkout in progress",
        ),
        (
            everything(merged_into_id=None, sales_request_at=None, checkout_started_at=None),
            Route.HELD,
            "lost — backed off until 2026-03-23",
        ),
    ]
    for account, expected, reason in steps:
        decision = route(account=account, signals=signals, **cooldown)
        assert decision.route == expected
        assert decision.reason.startswith(reason)

    no_guards = everything(merged_into_id=None, sales_request_at=None, checkout_started_at=None)
    decision = route(account=no_guards, signals=signals)
    assert decision.reason == "customer won by sales — watched for expansion by its owner"
    decision = route(account=replace(no_guards, owner_id=None), signals=signals)
    assert decision.route == Route.SELF_SERVE
    assert decision.reason.startswith("ARR potential $500 is below")


def test_a_sales_request_older_than_the_window_does_not_beat_a_cool_down():
    decision = route(
        account=facts(sales_request_at=NOW - timedelta(days=45)),
        cooldown_until=NOW + timedelta(days=3),
    )
    assert decision.route == Route.HELD
