"""The scoring run: scores, history, queue items and the RouteChange log it writes;
idempotency; the incremental cursor; what a rescore does to an open, claimed or touched
item; self-served checkouts; likely buyers. Run this module on SQLite and on PostgreSQL:
the golden-score test pins the same numbers on both."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

import scoring.services.run as run_module
from accounts.models import Account, AccountUserDay, Contact, Event, Plan
from accounts.services.rollups import rollup_run
from pls_portal.models import TaskLock
from pls_portal.services import _advisory_key, task_lock
from scoring.engine import Settings
from scoring.models import (
    AccountScore,
    Dimension,
    QueueItem,
    Route,
    RouteChange,
    ScoreHistory,
    ScoringState,
)
from scoring.services.run import (
    SCORING_LOCK,
    _processes_for,
    rule_set_active,
    rule_specs,
    scores_as_of,
    scoring_run,
)
from tests.factories import AccountFactory, PlanFactory, ProductUserFactory
from tests.scoring.factories import (
    AccountDayFactory,
    AccountFeatureDayFactory,
    AccountScoreFactory,
    AccountUserDayFactory,
    QueueItemFactory,
    identify,
    rule_set_activate_now,
    segment_ingest,
    track,
)

pytestmark = pytest.mark.django_db

VALUE, ENGAGEMENT = Dimension.VALUE, Dimension.ENGAGEMENT

# Value: 40 points for $25k+ ARR potential. Engagement: 30 points for one active user in
# 30 days, 30 more for five. So with the default settings (value high from 20, engagement
# from 30, ARR floor $10k): $50k and 5 users → 100, AE; $50k and 1 user → 70, SDR;
# $50k and none → nurture; $15k and 5 users → self-serve hero; $5k → self-serve.
SIMPLE_RULES = [
    {"signal": "arr_potential", "threshold": 25_000, "points": 40, "dimension": VALUE},
    {"signal": "active_users_30", "threshold": 1, "points": 30, "dimension": ENGAGEMENT},
    {"signal": "active_users_30", "threshold": 5, "points": 30, "dimension": ENGAGEMENT},
]


@pytest.fixture
def simple_rules():
    return rule_set_activate_now(SIMPLE_RULES)


def today():
    return timezone.now().date()


def set_active_users(acc: Account, n: int) -> None:
    """Exactly ``n`` of the account's product users active today (rollup rows)."""
    people = list(acc.users.order_by("pk"))
    while len(people) < n:
        people.append(
            ProductUserFactory(account=acc, first_seen_at=timezone.now() - timedelta(days=60))
        )
    AccountUserDay.objects.filter(account=acc).delete()
    for person in people[:n]:
        AccountUserDayFactory(account=acc, user=person, day=today())


def pqa(*, arr: float = 50_000, users: int = 5, **fields) -> Account:
    fields.setdefault("created_at", timezone.now() - timedelta(days=90))
    fields.setdefault("usage_changed_at", timezone.now() - timedelta(hours=1))
    acc = AccountFactory(arr_potential=arr, **fields)
    set_active_users(acc, users)
    return acc


def update(acc: Account, **fields) -> None:
    Account.objects.filter(pk=acc.pk).update(**fields)


def stored(acc: Account) -> tuple:
    row = AccountScore.objects.get(account=acc)
    return row.score, row.value, row.engagement, row.route


def item_of(acc: Account) -> QueueItem:
    return QueueItem.objects.get(account=acc)


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (AccountScore, ScoreHistory, QueueItem, RouteChange)
    }


def nothing_written(result) -> bool:
    return (
        result.scores_written,
        result.route_changes,
        result.items_created,
        result.items_updated,
        result.items_closed,
    ) == (0, 0, 0, 0, 0)


# --- A first run --------------------------------------------------------------------------


def test_a_first_run_stores_scores_history_queue_items_and_route_changes(simple_rules):
    ae_pqa, sdr_pqa = pqa(users=5), pqa(users=1)
    hero, nurture, small = pqa(arr=15_000, users=5), pqa(users=0), pqa(arr=5_000)
    before = timezone.now()
    result = scoring_run(full=True)
    after = timezone.now()

    assert stored(ae_pqa) == (100, 40, 60, Route.AE)
    assert stored(sdr_pqa) == (70, 40, 30, Route.SDR)
    assert stored(hero) == (60, 0, 60, Route.SELF_SERVE_HERO)
    assert stored(nurture) == (40, 40, 0, Route.NURTURE)
    assert stored(small) == (60, 0, 60, Route.SELF_SERVE)

    row = AccountScore.objects.get(account=ae_pqa)
    assert row.rule_set == simple_rules
    assert row.route_reason == "PQL: score 100 is above 70 — AE"
    assert [c["reason"] for c in row.contributions] == [
        "ARR potential: $50,000 (≥ 25,000)",
        "Active users, 30 days: 5 (≥ 1)",
        "Active users, 30 days: 5 (≥ 5)",
    ]
    assert row.signals["active_users_30"] == 5
    assert AccountScore.objects.get(account=small).route_reason == (
        "ARR potential $5,000 is below the $10,000 floor — no sales touch"
    )

    history = ScoreHistory.objects.filter(account=sdr_pqa)
    assert [(h.score, h.value, h.engagement, h.route) for h in history] == [(70, 40, 30, Route.SDR)]
    assert ScoreHistory.objects.count() == 5

    ae_item, sdr_item = item_of(ae_pqa), item_of(sdr_pqa)
    assert QueueItem.objects.count() == 2
    assert (ae_item.route, ae_item.state, ae_item.score) == (Route.AE, QueueItem.State.OPEN, 100)
    assert (sdr_item.route, sdr_item.state, sdr_item.score) == (Route.SDR, "open", 70)
    assert before <= ae_item.routed_at <= after
    assert ae_item.due_at - ae_item.routed_at == timedelta(hours=24)
    assert sdr_item.due_at - sdr_item.routed_at == timedelta(hours=48)
    assert ae_item.reasons == [c["reason"] for c in row.contributions]
    assert sdr_item.route_reason == "PQL: score 70 is 40–70 — SDR"

    change = RouteChange.objects.get(account=ae_pqa)
    assert (change.item, change.from_route, change.to_route, change.to_state) == (
        ae_item,
        "",
        Route.AE,
        QueueItem.State.OPEN,
    )
    assert change.reason == "queue item opened: PQL: score 100 is above 70 — AE"
    change = RouteChange.objects.get(account=hero)
    assert (change.item, change.from_route, change.to_route) == (None, "", Route.SELF_SERVE_HERO)
    assert change.reason.startswith("self-serve hero: engagement 60 is high but value 0 is low")
    assert RouteChange.objects.count() == 5

    assert result.as_dict() == {
        "accounts": 5,
        "scores_written": 5,
        "route_changes": 5,
        "items_created": 2,
        "items_updated": 0,
        "items_closed": 0,
        "skipped": False,
    }


def test_inbound_and_expansion_items_have_the_ae_sla_and_expansion_goes_to_the_owner(
    simple_rules, ae
):
    asked = pqa(arr=5_000, users=0, sales_request_at=timezone.now() - timedelta(days=2))
    won = pqa(owner=ae, plan=PlanFactory(key="team"))
    AccountDayFactory(account=won, day=today(), limit_hits={"seats": 1})
    scoring_run(full=True)

    inbound = item_of(asked)
    assert (inbound.route, inbound.owner) == (Route.INBOUND, None)
    assert inbound.route_reason.startswith("asked for a demo or sales contact on")
    assert inbound.due_at - inbound.routed_at == timedelta(hours=24)

    expansion = item_of(won)
    assert (expansion.route, expansion.owner) == (Route.EXPANSION, ae)
    assert expansion.route_reason == "expansion: at 100% of the seats limit on a paid plan"
    assert expansion.due_at - expansion.routed_at == timedelta(hours=24)
    baseline = AccountScore.objects.get(account=won).expansion_baseline
    assert (baseline["active_users_30"], baseline["departments_30"]) == (5, 0)


def test_a_run_that_cannot_take_the_lock_skips(simple_rules):
    pqa()
    with task_lock(name=SCORING_LOCK, ttl=timedelta(minutes=1)) as got:
        assert got
        result = scoring_run(full=True)
    assert result.skipped
    assert result.summary == "skipped: another scoring run holds the lock"
    assert not AccountScore.objects.exists()


# --- Idempotency and history --------------------------------------------------------------


def test_running_twice_writes_nothing_new(simple_rules, ae):
    pqa(users=5)
    pqa(users=1)
    pqa(arr=15_000)
    pqa(users=0)
    pqa(arr=5_000)
    pqa(sales_request_at=timezone.now() - timedelta(days=1))
    pqa(checkout_started_at=timezone.now() - timedelta(hours=1))
    won = pqa(owner=ae, plan=PlanFactory(key="team"))
    AccountDayFactory(account=won, day=today(), limit_hits={"seats": 1})
    pqa(owner=ae)  # won, watched
    with_buyer = pqa()
    ProductUserFactory(account=with_buyer, is_admin=True, name="Dana Admin")
    cooled = pqa()
    AccountScoreFactory(
        account=cooled,
        route=Route.HELD,
        cooldown_until=timezone.now() + timedelta(days=20),
        cooldown_reason="backed off",
    )
    first = scoring_run(full=True)
    assert first.items_created == 5  # ae, sdr, inbound, expansion, the one with a buyer
    written = counts()
    scores = {
        r.pk: (r.score, r.route, r.route_reason, r.scored_at) for r in AccountScore.objects.all()
    }
    items = {i.pk: (i.route, i.state, i.due_at, i.buyers) for i in QueueItem.objects.all()}

    again = scoring_run(full=True)
    assert nothing_written(again)
    assert again.accounts == first.accounts == 11
    assert counts() == written

    Account.objects.update(usage_changed_at=timezone.now())
    incremental = scoring_run()
    assert incremental.accounts == 11
    assert nothing_written(incremental)
    assert counts() == written
    assert {
        r.pk: (r.score, r.route, r.route_reason, r.scored_at) for r in AccountScore.objects.all()
    } == scores
    assert {i.pk: (i.route, i.state, i.due_at, i.buyers) for i in QueueItem.objects.all()} == items


def test_a_history_row_only_when_the_score_or_route_changes(simple_rules):
    acc = pqa(users=5)
    scoring_run(full=True)

    set_active_users(acc, 6)  # a signal changes, the score does not
    result = scoring_run(full=True)
    assert result.scores_written == 1
    assert AccountScore.objects.get(account=acc).signals["active_users_30"] == 6
    assert ScoreHistory.objects.filter(account=acc).count() == 1

    set_active_users(acc, 1)  # score and route change
    scoring_run(full=True)
    update(acc, checkout_started_at=timezone.now())  # the route alone changes
    scoring_run(full=True)
    scoring_run(full=True)

    assert [(h.score, h.route) for h in ScoreHistory.objects.filter(account=acc)] == [
        (100, Route.AE),
        (70, Route.SDR),
        (70, Route.HELD),
    ]


def test_no_history_row_when_only_the_sub_scores_trade_places():
    # Issue 13: "a score history row only when the score or route changes".
    rule_set_activate_now(
        [
            *SIMPLE_RULES,
            {"signal": "employees", "threshold": 500, "points": -10, "dimension": VALUE},
            {"signal": "employees", "threshold": 500, "points": 10, "dimension": ENGAGEMENT},
        ]
    )
    acc = pqa(users=1)
    scoring_run(full=True)
    assert stored(acc) == (70, 40, 30, Route.SDR)

    update(acc, employees=600)
    scoring_run(full=True)
    assert stored(acc) == (70, 30, 40, Route.SDR)
    assert ScoreHistory.objects.filter(account=acc).count() == 1


# --- Incremental runs ---------------------------------------------------------------------


def test_an_incremental_run_scores_only_accounts_whose_usage_changed_and_new_ones(
    simple_rules,
):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    changed = pqa(users=5, usage_changed_at=an_hour_ago)
    unchanged = pqa(users=5, usage_changed_at=an_hour_ago)
    assert scoring_run().accounts == 2  # never scored: both
    assert ScoringState.objects.get().usage_seen_until == an_hour_ago

    set_active_users(changed, 1)
    set_active_users(unchanged, 1)  # rollups moved, but usage_changed_at says not
    update(changed, usage_changed_at=timezone.now() - timedelta(minutes=30))
    new = pqa(users=1, usage_changed_at=None)
    result = scoring_run()

    assert result.accounts == 2
    assert stored(changed)[3] == Route.SDR
    assert stored(unchanged)[3] == Route.AE  # not rescored yet
    assert stored(new)[3] == Route.SDR
    assert scoring_run().accounts == 0

    assert scoring_run(full=True).accounts == 3  # nightly: windows slide, all of them
    assert stored(unchanged)[3] == Route.SDR


def test_an_old_account_without_a_score_waits_for_the_nightly_run(simple_rules, monkeypatch):
    """Incremental runs look for unscored accounts only among the newest ids (an index
    range, not an anti-join of every account); one below them is left to the full run."""
    monkeypatch.setattr(run_module, "NEW_ACCOUNT_ID_MARGIN", 0)
    old, newer = pqa(users=5, usage_changed_at=None), pqa(users=5, usage_changed_at=None)
    assert scoring_run().accounts == 2
    AccountScore.objects.filter(account=old).delete()  # below the newest scored id now
    brand_new = pqa(users=5, usage_changed_at=None)

    assert scoring_run().accounts == 1
    assert AccountScore.objects.filter(account=brand_new).exists()
    assert not AccountScore.objects.filter(account=old).exists()
    assert scoring_run(full=True).accounts == 3
    assert stored(old)[3] == Route.AE
    assert newer.pk < brand_new.pk


def test_events_rolled_up_are_scored_by_the_next_incremental_run(simple_rules):
    # The rollup recomputes ARR potential: 5,000 employees keep it above $25k.
    acc = pqa(users=0, employees=5000)
    scoring_run()
    assert stored(acc)[3] == Route.NURTURE

    now = timezone.now()
    segment_ingest(
        *(identify(f"p{n}", f"p{n}@{acc.domain}", now) for n in range(5)),
        *(track(f"p{n}", "Project Created", now) for n in range(5)),
    )
    rollup_run()
    acc.refresh_from_db()
    assert acc.usage_changed_at > ScoringState.objects.get().usage_seen_until
    assert acc.arr_potential >= 25_000

    result = scoring_run()
    assert result.accounts == 1
    assert stored(acc) == (100, 40, 60, Route.AE)
    assert item_of(acc).route == Route.AE


# --- Rescoring queue items ----------------------------------------------------------------


def test_a_rescore_moves_an_open_item_between_the_ae_and_sdr_pools(simple_rules):
    acc = pqa(users=5)
    scoring_run(full=True)
    item = item_of(acc)

    set_active_users(acc, 1)
    result = scoring_run(full=True)
    moved = item_of(acc)
    assert moved.pk == item.pk
    assert (moved.route, moved.state, moved.score) == (Route.SDR, QueueItem.State.OPEN, 70)
    assert moved.due_at - moved.routed_at == timedelta(hours=48)
    assert moved.routed_at > item.routed_at
    change = RouteChange.objects.filter(account=acc).last()
    assert (change.item, change.from_route, change.to_route) == (moved, Route.AE, Route.SDR)
    assert change.reason == "moved to the SDR pool: PQL: score 70 is 40–70 — SDR"
    assert (result.route_changes, result.items_updated, result.items_created) == (1, 1, 0)

    set_active_users(acc, 5)
    scoring_run(full=True)
    back = item_of(acc)
    assert (back.pk, back.route, back.due_at - back.routed_at) == (
        item.pk,
        Route.AE,
        timedelta(hours=24),
    )
    assert RouteChange.objects.filter(account=acc).count() == 3


def test_a_rescore_leaves_a_claimed_item_in_its_pool(simple_rules, ae):
    acc = pqa(users=5)
    scoring_run(full=True)
    item = item_of(acc)
    QueueItem.objects.filter(pk=item.pk).update(
        state=QueueItem.State.CLAIMED, claimed_by=ae, claimed_at=timezone.now()
    )

    set_active_users(acc, 1)
    scoring_run(full=True)
    kept = item_of(acc)
    assert (kept.route, kept.state, kept.claimed_by, kept.due_at) == (
        Route.AE,
        QueueItem.State.CLAIMED,
        ae,
        item.due_at,
    )
    assert kept.score == 70
    assert stored(acc)[3] == Route.SDR
    change = RouteChange.objects.filter(account=acc).last()
    assert (change.item, change.from_route, change.to_route) == (kept, Route.AE, Route.SDR)
    assert (change.from_state, change.to_state) == (QueueItem.State.CLAIMED,) * 2


NOT_QUALIFIED = [
    (
        Route.HELD,
        {"checkout_started_at": "now"},
        "no longer qualified: checkout in progress since",
    ),
    (
        Route.SELF_SERVE,
        {"arr_potential": 5_000},
        "no longer qualified: ARR potential $5,000 is below the $10,000 floor — no sales touch",
    ),
    (
        Route.SELF_SERVE_HERO,
        {"arr_potential": 15_000},
        "no longer qualified: self-serve hero: engagement 60 is high but value 0 is low",
    ),
    (
        Route.NURTURE,
        {"users": 0},
        "no longer qualified: high value (40) but low engagement (0) — nurture, no rep yet",
    ),
    (Route.NOT_ROUTED, {"merged": True}, "no longer qualified: merged into another account"),
]


def make_unqualified(acc: Account, change: dict) -> None:
    if "users" in change:
        set_active_users(acc, change["users"])
    elif "merged" in change:
        update(acc, merged_into=AccountFactory())
    elif change.get("checkout_started_at") == "now":
        update(acc, checkout_started_at=timezone.now())
    else:
        update(acc, **change)


@pytest.mark.parametrize("state", [QueueItem.State.OPEN, QueueItem.State.CLAIMED])
@pytest.mark.parametrize(("route", "change", "reason"), NOT_QUALIFIED)
def test_routing_away_from_the_queue_closes_an_open_or_claimed_item_as_not_qualified(
    simple_rules, ae, state, route, change, reason
):
    acc = pqa(users=5)
    scoring_run(full=True)
    item = item_of(acc)
    QueueItem.objects.filter(pk=item.pk).update(
        state=state, claimed_by=ae if state == QueueItem.State.CLAIMED else None
    )

    make_unqualified(acc, change)
    result = scoring_run(full=True)
    closed = item_of(acc)
    assert stored(acc)[3] == route
    assert closed.state == QueueItem.State.NOT_QUALIFIED
    assert closed.close_reason.startswith(reason)
    assert closed.closed_at is not None
    assert not closed.is_active
    change_row = RouteChange.objects.filter(account=acc).last()
    assert (change_row.item, change_row.from_route, change_row.to_route) == (
        closed,
        Route.AE,
        route,
    )
    assert (change_row.from_state, change_row.to_state) == (state, QueueItem.State.NOT_QUALIFIED)
    assert RouteChange.objects.filter(account=acc).count() == 2  # opened, closed
    assert result.items_closed == 1


def test_a_touched_item_stays_when_the_account_no_longer_qualifies(simple_rules, ae):
    acc = pqa(users=5)
    scoring_run(full=True)
    item = item_of(acc)
    QueueItem.objects.filter(pk=item.pk).update(
        state=QueueItem.State.TOUCHED, claimed_by=ae, first_touch_at=timezone.now()
    )

    update(acc, arr_potential=5_000)
    scoring_run(full=True)
    kept = item_of(acc)
    assert (kept.state, kept.route, kept.closed_at) == (QueueItem.State.TOUCHED, Route.AE, None)
    assert stored(acc)[3] == Route.SELF_SERVE
    change = RouteChange.objects.filter(account=acc).last()
    assert (change.from_route, change.to_route) == (Route.AE, Route.SELF_SERVE)


def test_a_checkout_completed_after_the_item_was_created_closes_it_as_self_served(
    simple_rules,
):
    acc = pqa(users=5)
    scoring_run(full=True)
    item = item_of(acc)

    update(acc, checkout_completed_at=timezone.now())
    result = scoring_run(full=True)
    closed = item_of(acc)
    assert (closed.pk, closed.state) == (item.pk, QueueItem.State.SELF_SERVED)
    assert closed.close_reason == "self-served: the account bought by itself"
    change = RouteChange.objects.filter(account=acc).last()
    assert (change.item, change.from_state, change.to_state) == (
        closed,
        QueueItem.State.OPEN,
        QueueItem.State.SELF_SERVED,
    )
    assert result.items_closed == 1

    row = AccountScore.objects.get(account=acc)
    cooldown = row.cooldown_until - closed.closed_at
    assert cooldown == timedelta(days=30)
    assert row.cooldown_reason == "self-served"
    # During the cool-down the route is held (DESIGN.md "Settled after review").
    until = f"{row.cooldown_until:%Y-%m-%d}"
    assert (row.route, row.route_reason) == (
        Route.HELD,
        f"self-served — backed off until {until}",
    )

    scoring_run(full=True)  # no new cycle during the cool-down
    assert QueueItem.objects.filter(account=acc).count() == 1
    assert stored(acc)[3] == Route.HELD


def test_a_checkout_completed_before_the_item_was_created_leaves_it_open(simple_rules):
    acc = pqa(users=5, checkout_completed_at=timezone.now() - timedelta(days=10))
    scoring_run(full=True)
    scoring_run(full=True)
    assert item_of(acc).state == QueueItem.State.OPEN


def test_an_expired_cool_down_is_cleared_and_the_account_qualifies_again(simple_rules):
    acc = pqa(users=5)
    AccountScoreFactory(
        account=acc,
        route=Route.HELD,
        cooldown_until=timezone.now() - timedelta(minutes=1),
        cooldown_reason="backed off",
    )
    scoring_run(full=True)
    row = AccountScore.objects.get(account=acc)
    assert (row.route, row.cooldown_until, row.cooldown_reason) == (Route.AE, None, "")
    assert item_of(acc).state == QueueItem.State.OPEN


# --- One active item per account ----------------------------------------------------------


def test_the_database_refuses_a_second_active_item_for_an_account():
    acc = AccountFactory()
    QueueItemFactory(account=acc, state=QueueItem.State.LOST, closed_at=timezone.now())
    QueueItemFactory(account=acc, state=QueueItem.State.OPEN)
    for state in QueueItem.ACTIVE_STATES:
        with pytest.raises(IntegrityError), transaction.atomic():
            QueueItemFactory(account=acc, state=state)
    assert QueueItem.objects.filter(account=acc).count() == 2


def test_a_new_cycle_opens_after_the_last_one_closed(simple_rules):
    acc = pqa(users=5)
    scoring_run(full=True)
    update(acc, arr_potential=5_000)
    scoring_run(full=True)
    update(acc, arr_potential=50_000)
    scoring_run(full=True)
    states = list(QueueItem.objects.filter(account=acc).order_by("pk").values_list("state"))
    assert states == [(QueueItem.State.NOT_QUALIFIED,), (QueueItem.State.OPEN,)]


# --- Scores as of a past day (the backtest) ------------------------------------------------


def test_scores_as_of_a_past_day_use_the_same_engine_and_write_nothing(simple_rules):
    acc = pqa(users=0, checkout_started_at=timezone.now() - timedelta(days=1))
    people = [ProductUserFactory(account=acc) for _ in range(5)]
    for person in people:
        AccountUserDayFactory(account=acc, user=person, day=today() - timedelta(days=40))
    rule_set = rule_set_active()

    def route_on(days_back: int) -> tuple:
        [(_, _, score, decision)] = scores_as_of(
            rule_set_rules=rule_specs(rule_set),
            settings=Settings.of(rule_set),
            as_of=today() - timedelta(days=days_back),
            account_ids=[acc.pk],
        )
        return score.score, decision.route

    assert route_on(40) == (100, Route.AE)  # five users then, no checkout yet
    assert route_on(10) == (40, Route.NURTURE)  # out of the 30-day window
    assert route_on(0) == (40, Route.HELD)  # checkout started yesterday
    assert counts() == dict.fromkeys(counts(), 0)


# --- Likely buyers ------------------------------------------------------------------------


def test_likely_buyers_are_stored_on_the_item_and_a_pqa_without_one_is_flagged(simple_rules):
    with_admin = pqa()
    ProductUserFactory(account=with_admin, is_admin=True, name="Dana Admin", title="Ops")
    without = pqa()
    scoring_run(full=True)

    item = item_of(with_admin)
    assert item.missing_buyer is False
    assert [(b["name"], b["reasons"]) for b in item.buyers] == [("Dana Admin", ["workspace admin"])]
    lonely = item_of(without)
    assert (lonely.buyers, lonely.missing_buyer) == ([], True)

    Contact.objects.create(account=without, name="Vic Buyer", title="VP Finance")
    result = scoring_run(full=True)
    found = item_of(without)
    assert found.missing_buyer is False
    assert [(b["name"], b["reasons"]) for b in found.buyers] == [
        ("Vic Buyer", ["known contact (added by a rep)", "senior title: VP Finance"])
    ]
    assert result.items_updated == 1


# --- The default rule set, the same on SQLite and PostgreSQL ------------------------------


def test_the_default_rule_set_scores_a_crafted_history_to_the_same_numbers_on_every_database():
    """Migration v1 rules; last active 3 days ago, so half-lives bite (fractional points)."""
    now = timezone.now()
    day = today()
    acc = AccountFactory(
        arr_potential=30_000,
        employees=120,
        plan=Plan.objects.get(key="free"),
        created_at=now - timedelta(days=200),
        usage_changed_at=now - timedelta(hours=1),
    )
    departments = ["Sales", "Sales", "Engineering", "Engineering", ""]
    people = [
        ProductUserFactory(account=acc, department=d, first_seen_at=now - timedelta(days=100))
        for d in departments
    ]
    for person in people:
        AccountUserDayFactory(account=acc, user=person, day=day - timedelta(days=3))
    for person in people[:2]:
        AccountUserDayFactory(account=acc, user=person, day=day - timedelta(days=9))
    for n in range(3, 13):  # ten active days of the last 14
        AccountDayFactory(
            account=acc,
            day=day - timedelta(days=n),
            events=4,
            intent={"pricing": 2, "security": 1} if n == 3 else {},
        )
    for key in ("projects", "dashboards", "automations", "api"):
        AccountFeatureDayFactory(account=acc, feature_key=key, day=day - timedelta(days=3))
    AccountFeatureDayFactory(account=acc, feature_key="integrations:slack", day=day)

    scoring_run(full=True)

    row = AccountScore.objects.get(account=acc)
    assert row.signals["idle_days"] == 3
    assert row.signals["usage_pct"] == 100.0  # 5 seats of the free plan's 5
    assert row.signals["users_wow_pct"] == 150.0  # 5 users against 2
    assert [(c["signal"], c["points"]) for c in row.contributions] == [
        ("arr_potential", 20.0),
        ("active_users_30", 12.0),
        ("active_days_14", 10.0),
        ("core_features_30", 10.0),
        ("usage_pct", 8.6),  # 10 × 0.5^(3/14)
        ("active_days_30", 5.0),
        ("departments_30", 5.0),
        ("pricing_views_30", 4.3),  # 5 × 0.5^(3/14)
        ("security_views_30", 4.3),
        ("users_wow_pct", 3.7),  # 5 × 0.5^(3/7)
    ]
    assert (row.score, row.value, row.engagement, row.route) == (83, 29, 54, Route.AE)
    assert row.route_reason == "PQL: score 83 is above 70 — AE"
    assert item_of(acc).reasons == [
        "ARR potential: $30,000 (≥ 25,000)",
        "Active users, 30 days: 5 (≥ 5)",
        "Active days of the last 14: 10 (≥ 10)",
    ]
    assert not Event.objects.exists()  # scored from the rollups alone


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
@pytest.mark.parametrize("processes", [1, 3])
def test_a_run_outside_a_transaction_gives_the_same_result_in_parallel(
    settings, monkeypatch, processes, full
):
    """On PostgreSQL a run of several chunks outside a transaction (as the worker runs
    it) reads the next chunk's signals on a helper thread (one process) or scores chunks
    in forked processes; either way the rows are those of a run done chunk by chunk
    inside one transaction, and the parent's scoring lock is held throughout."""
    settings.PLS_SCORING_PROCESSES = processes
    monkeypatch.setattr(run_module, "PARALLEL_MIN", 4)  # 7 accounts go in parallel
    now = timezone.now()
    for n in range(7):
        account = AccountFactory(employees=600 + n, arr_potential=40_000)
        users = [ProductUserFactory(account=account) for _ in range(n + 1)]
        for back in range(n * 2):
            day = (now - timedelta(days=back)).date()
            AccountDayFactory(account=account, day=day, events=5, active_users=len(users))
            for user in users:
                AccountUserDayFactory(account=account, user=user, day=day, events=1)

    def snapshot():
        return (
            sorted(
                AccountScore.objects.values_list(
                    "account_id", "score", "value", "engagement", "route", "signals", "digest"
                )
            ),
            sorted(QueueItem.objects.values_list("account_id", "route", "state", "score")),
            sorted(RouteChange.objects.values_list("account_id", "from_route", "to_route")),
        )

    with transaction.atomic():  # chunk by chunk, then rolled back
        sequential = scoring_run(full=full, chunk_size=2)
        expected = snapshot()
        transaction.set_rollback(True)
    assert not AccountScore.objects.exists()

    progress = []

    def lock_free_elsewhere() -> bool:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key(SCORING_LOCK)])
                return cursor.fetchone()[0]
        finally:
            other.close()

    class Progress:
        def set_total(self, total):
            progress.append(("total", total))

        def advance(self, n, message=None):
            progress.append(("done", n, lock_free_elsewhere()))

    assert _processes_for(7, 2) == processes  # what the run below uses
    # Not full: every account is new, so an incremental run scores them all by id list.
    parallel = scoring_run(full=full, chunk_size=2, progress=Progress())

    assert parallel.as_dict() == sequential.as_dict()
    assert parallel.accounts == 7
    assert snapshot() == expected
    assert len({row[4] for row in expected[0]}) > 1  # not a trivial population
    assert progress[0] == ("total", 7)
    assert sum(n for _, n, _ in progress[1:]) == 7
    assert not any(free for *_, free in progress[1:])  # held all along
    # Released at the end, on the parent's connection, which the children never closed.
    assert TaskLock.objects.get(name=SCORING_LOCK).owner == ""
    with task_lock(name=SCORING_LOCK, ttl=timedelta(minutes=1)) as got:
        assert got
    assert nothing_written(scoring_run(full=True, chunk_size=2))
