"""Weight suggestions: the minimum sample, the documented coefficient → points rule,
held-out AUC and lift, and the one-click copy into an audited draft."""

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountDay, Deal
from scoring.models import RuleSet, RuleSetAudit
from scoring.services.suggestions import (
    SuggestionsNotReady,
    points_suggest,
    rule_direction,
    suggestions_apply,
    suggestions_for,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def population(*, wins: int, no_deal: int, seed: int = 7) -> None:
    """Accounts whose teammates invited before the outcome separate buyers: buyers
    invited 3–8, most others none and a few 1–4. Nothing else differs."""
    rng = random.Random(seed)
    created = timezone.now() - timedelta(days=150)
    for i in range(wins):
        acc = AccountFactory(created_at=created)
        closed = TODAY - timedelta(days=15 + 7 * (i % 5))
        Deal.objects.create(
            account=acc,
            motion=Deal.Motion.SELF_SERVE if i % 2 else Deal.Motion.SALES_ASSISTED,
            source=Deal.Source.SELF_SERVE if i % 2 else Deal.Source.PQL,
            stage=Deal.Stage.WON,
            arr=10_000,
            opened_at=at(closed - timedelta(days=20)),
            closed_at=at(closed),
        )
        AccountDay.objects.create(
            account=acc, day=closed - timedelta(days=10), events=0, invites_sent=rng.randint(3, 8)
        )
    for _ in range(no_deal):
        acc = AccountFactory(created_at=created)
        if rng.random() < 0.2:
            AccountDay.objects.create(
                account=acc, day=TODAY - timedelta(days=3), events=0, invites_sent=rng.randint(1, 4)
            )


def active() -> RuleSet:
    return RuleSet.objects.get(state=RuleSet.State.ACTIVE)


def by_signal(rules) -> dict:
    return {(r.signal, r.condition): r for r in rules}


# --- below the minimum --------------------------------------------------------------------


def test_below_the_minimum_the_page_says_why_with_the_counts(login, pm):
    population(wins=10, no_deal=60)

    response = login(pm).get(reverse("scoring:suggestions"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Not enough outcomes to suggest weights yet" in html
    assert (
        "Suggestions need at least 100 outcomes with at least 20 wins (and 20 accounts without "
        "a deal); there are 70 outcomes so far: 10 won, 60 without a deal."
    ) in html
    assert 'data-testid="apply"' not in html


def test_nineteen_wins_are_not_enough_even_with_many_outcomes():
    population(wins=19, no_deal=120)

    result = suggestions_for()

    assert not result.ready
    assert "there are 139 outcomes so far: 19 won, 120 without a deal" in result.reason
    with pytest.raises(SuggestionsNotReady):
        suggestions_apply(user=None)


def test_copying_below_the_minimum_makes_no_draft_and_says_why(login, pm):
    population(wins=5, no_deal=30)
    before = RuleSet.objects.count()

    response = login(pm).post(reverse("scoring:suggestions_apply"))

    assert response.status_code == 302
    assert response["Location"] == reverse("scoring:suggestions")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Suggestions need at least 100 outcomes with at least 20 wins (and 20 accounts "
        "without a deal); there are 35 outcomes so far: 5 won, 30 without a deal."
    ]
    assert RuleSet.objects.count() == before


# --- enough outcomes ----------------------------------------------------------------------


def test_a_signal_that_separates_buyers_earns_its_rule_more_points():
    population(wins=25, no_deal=100)

    result = suggestions_for()

    assert result.ready
    assert (result.outcomes, result.wins) == (125, 25)
    assert result.fit.auc > 0.8
    assert result.fit.test == 32 and result.fit.test_wins == 6  # a stratified quarter
    assert result.fit.weights[0].signal == "invites_30"
    rules = by_signal(result.rules)
    invited = rules[("invites_30", "Teammates invited, 30 days ≥ 3")]
    assert invited.points == 5
    assert invited.suggested == 10  # odds well above ×2 per standard deviation: capped at ×2
    # Signals every account shares one value of, and signals that would leak the
    # outcome, keep their points and say why.
    employees = rules[("employees", "Employees ≥ 500")]
    assert (employees.suggested, employees.why) == (
        20,
        "every account with an outcome has the same value: nothing to learn",
    )
    assert rules[("idle_days", "Days since last activity ≥ 14")].suggested == -10
    near_limit = rules[("usage_pct", "Usage of the plan's limit ≥ 80")]
    assert (near_limit.suggested, near_limit.why) == (
        10,
        "not in the model: it would leak the outcome",
    )
    assert [r.signal for r in result.rules if r.changed] == ["invites_30"]


def test_lift_by_decile_puts_the_buyers_in_the_top_deciles():
    population(wins=25, no_deal=100)

    deciles = suggestions_for().fit.deciles

    assert [d.decile for d in deciles] == list(range(1, 11))
    assert sum(d.accounts for d in deciles) == 32
    assert sum(d.converted for d in deciles) == 6
    assert deciles[0].rate == 1.0
    assert deciles[0].lift == pytest.approx(32 / 6)
    assert deciles[-1].converted == 0


def test_the_same_outcomes_give_the_same_suggestions():
    population(wins=25, no_deal=100)

    first, second = suggestions_for(), suggestions_for()

    assert first.fit.auc == second.fit.auc
    assert [r.suggested for r in first.rules] == [r.suggested for r in second.rules]


def test_the_page_shows_auc_lift_the_rule_and_the_suggested_points(login, admin_user):
    population(wins=25, no_deal=100)

    response = login(admin_user).get(reverse("scoring:suggestions"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="auc">' in html
    assert 'data-testid="deciles"' in html
    assert "Only 6 wins were held out: the AUC and the lift below are rough" in html
    assert "Points are multiplied by the factor, penalties divided by it" in html
    row = html.split('<tr data-signal="invites_30">')[1].split("</tr>")[0]
    assert "<td>5</td>" in row and "<strong>10</strong>" in row
    assert "Copy the 1 suggested change into a new draft" in html


def test_one_click_copies_the_suggestions_into_an_audited_draft(login, pm):
    population(wins=25, no_deal=100)
    source = active()

    response = login(pm).post(reverse("scoring:suggestions_apply"))

    draft = RuleSet.objects.get(based_on=source)
    assert response.status_code == 302
    assert response["Location"] == reverse("scoring:rule_set", args=[draft.pk])
    assert draft.state == RuleSet.State.DRAFT
    assert draft.created_by == pm
    assert active() == source  # nothing changes for scoring until it is activated
    points = {(r.signal, r.threshold): r.points for r in draft.rules.all()}
    assert points[("invites_30", 3)] == 10
    assert {k: v for k, v in points.items() if k != ("invites_30", 3)} == {
        (r.signal, r.threshold): r.points
        for r in source.rules.all()
        if (r.signal, r.threshold) != ("invites_30", 3)
    }
    assert [r.dimension for r in draft.rules.all()] == [r.dimension for r in source.rules.all()]
    changed = RuleSetAudit.objects.get(rule_set=draft, action="rule changed")
    assert changed.user == pm
    assert "invites_30" in changed.detail and "points → 10" in changed.detail
    assert "125 outcomes (25 won, 100 without a deal)" in draft.description


@pytest.mark.parametrize(
    ("role", "status"), [("ae", 403), ("sdr", 403), ("pm", 302), ("admin", 302)]
)
def test_only_pms_and_admins_may_copy_suggestions(login, users, role, status):
    assert login(users[role]).post(reverse("scoring:suggestions_apply")).status_code == status


def test_copying_is_post_only_and_anonymous_users_go_to_login(client):
    assert client.get(reverse("scoring:suggestions_apply")).status_code == 405
    response = client.post(reverse("scoring:suggestions_apply"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# --- the coefficient → points rule --------------------------------------------------------


def test_points_follow_the_odds_ratio_within_half_and_double():
    assert points_suggest(points=10, direction=1, coefficient=0.0) == (10, 1.0)
    assert points_suggest(points=10, direction=1, coefficient=0.2)[0] == 12  # ×1.22
    assert points_suggest(points=10, direction=1, coefficient=3.0) == (20, 2.0)
    assert points_suggest(points=10, direction=1, coefficient=-3.0) == (5, 0.5)
    # A rule on low values reads the coefficient the other way round.
    assert points_suggest(points=10, direction=-1, coefficient=-3.0) == (20, 2.0)


def test_penalties_shrink_when_buyers_do_it_and_never_flip_or_vanish():
    assert points_suggest(points=-10, direction=1, coefficient=3.0) == (-5, 2.0)
    assert points_suggest(points=-10, direction=1, coefficient=-3.0) == (-20, 0.5)
    assert points_suggest(points=1, direction=1, coefficient=-3.0) == (1, 0.5)
    assert points_suggest(points=-1, direction=1, coefficient=3.0) == (-1, 2.0)
    assert points_suggest(points=80, direction=1, coefficient=3.0) == (100, 2.0)
    assert points_suggest(points=-80, direction=1, coefficient=-3.0) == (-100, 0.5)


def test_rule_direction_by_operator():
    assert rule_direction("gte", 5) == rule_direction("gt", 5) == 1
    assert rule_direction("lte", 5) == rule_direction("lt", 5) == -1
    assert rule_direction("eq", 1) == 1
    assert rule_direction("eq", 0) == -1
    assert rule_direction("between", 1) == 0
