"""The handoff: which route changes become which events, once each, for the endpoints
subscribed to them; the cursor never skips a row committed late."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from feedback.outbound.models import Delivery, EventType, OutboundCursor, OutboundEvent
from feedback.outbound.services.handoff import GAP_TIMEOUT, outbound_handoff
from scoring.models import QueueItem, RouteChange
from scoring.services.queue import (
    queue_item_claim,
    queue_item_close,
    queue_item_touch,
    touch_response,
)
from tests.factories import AccountFactory, UserFactory
from tests.feedback.outbound.factories import RouteChangeFactory, endpoint
from tests.scoring.factories import AccountScoreFactory, QueueItemFactory

pytestmark = pytest.mark.django_db


def _events() -> dict[str, OutboundEvent]:
    return {e.id: e for e in OutboundEvent.objects.all()}


def test_each_kind_of_route_change_becomes_its_event():
    endpoint()
    # (from route, to route, from state, to state) as scoring writes them.
    rows = {
        name: RouteChangeFactory(
            from_route=moves[0], to_route=moves[1], from_state=moves[2], to_state=moves[3],
            reason="lost: no budget" if name == "lost" else "test",
        )
        for name, moves in {
            "pql": ("sdr", "ae", "", "open"),
            "inbound": ("self_serve", "inbound", "", "open"),
            "moved": ("sdr", "ae", "open", "open"),
            "claimed": ("ae", "ae", "open", "claimed"),
            "backed_off": ("ae", "held", "touched", "backed_off"),
            "marketing": ("sdr", "sdr", "claimed", "marketing"),
            "lost": ("ae", "ae", "touched", "lost"),
            "expired": ("ae", "ae", "open", "expired"),
            "cool_down": ("ae", "held", "lost", "lost"),
        }.items()
    }  # fmt: skip

    result = outbound_handoff()

    types = {name: _events().get(f"evt_rc_{row.pk}") for name, row in rows.items()}
    assert {name: e.type if e else None for name, e in types.items()} == {
        "pql": EventType.PQL_CREATED,
        "inbound": EventType.ROUTE_CHANGED,
        "moved": EventType.ROUTE_CHANGED,
        "claimed": None,
        "backed_off": EventType.BACKED_OFF,
        "marketing": EventType.HANDED_TO_MARKETING,
        "lost": EventType.CLOSED,
        "expired": EventType.CLOSED,
        "cool_down": EventType.ROUTE_CHANGED,
    }
    lost = types["lost"]
    assert lost.payload["data"]["outcome"] == "lost"
    assert lost.summary == f"{rows['lost'].account.name} closed lost — lost: no budget"
    assert (result.read, result.events, result.deliveries) == (9, 8, 8)


def test_a_real_close_won_tells_the_deal_and_who_closed_it():
    endpoint(event_types=[EventType.CLOSED])
    rep = UserFactory(username="alex", ae=True)
    item = QueueItemFactory(account=AccountFactory(name="Globex"))
    AccountScoreFactory(account=item.account, route="ae")
    queue_item_claim(item_id=item.pk, rep=rep)
    touch = queue_item_touch(item_id=item.pk, rep=rep, channel="email", person="Ada", note="")
    touch_response(touch_id=touch.pk, rep=rep, note="keen")
    queue_item_close(item_id=item.pk, rep=rep, won=True, arr=Decimal("24000"))

    outbound_handoff()

    [event] = OutboundEvent.objects.all()
    data = event.payload["data"]
    assert event.type == EventType.CLOSED
    assert event.summary == "Globex closed won (24,000 USD ARR) — won: $24,000 ARR"
    assert (data["outcome"], data["by"], data["item"]["state"]) == ("won", rep.email, "won")
    assert data["deal"]["arr"] == "24000.00" and data["deal"]["stage"] == "won"
    assert data["account"]["owner"] == rep.email


def test_only_subscribed_active_endpoints_get_deliveries():
    closed_only = endpoint(name="closed", event_types=[EventType.CLOSED])
    everything = endpoint(name="everything")
    endpoint(name="off", is_active=False)
    RouteChangeFactory()  # a PQL
    RouteChangeFactory(from_state="touched", to_state="won", to_route="ae", from_route="ae")

    outbound_handoff()

    by_endpoint = {
        name: sorted(
            Delivery.objects.filter(endpoint__name=name).values_list("event__type", flat=True)
        )
        for name in ("closed", "everything", "off")
    }
    assert by_endpoint == {
        "closed": ["closed"],
        "everything": ["closed", "pql_created"],
        "off": [],
    }
    assert closed_only.pk != everything.pk


def test_a_second_run_hands_off_nothing_twice():
    endpoint()
    RouteChangeFactory.create_batch(3)
    outbound_handoff(batch=2)

    again = outbound_handoff(batch=2)

    assert (again.read, again.events) == (0, 0)
    assert OutboundEvent.objects.count() == Delivery.objects.count() == 3


def test_history_before_the_first_endpoint_is_not_sent():
    RouteChangeFactory.create_batch(2)
    endpoint()
    later = RouteChangeFactory()

    outbound_handoff()

    assert list(OutboundEvent.objects.values_list("id", flat=True)) == [f"evt_rc_{later.pk}"]


def test_with_no_endpoint_the_cursor_moves_on_and_writes_nothing():
    endpoint(is_active=False)
    newest = RouteChangeFactory.create_batch(2)[-1]

    result = outbound_handoff()

    assert OutboundEvent.objects.count() == 0
    assert result.cursor == newest.pk == OutboundCursor.objects.get().last_route_change_id


def test_a_row_committed_late_below_the_cursor_is_still_handed_off():
    """PostgreSQL hands out ids before commit: id n+2 can be visible before n+1. Here the
    late row is written with the skipped id, as its transaction would commit it."""
    endpoint()
    base = RouteChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    account = AccountFactory()
    RouteChangeFactory(pk=base + 1, account=account)
    RouteChangeFactory(pk=base + 3, account=account)

    first = outbound_handoff()
    assert first.cursor == base + 3 and first.gaps_open == 1

    RouteChangeFactory(pk=base + 2, account=account)  # the late commit
    second = outbound_handoff()
    third = outbound_handoff()

    assert (second.gaps_filled, second.events, second.gaps_open) == (1, 1, 0)
    assert (third.read, third.events) == (0, 0)
    assert sorted(OutboundEvent.objects.values_list("id", flat=True)) == [
        f"evt_rc_{base + n}" for n in (1, 2, 3)
    ]
    assert Delivery.objects.count() == 3


def test_an_id_that_never_appears_is_given_up_after_the_gap_timeout():
    endpoint()
    base = RouteChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    RouteChangeFactory(pk=base + 1)
    RouteChangeFactory(pk=base + 4)  # base+2 and base+3 were rolled back
    now = timezone.now()
    outbound_handoff(now=now)

    still = outbound_handoff(now=now + GAP_TIMEOUT - timedelta(seconds=1))
    gone = outbound_handoff(now=now + GAP_TIMEOUT + timedelta(seconds=1))

    assert still.gaps_open == 2 and still.gaps_expired == 0
    assert gone.gaps_open == 0 and gone.gaps_expired == 2
    assert OutboundCursor.objects.get().gaps == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_concurrent_transaction_committing_late_is_not_skipped():
    """Two real transactions: the first takes an id and commits after the second; the
    handoff in between sees only the higher id, and picks the lower one up later."""
    endpoint()
    account = AccountFactory()
    written, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                RouteChangeFactory(account=account, reason="slow")
                written.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert written.wait(10)
    fast = RouteChangeFactory(account=account, reason="fast")

    first = outbound_handoff()
    awaited = OutboundCursor.objects.get().gaps
    release.set()
    writer.join(10)
    second = outbound_handoff()

    slow = RouteChange.objects.get(reason="slow")
    assert slow.pk < fast.pk == first.cursor
    # (Earlier tests' rolled-back ids are awaited too, until the gap timeout.)
    assert first.events == 1 and any(low <= slow.pk <= high for low, high, _ in awaited)
    assert second.gaps_filled == 1 and second.events == 1
    assert sorted(OutboundEvent.objects.values_list("route_change_id", flat=True)) == [
        slow.pk,
        fast.pk,
    ]


def test_queue_items_in_every_state_come_out_once_each():
    """A larger mix through the real queue services, handed off in small batches."""
    endpoint()
    rep = UserFactory(username="sam", ae=True)
    items = [QueueItemFactory() for _ in range(5)]
    for item in items:
        AccountScoreFactory(account=item.account, route="ae")
        queue_item_claim(item_id=item.pk, rep=rep)
    for item in items[:3]:
        queue_item_close(item_id=item.pk, rep=rep, won=False, lost_reason="no budget")

    outbound_handoff(batch=2)
    outbound_handoff(batch=2)

    lost = OutboundEvent.objects.filter(type=EventType.CLOSED)
    held = OutboundEvent.objects.filter(type=EventType.ROUTE_CHANGED)
    assert lost.count() == 3 and held.count() == 3  # the close, then the cool-down
    assert Delivery.objects.count() == OutboundEvent.objects.count() == 6
    assert QueueItem.objects.filter(state="claimed").count() == 2
