"""The queue item's life cycle: claim, release, touch, response, hand-overs, close, and
the back-off / overdue / expiry sweeps (DESIGN.md "Decisions")."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from accounts.models import Account, Deal
from scoring.models import AccountScore, QueueItem, Route, RouteChange, RuleSet, Touch
from scoring.services.queue import (
    AlreadyClaimed,
    NotInPool,
    QueueError,
    in_pool,
    pool_q,
    queue_item_claim,
    queue_item_close,
    queue_item_disqualify,
    queue_item_hand_to_ae,
    queue_item_hand_to_marketing,
    queue_item_release,
    queue_item_touch,
    queue_sweep,
    touch_response,
)
from tests.factories import AccountFactory, UserFactory
from tests.scoring.factories import QueueItemFactory

State = QueueItem.State


def make_item(*, route=Route.AE, state=State.OPEN, hours_ago=0, account=None, **fields):
    account = account or AccountFactory()
    now = timezone.now() - timedelta(hours=hours_ago)
    sla = 48 if route == Route.SDR else 24
    AccountScore.objects.update_or_create(
        account=account,
        defaults={
            "rule_set": RuleSet.objects.get(state="active"),
            "score": 80,
            "route": route,
            "route_reason": "PQL",
            "scored_at": now,
        },
    )
    return QueueItem.objects.create(
        account=account,
        route=route,
        state=state,
        score=80,
        created_at=now,
        routed_at=now,
        due_at=now + timedelta(hours=sla),
        **fields,
    )


def changes(item):
    return list(
        RouteChange.objects.filter(item=item).values_list("from_state", "to_state", "reason")
    )


@pytest.fixture
def ae2(db):
    return UserFactory(username="ae2", first_name="Bea", last_name="Second", ae=True)


def test_claim_gives_the_item_to_the_rep_and_logs_it(ae):
    item = make_item()
    queue_item_claim(item_id=item.pk, rep=ae)
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.CLAIMED, ae)
    assert changes(item) == [("open", "claimed", "claimed")]


def test_second_claimant_is_told_who_claimed_first(ae, ae2):
    item = make_item()
    queue_item_claim(item_id=item.pk, rep=ae)
    with pytest.raises(AlreadyClaimed) as caught:
        queue_item_claim(item_id=item.pk, rep=ae2)
    assert str(caught.value) == f"{ae.get_full_name()} claimed this account first"
    item.refresh_from_db()
    assert item.claimed_by == ae


def test_reps_act_only_on_their_pool(ae, sdr):
    ae_item, sdr_item = make_item(route=Route.AE), make_item(route=Route.SDR)
    with pytest.raises(NotInPool):
        queue_item_claim(item_id=ae_item.pk, rep=sdr)
    with pytest.raises(NotInPool):
        queue_item_claim(item_id=sdr_item.pk, rep=ae)
    queue_item_claim(item_id=sdr_item.pk, rep=sdr)


def test_ae_sees_inbound_and_own_expansion_items_only(ae, ae2, admin_user):
    inbound = make_item(route=Route.INBOUND)
    mine = make_item(route=Route.EXPANSION, owner=ae)
    theirs = make_item(route=Route.EXPANSION, owner=ae2)
    queue_item_claim(item_id=inbound.pk, rep=ae)
    queue_item_claim(item_id=mine.pk, rep=ae)
    with pytest.raises(NotInPool):
        queue_item_claim(item_id=theirs.pk, rep=ae)
    queue_item_claim(item_id=theirs.pk, rep=admin_user)  # admins act on every pool


def test_release_puts_a_claimed_item_back(ae, ae2):
    item = make_item()
    queue_item_claim(item_id=item.pk, rep=ae)
    with pytest.raises(AlreadyClaimed):
        queue_item_release(item_id=item.pk, rep=ae2)
    queue_item_release(item_id=item.pk, rep=ae)
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.OPEN, None)


def test_first_touch_meets_the_sla_and_claims(ae):
    item = make_item()
    touch = queue_item_touch(item_id=item.pk, rep=ae, channel="email", person="Ada, CTO")
    item.refresh_from_db()
    assert item.state == State.TOUCHED
    assert item.claimed_by == ae
    assert item.first_touch_at == touch.at
    assert item.sla_met is True
    assert changes(item)[-1] == ("open", "touched", "first touch by email (SLA met)")


def test_touch_after_the_due_time_misses_the_sla(ae):
    item = make_item(hours_ago=30)
    queue_item_touch(item_id=item.pk, rep=ae, channel="phone", person="Ada")
    item.refresh_from_db()
    assert item.sla_met is False
    assert changes(item)[-1][2] == "first touch by phone (SLA missed)"


def test_touch_names_a_bad_channel_and_a_missing_person(ae):
    item = make_item()
    with pytest.raises(QueueError, match="channel must be one of"):
        queue_item_touch(item_id=item.pk, rep=ae, channel="fax", person="Ada")
    with pytest.raises(QueueError, match="person"):
        queue_item_touch(item_id=item.pk, rep=ae, channel="email", person=" ")
    assert not Touch.objects.exists()


def test_first_response_opens_the_pql_deal(ae):
    item = make_item()
    touch = queue_item_touch(item_id=item.pk, rep=ae, channel="email", person="Ada")
    touch_response(touch_id=touch.pk, rep=ae, note="Call on Tuesday")
    item.refresh_from_db()
    assert item.responded_at is not None
    deal = item.deal
    assert (deal.stage, deal.source, deal.motion, deal.owner) == (
        Deal.Stage.OPEN,
        Deal.Source.PQL,
        Deal.Motion.SALES_ASSISTED,
        ae,
    )
    with pytest.raises(QueueError, match="already has its response"):
        touch_response(touch_id=touch.pk, rep=ae)


def test_close_won_closes_the_deal_makes_the_rep_owner_and_cools_down(ae):
    item = make_item()
    touch = queue_item_touch(item_id=item.pk, rep=ae, channel="email", person="Ada")
    touch_response(touch_id=touch.pk, rep=ae)
    queue_item_close(item_id=item.pk, rep=ae, won=True, arr=Decimal("24000"))
    item.refresh_from_db()
    assert item.state == State.WON
    assert item.close_reason == "won: $24,000 ARR"
    assert (item.deal.stage, item.deal.arr) == (Deal.Stage.WON, Decimal("24000.00"))
    assert Account.objects.get(pk=item.account_id).owner == ae
    score = AccountScore.objects.get(account_id=item.account_id)
    assert score.route == Route.HELD
    assert score.cooldown_until > timezone.now() + timedelta(days=29)
    assert "backed off until" in score.route_reason
    assert RouteChange.objects.filter(item=item, to_route=Route.HELD).exists()


def test_close_without_a_response_still_records_the_deal(ae):
    item = make_item()
    queue_item_claim(item_id=item.pk, rep=ae)
    queue_item_close(item_id=item.pk, rep=ae, won=False, lost_reason="Chose a competitor")
    item.refresh_from_db()
    assert (item.state, item.deal.stage, item.deal.lost_reason) == (
        State.LOST,
        Deal.Stage.LOST,
        "Chose a competitor",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"won": True, "arr": None}, "ARR: a won deal needs"),
        ({"won": True, "arr": 0}, "ARR: a won deal needs"),
        ({"won": False, "lost_reason": " "}, "reason: say why the deal was lost"),
    ],
)
def test_close_names_the_missing_field(ae, kwargs, message):
    item = make_item()
    with pytest.raises(QueueError, match=message):
        queue_item_close(item_id=item.pk, rep=ae, **kwargs)
    item.refresh_from_db()
    assert item.state == State.OPEN
    assert not Deal.objects.exists()


def test_disqualify_needs_a_reason_and_starts_the_cool_down(ae):
    item = make_item()
    with pytest.raises(QueueError, match="reason"):
        queue_item_disqualify(item_id=item.pk, rep=ae, reason="")
    queue_item_disqualify(item_id=item.pk, rep=ae, reason="Student project")
    item.refresh_from_db()
    assert (item.state, item.close_reason) == (State.DISQUALIFIED, "disqualified: Student project")
    assert AccountScore.objects.get(account_id=item.account_id).cooldown_until is not None
    with pytest.raises(QueueError, match="is disqualified; it cannot be claimed"):
        queue_item_claim(item_id=item.pk, rep=ae)


def test_hand_to_marketing_keeps_the_note(ae):
    item = make_item()
    queue_item_hand_to_marketing(item_id=item.pk, rep=ae, note="No buyer found")
    item.refresh_from_db()
    assert item.state == State.HANDED_TO_MARKETING
    assert item.note == "No buyer found"
    assert item.close_reason == "handed to marketing: No buyer found"


def test_sdr_hands_an_item_to_the_ae_pool(sdr, ae):
    item = make_item(route=Route.SDR)
    queue_item_claim(item_id=item.pk, rep=sdr)
    with pytest.raises(QueueError, match="note"):
        queue_item_hand_to_ae(item_id=item.pk, rep=sdr, note="")
    queue_item_hand_to_ae(item_id=item.pk, rep=sdr, note="Budget approved, wants a demo")
    item.refresh_from_db()
    assert (item.route, item.state, item.claimed_by) == (Route.AE, State.OPEN, None)
    assert "Budget approved" in item.note
    assert item.due_at > timezone.now() + timedelta(hours=23)
    queue_item_claim(item_id=item.pk, rep=ae)


def test_one_active_item_per_account(db):
    item = make_item()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_item(account=item.account)
    item.state, item.closed_at = State.LOST, timezone.now()
    item.save()
    make_item(account=item.account)  # a new cycle once the last one closed


def test_sweep_backs_off_a_touched_item_without_response(ae):
    item = make_item()
    queue_item_touch(
        item_id=item.pk,
        rep=ae,
        channel="email",
        person="Ada",
        at=timezone.now() - timedelta(days=7, minutes=1),
    )
    answered = make_item()
    touch = queue_item_touch(
        item_id=answered.pk,
        rep=ae,
        channel="email",
        person="Bo",
        at=timezone.now() - timedelta(days=8),
    )
    touch_response(touch_id=touch.pk, rep=ae)
    recent = make_item()
    queue_item_touch(
        item_id=recent.pk,
        rep=ae,
        channel="email",
        person="Cy",
        at=timezone.now() - timedelta(days=6, hours=23),
    )

    result = queue_sweep()

    assert result.backed_off == 1
    states = {i.pk: i.state for i in QueueItem.objects.all()}
    assert states == {
        item.pk: State.BACKED_OFF,
        answered.pk: State.TOUCHED,
        recent.pk: State.TOUCHED,
    }
    score = AccountScore.objects.get(account_id=item.account_id)
    assert score.route == Route.HELD
    assert score.route_reason.startswith("backed off — backed off until")
    assert changes(item)[-1][:2] == ("touched", "backed_off")
    assert queue_sweep().backed_off == 0


def test_sweep_flags_overdue_items_once(ae):
    late = make_item(hours_ago=25)
    claimed_late = make_item(hours_ago=25)
    queue_item_claim(item_id=claimed_late.pk, rep=ae)  # a claim is not contact
    on_time = make_item(hours_ago=23)
    sdr_item = make_item(route=Route.SDR, hours_ago=25)  # SDR SLA is 48 h
    assert queue_sweep().overdue == 2
    overdue = set(QueueItem.objects.filter(overdue_at__isnull=False).values_list("pk", flat=True))
    assert overdue == {late.pk, claimed_late.pk}
    assert on_time.pk not in overdue and sdr_item.pk not in overdue
    assert queue_sweep().overdue == 0


def test_sweep_expires_unclaimed_items_past_twice_the_sla(ae):
    old = make_item(hours_ago=49)
    claimed = make_item(hours_ago=49)
    queue_item_claim(item_id=claimed.pk, rep=ae)
    sdr_young = make_item(route=Route.SDR, hours_ago=49)
    sdr_old = make_item(route=Route.SDR, hours_ago=97)
    assert queue_sweep().expired == 2
    states = dict(QueueItem.objects.values_list("pk", "state"))
    assert states[old.pk] == states[sdr_old.pk] == State.EXPIRED
    assert states[claimed.pk] == State.CLAIMED
    assert states[sdr_young.pk] == State.OPEN


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_claims_have_exactly_one_winner():
    reps = [UserFactory(username=f"racer{i}", ae=True) for i in range(8)]
    item = make_item()
    barrier = threading.Barrier(len(reps))
    outcomes = []

    def claim(rep):
        close_old_connections()
        try:
            barrier.wait()
            queue_item_claim(item_id=item.pk, rep=rep)
            outcomes.append("won")
        except AlreadyClaimed:
            outcomes.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert RouteChange.objects.filter(item=item, to_state="claimed").count() == 1


def test_in_pool_agrees_with_pool_q_for_every_route_owner_and_role(ae, sdr, pm, admin_user):
    """The dossier decides pool membership in Python (in_pool) for items it has read;
    the queue in SQL (pool_q): both must say the same for every case."""
    other = UserFactory(username="other-ae", ae=True)
    items = [
        QueueItemFactory(route=route, owner=owner)
        for route in Route.values
        for owner in (None, ae, other)
    ]
    for user in (ae, sdr, pm, admin_user, other):
        in_sql = set(QueueItem.objects.filter(pool_q(user)).values_list("pk", flat=True))
        in_python = {item.pk for item in items if in_pool(user, item)}
        assert in_python == in_sql, user.username
