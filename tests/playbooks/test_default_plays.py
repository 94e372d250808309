"""Each default play (migration playbooks/0003, the seeds' PQL situations) matches an
account crafted for it and not its near miss, read the way the bulk matching reads them:
stored signals plus account facts and rollups."""

import pytest
from django.utils import timezone

from playbooks.conditions import PlaySpec, play_match
from playbooks.facts import account_facts, facts_context
from playbooks.models import Play
from playbooks.rendering import play_message_render
from playbooks.services import play_validate
from scoring.models import Route
from scoring.signals import Scope
from tests.playbooks.factories import limit_hits, scored_account

pytestmark = pytest.mark.django_db


def _limit_twice_this_week():
    account = scored_account()
    limit_hits(account, days_ago=1, exports=1)
    limit_hits(account, days_ago=4, exports=1)
    return account


def _limit_once_this_week():
    account = scored_account()
    limit_hits(account, days_ago=1, exports=1)
    limit_hits(account, days_ago=9, exports=3)  # last week's hits do not count
    return account


# play key: (crafted account, its matched conditions in words, near misses)
CASES = {
    "asked-for-a-demo": (
        lambda: scored_account(route=Route.INBOUND, sales_request_days=3),
        ["asked for a demo or sales contact 3 days ago"],
        [lambda: scored_account(sales_request_days=45), lambda: scored_account()],
    ),
    "limit-hit-twice-this-week": (
        _limit_twice_this_week,
        ["plan limits hit 2 times in 7 days"],
        [_limit_once_this_week],
    ),
    "features-tried-not-in-plan": (
        lambda: scored_account(paywall_hits_14=2),
        ["2 paywall hits (features not in the plan) in 14 days"],
        [lambda: scored_account(paywall_hits_14=1)],
    ),
    "expansion-new-department": (
        lambda: scored_account(
            route=Route.EXPANSION, departments_30=3, baseline={"departments_30": 2}
        ),
        ["1 new department since the win"],
        [
            lambda: scored_account(departments_30=2, baseline={"departments_30": 2}),
            # Not won by sales: no baseline, so no department is "new".
            lambda: scored_account(departments_30=4),
        ],
    ),
    "five-users-on-free-plan": (
        lambda: scored_account(plan="free", active_users_30=7),
        ["7 active users in the last 30 days", "on the Free plan"],
        [
            lambda: scored_account(plan="free", active_users_30=4),
            lambda: scored_account(plan="team", active_users_30=7),
        ],
    ),
    "team-growing-fast": (
        lambda: scored_account(users_wow_pct=75.0, active_users_7=7),
        ["active users up 75 % week over week", "7 active users in the last 7 days"],
        [
            lambda: scored_account(users_wow_pct=40.0, active_users_7=7),
            lambda: scored_account(users_wow_pct=200.0, active_users_7=3),
        ],
    ),
    "repeated-pricing-visits": (
        lambda: scored_account(pricing_views_30=3),
        ["3 pricing page views in 30 days"],
        [lambda: scored_account(pricing_views_30=2)],
    ),
    "api-key-no-integration": (
        lambda: scored_account(api_key_30=1),
        ["1 API key created in 30 days", "no integrations connected"],
        [lambda: scored_account(api_key_30=1, integrations=1), lambda: scored_account()],
    ),
    "enterprise-domain-signed-up": (
        lambda: scored_account(employees=2000, age_days=10),
        ["2,000 employees", "signed up 10 days ago"],
        [
            lambda: scored_account(employees=2000, age_days=60),
            lambda: scored_account(employees=800, age_days=10),
        ],
    ),
}


def _match(play: Play, account) -> list[str] | None:
    context = facts_context()
    spec = PlaySpec(play.pk, play.priority, play.name, tuple(play.conditions))
    facts = account_facts(
        scope=Scope((account.pk,)),
        today=timezone.now().date(),
        conditions=[play.conditions],
        context=context,
    )[account.pk]
    return play_match(spec, facts, plan_names=context.plan_names)


def test_the_migration_installs_the_nine_plays_of_the_issue_all_active_and_valid():
    plays = list(Play.objects.all())
    assert {p.key for p in plays} == set(CASES)
    for play in plays:
        assert play.is_active and play.situation and play.approach
        # Conditions and template pass the editor's own checks.
        assert play_validate(conditions=play.conditions, message_template=play.message_template)


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_default_play_matches_its_account_and_says_why_in_words(key):
    make, words, _ = CASES[key]
    assert _match(Play.objects.get(key=key), make()) == words


@pytest.mark.parametrize(
    ("key", "miss"),
    [(key, n) for key in sorted(CASES) for n in range(len(CASES[key][2]))],
)
def test_a_default_play_does_not_match_a_near_miss(key, miss):
    assert _match(Play.objects.get(key=key), CASES[key][2][miss]()) is None


@pytest.mark.parametrize("key", sorted(CASES))
def test_every_default_first_message_renders_with_a_real_accounts_numbers(key, ae):
    from playbooks.messages import message_context

    account = CASES[key][0]()
    context = message_context(account_id=account.pk, rep=ae)
    text, error = play_message_render(
        template=Play.objects.get(key=key).message_template, context=context
    )
    assert error == ""
    assert "None" not in text and "{{" not in text
    assert text.startswith("Hi there,")  # no likely buyer on record
    assert text.endswith(ae.first_name)
