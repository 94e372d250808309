"""Signal discovery: the leakage-free outcome dataset (converted = a won deal of either
motion, not converted = no deal at all, signals as of the week before the first win),
conversion rate by bucket, the ranking, and the page with its htmx chart swap."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountDay, Deal
from scoring.services.discovery import (
    as_of_for_win,
    outcome_dataset,
    outcome_dataset_cached,
    signal_auc,
    signal_buckets,
    signal_stats,
    signals_ranked,
)
from scoring.signals import SIGNALS_BY_NAME
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()
INVITES = SIGNALS_BY_NAME["invites_30"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def account(created_days_ago: int = 120, **fields):
    return AccountFactory(created_at=timezone.now() - timedelta(days=created_days_ago), **fields)


def deal(acc, *, stage=Deal.Stage.WON, closed: date | None = None, motion=None):
    motion = motion or Deal.Motion.SALES_ASSISTED
    source = Deal.Source.SELF_SERVE if motion == Deal.Motion.SELF_SERVE else Deal.Source.PQL
    closed = closed or TODAY - timedelta(days=20)
    return Deal.objects.create(
        account=acc,
        motion=motion,
        source=source,
        stage=stage,
        arr=12_000,
        opened_at=at(closed - timedelta(days=30)),
        closed_at=None if stage == Deal.Stage.OPEN else at(closed),
    )


def invites(acc, day: date, n: int):
    """A rollup day with teammates invited and no other activity."""
    AccountDay.objects.create(account=acc, day=day, events=0, active_users=0, invites_sent=n)


def test_the_as_of_day_is_the_end_of_the_week_before_the_win():
    assert as_of_for_win(date(2026, 3, 18)) == date(2026, 3, 15)  # Wednesday → Sunday
    assert as_of_for_win(date(2026, 3, 16)) == date(2026, 3, 15)  # Monday → the day before
    assert as_of_for_win(date(2026, 3, 15)) == date(2026, 3, 8)  # Sunday → a week before


def test_converted_means_a_won_deal_of_either_motion_and_not_converted_no_deal_at_all():
    self_serve = account()
    deal(self_serve, motion=Deal.Motion.SELF_SERVE)
    sales = account()
    deal(sales, stage=Deal.Stage.LOST, closed=TODAY - timedelta(days=40))
    deal(sales)  # lost once, won later: converted
    lost = account()
    deal(lost, stage=Deal.Stage.LOST)
    still_open = account()
    deal(still_open, stage=Deal.Stage.OPEN)
    nothing = account()
    merged = account(merged_into=nothing)
    # A CRM deal won before the account's first product day has no signals before it.
    too_early = account(created_days_ago=10)
    deal(too_early, closed=TODAY - timedelta(days=30))

    data = outcome_dataset()

    outcomes = dict(zip(data.account_ids, data.converted, strict=True))
    assert outcomes == {self_serve.pk: 1, sales.pk: 1, nothing.pk: 0}
    assert merged.pk not in outcomes
    assert (data.outcomes, data.wins, data.no_deal, data.left_out) == (3, 2, 1, 1)


def test_signals_of_a_converted_account_are_taken_before_its_first_win():
    closed = TODAY - timedelta(days=20)
    as_of = as_of_for_win(closed)
    buyer = account()
    deal(buyer, closed=closed)
    deal(buyer, closed=closed + timedelta(days=5))  # a later win does not move the as-of day
    invites(buyer, as_of - timedelta(days=2), 4)
    invites(buyer, as_of + timedelta(days=1), 50)  # the week of the win: not seen
    invites(buyer, TODAY, 100)  # after the win: not seen
    browser = account()
    invites(browser, TODAY, 2)  # no deal: as of today

    data = outcome_dataset()

    rows = dict(zip(data.account_ids, data.values["invites_30"], strict=True))
    assert rows == {buyer.pk: 4, browser.pk: 2}
    assert dict(zip(data.account_ids, data.as_of, strict=True)) == {
        buyer.pk: as_of,
        browser.pk: TODAY,
    }


def _population(*, converted: list[int], not_converted: list[int]):
    """Accounts with the given teammates invited before their outcome."""
    closed = TODAY - timedelta(days=15)
    for n in converted:
        acc = account()
        deal(acc, closed=closed)
        if n:
            invites(acc, closed - timedelta(days=10), n)
    for n in not_converted:
        acc = account()
        if n:
            invites(acc, TODAY - timedelta(days=3), n)


def test_conversion_rate_by_bucket_shows_which_behaviour_predicts_buying():
    _population(converted=[4, 4, 4, 0], not_converted=[0, 0, 0, 0, 0, 4, 0, 0])

    stats = signal_stats(outcome_dataset(), INVITES)

    assert [(b.label, b.accounts, b.converted) for b in stats.buckets] == [
        ("0", 8, 1),
        ("4", 4, 3),
    ]
    assert stats.buckets[1].rate == 0.75
    assert stats.rate_gap == pytest.approx(0.75 - 1 / 8)
    assert stats.direction == "higher → more buyers"
    assert stats.auc == pytest.approx((3 * 7 + 1 * 0.5 * 7 + 3 * 0.5 + 0) / (4 * 8))


def test_a_separating_signal_ranks_first():
    _population(converted=[5, 6, 7], not_converted=[0, 1, 0, 2, 0, 0])

    ranked = signals_ranked(outcome_dataset())

    assert ranked[0].signal.name == "invites_30"
    assert ranked[0].auc == 1.0
    assert "paid_plan" not in {s.signal.name for s in ranked}  # it would leak the outcome


def test_buckets_split_the_tail_when_most_accounts_share_one_value():
    values = [0] * 80 + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15]
    buckets = signal_buckets(values, [0] * 80 + [1] * 12)

    assert [(b.label, b.accounts, b.converted) for b in buckets] == [
        ("0", 80, 0),
        ("1–3", 3, 3),
        ("4–7", 4, 4),
        ("≥ 8", 5, 5),
    ]


def test_buckets_of_a_yes_no_signal_read_yes_and_no():
    buckets = signal_buckets([0, 0, 1, 1, 1], [0, 0, 0, 1, 1], yes_no=True)

    assert [(b.label, b.accounts, b.converted) for b in buckets] == [("no", 2, 0), ("yes", 3, 2)]


def test_auc_of_one_signal_counts_ties_half():
    assert signal_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert signal_auc([1, 1, 1, 1], [0, 0, 1, 1]) == 0.5
    assert signal_auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert signal_auc([1, 2], [0, 0]) is None


def test_the_dataset_reads_a_fixed_number_of_queries_per_as_of_week():
    _population(converted=[4, 4], not_converted=[0, 1])
    with CaptureQueriesContext(connection) as few:
        outcome_dataset()
    _population(converted=[4, 4, 4, 4, 4, 4], not_converted=[0, 1, 2, 0, 0, 3, 1, 1])
    with CaptureQueriesContext(connection) as many:
        data = outcome_dataset()

    assert data.outcomes == 18
    assert len(many) == len(few)


def test_the_cached_dataset_follows_a_new_deal():
    _population(converted=[4], not_converted=[0, 0])
    assert outcome_dataset_cached().wins == 1

    newcomer = account()
    deal(newcomer, closed=TODAY - timedelta(days=15))

    assert outcome_dataset_cached().wins == 2


# --- the page ---------------------------------------------------------------------------


def test_pm_sees_converted_against_no_deal_with_a_chart_and_the_ranking(login, pm):
    _population(converted=[5, 6, 7], not_converted=[0, 1, 0, 2, 0, 0])

    response = login(pm).get(reverse("scoring:discovery"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="converted-count">3<' in html
    assert 'data-testid="no-deal-count">6<' in html
    assert "vendor/plotly" in html  # plotly.js from static, no CDN
    assert "plotly-graph-div" in html
    assert "Converted (3)" in html and "No deal (6)" in html
    # The best separating signal is the one charted by default, and first in the ranking.
    assert 'data-testid="chart-signal">Teammates invited, 30 days<' in html
    ranking = html.split('data-testid="ranking"')[1]
    assert ranking.index("Teammates invited, 30 days") < ranking.index("Employees")


def test_choosing_a_signal_swaps_only_the_chart(login, pm):
    _population(converted=[5, 6, 7], not_converted=[0, 1, 0, 2, 0, 0])

    response = login(pm).get(
        reverse("scoring:discovery"), {"signal": "invites_30"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="chart"')
    assert "<html" not in html
    assert 'data-testid="chart-signal">Teammates invited, 30 days<' in html
    assert '<option value="invites_30" selected>' in html
    buckets = html.split('data-testid="buckets"')[1]
    assert "<td>0</td><td>4</td><td>0</td><td>0.0 %</td>" in buckets
    assert "<td>5</td><td>1</td><td>1</td><td>100.0 %</td>" in buckets


def test_an_unknown_signal_says_so_and_shows_the_best_one(login, pm):
    _population(converted=[5, 6, 7], not_converted=[0, 1, 0, 2, 0, 0])

    response = login(pm).get(reverse("scoring:discovery"), {"signal": "shoe_size"})

    assert response.status_code == 200
    assert "There is no signal “shoe_size”" in response.content.decode()


def test_without_both_outcomes_the_page_says_what_it_needs(login, admin_user):
    account()

    response = login(admin_user).get(reverse("scoring:discovery"))

    assert response.status_code == 200
    assert "Not enough outcomes to compare" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "status"), [("ae", 403), ("sdr", 403), ("pm", 200), ("admin", 200)]
)
@pytest.mark.parametrize("url_name", ["scoring:discovery", "scoring:suggestions"])
def test_pms_and_admins_open_discovery_and_suggestions_reps_do_not(
    login, users, role, status, url_name
):
    assert login(users[role]).get(reverse(url_name)).status_code == status


@pytest.mark.parametrize("url_name", ["scoring:discovery", "scoring:suggestions"])
def test_anonymous_users_go_to_the_login_page(client, url_name):
    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]
