"""Play conditions: validation that names the condition and the field, evaluation, the
words a rep reads, and which play wins when several match."""

import pytest

from playbooks.conditions import (
    ConditionError,
    PlaySpec,
    best_play,
    condition_clean,
    conditions_check,
    conditions_clean,
)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"signal": "nope", "operator": "gte", "threshold": 1}, "signal",
         "Condition 2: “signal” must be a stored signal or an account fact, not 'nope'."),
        ({"signal": "active_users_30", "operator": "about", "threshold": 1}, "operator",
         "Condition 2: “operator” must be one of gte, gt, lte, lt, eq, ne, between, "
         "not 'about'."),
        ({"signal": "active_users_30", "operator": "gte"}, "threshold",
         "Condition 2: “threshold” is required."),
        ({"signal": "active_users_30", "operator": "gte", "threshold": "five"}, "threshold",
         "Condition 2: “threshold” must be a number, not 'five'."),
        ({"signal": "active_users_30", "operator": "gte", "threshold": "nan"}, "threshold",
         "Condition 2: “threshold” must be a number, not 'nan'."),
        ({"signal": "usage_pct", "operator": "between", "threshold": 80}, "threshold_high",
         "Condition 2: “between” needs “threshold_high”."),
        ({"signal": "usage_pct", "operator": "between", "threshold": 80, "threshold_high": 50},
         "threshold_high", "Condition 2: “threshold_high” (50) is below “threshold” (80)."),
        ({"signal": "plan", "operator": "gte", "threshold": 1}, "operator",
         "Condition 2: “operator” of plan must be “in” or “not_in”, not 'gte'."),
        ({"signal": "plan", "operator": "in", "values": []}, "values",
         "Condition 2: “values” must list at least one plan."),
        ({"signal": "route", "operator": "in", "values": ["ae", "sales"]}, "values",
         "Condition 2: “values” has an unknown route 'sales' (routes: ae, sdr, inbound, "
         "expansion, nurture, self_serve, self_serve_hero, held, not_routed)."),
        ({"signal": "feature_events", "operator": "gte", "threshold": 1, "days": 30}, "key",
         "Condition 2: “key” names the feature (api, export, …)."),
        ({"signal": "limit_hits", "operator": "gte", "threshold": 1, "key": "exports"}, "days",
         "Condition 2: “days” must be a whole number from 1 to 90."),
        ({"signal": "limit_hits", "operator": "gte", "threshold": 1, "days": 7,
          "key": "a b"}, "key",
         "Condition 2: “key” must be a tracking-plan key like export or api_calls."),
        ({"signal": "active_users_30", "operator": "gte", "threshold": 1, "colour": "red"}, "",
         "Condition 2: unknown field “colour”."),
    ],
)  # fmt: skip
def test_a_wrong_condition_is_refused_naming_the_condition_and_the_field(raw, field, message):
    with pytest.raises(ConditionError) as caught:
        condition_clean(raw, position=2)
    assert str(caught.value) == message
    assert caught.value.field == field


def test_a_play_needs_at_least_one_condition():
    with pytest.raises(ConditionError, match=r"A play needs at least one condition\."):
        conditions_clean([])


def test_clean_conditions_are_normalised_from_form_text():
    assert conditions_clean(
        [
            {"signal": "active_users_30", "operator": "gte", "threshold": "5"},
            {"signal": "plan", "operator": "in", "values": " free, trial "},
            {"signal": "limit_hits", "operator": "gte", "threshold": "2", "key": "", "days": "7",
             "label": "  hit a limit {value} times  "},
        ]
    ) == [
        {"signal": "active_users_30", "operator": "gte", "threshold": 5},
        {"signal": "plan", "operator": "in", "values": ["free", "trial"]},
        {"signal": "limit_hits", "operator": "gte", "threshold": 2, "key": "", "days": 7,
         "label": "hit a limit {value} times"},
    ]  # fmt: skip


def test_each_condition_is_checked_against_the_accounts_values_in_words():
    conditions = [
        {"signal": "active_users_30", "operator": "gte", "threshold": 5},
        {"signal": "plan", "operator": "not_in", "values": ["enterprise"]},
        {"signal": "usage_pct", "operator": "between", "threshold": 80, "threshold_high": 100},
        {"signal": "sales_request_days", "operator": "lte", "threshold": 30},
        {"signal": "feature_events", "operator": "gte", "threshold": 1, "key": "api",
         "days": 30, "label": "{value} API calls set up"},
    ]  # fmt: skip
    facts = {
        "active_users_30": 7,
        "plan": "free",
        "usage_pct": 86.5,
        "sales_request_days": None,  # never asked
        "feature_events:api:30": 3,
    }
    checks = conditions_check(conditions, facts, plan_names={"free": "Free"})
    assert [(c.holds, c.words) for c in checks] == [
        (True, "7 active users in the last 30 days"),
        (True, "on the Free plan"),
        (True, "86.5 % of a plan limit used"),
        (False, "never asked for a demo or sales contact"),
        (True, "3 API calls set up"),
    ]
    assert [c.rule for c in checks] == [
        "Active users, 30 days ≥ 5",
        "Plan is none of enterprise",
        "Usage of the plan's limit between 80 and 100",
        "Days since a sales request ≤ 30",
        "Feature events of api in 30 days ≥ 1",
    ]


def _play(pk, priority, n_conditions, name="play"):
    conditions = tuple(
        {"signal": "active_users_30", "operator": "gte", "threshold": i}
        for i in range(n_conditions)
    )
    return PlaySpec(id=pk, priority=priority, name=name, conditions=conditions)


def test_the_best_play_is_the_highest_priority_then_the_one_with_most_conditions():
    facts = {"active_users_30": 9}
    low, high_one, high_two = _play(1, 10, 3), _play(2, 50, 1), _play(3, 50, 2)
    best, words = best_play([low, high_one, high_two], facts)
    assert best is high_two
    assert words == ["9 active users in the last 30 days"] * 2
    # A higher priority that does not match gives way to the next one that does.
    picky = PlaySpec(9, 99, "picky", ({"signal": "active_users_30", "operator": "gt",
                                       "threshold": 10},))  # fmt: skip
    assert best_play([picky, low], facts)[0] is low
    assert best_play([picky], facts) is None


def test_a_play_without_conditions_matches_nothing():
    assert best_play([PlaySpec(1, 99, "empty", ())], {"active_users_30": 9}) is None
