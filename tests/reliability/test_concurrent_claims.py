"""Drill 3: fifty reps claim the same queue item at the same instant, each in a thread of
its own with its own PostgreSQL connection and transaction: exactly one wins, the 49
others are told who claimed first, and one claim is logged. Three items, three races."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from scoring.models import QueueItem, RouteChange
from scoring.services.queue import AlreadyClaimed, queue_item_claim
from tests.factories import UserFactory
from tests.scoring.factories import QueueItemFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CLAIMANTS = 50
RACES = 3


def _race(item: QueueItem, reps: list) -> list[tuple[str, object, str]]:
    """Every rep claims ``item`` once, all released together by a barrier."""
    start = threading.Barrier(len(reps))
    outcomes: list[tuple[str, object, str]] = []
    lock = threading.Lock()

    def claim(rep) -> None:
        try:
            start.wait(timeout=60)
            try:
                queue_item_claim(item_id=item.pk, rep=rep)
                outcome = ("won", rep, "")
            except AlreadyClaimed as exc:
                outcome = ("lost", rep, str(exc))
            except Exception as exc:  # anything else is a failure of the drill: shown below
                outcome = ("error", rep, f"{exc.__class__.__name__}: {exc}")
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "claims still running after two minutes"
    return outcomes


def test_fifty_concurrent_claims_of_one_item_have_exactly_one_winner(facts):
    reps = [
        UserFactory(username=f"rep{n:02d}", ae=True, first_name="Rep", last_name=f"{n:02d}")
        for n in range(CLAIMANTS)
    ]
    for _ in range(RACES):
        item = QueueItemFactory()
        outcomes = _race(item, reps)

        counts = Counter(kind for kind, _, _ in outcomes)
        errors = [(rep.username, message) for kind, rep, message in outcomes if kind == "error"]
        assert not errors, f"claims that failed other than 'already claimed': {errors[:5]}"
        assert counts == {"won": 1, "lost": CLAIMANTS - 1}, (
            f"{CLAIMANTS} concurrent claims of item #{item.pk}: {dict(counts)}, not one winner"
        )
        winner = next(rep for kind, rep, _ in outcomes if kind == "won")
        told = {message for kind, _, message in outcomes if kind == "lost"}
        assert told == {f"{winner.get_full_name()} claimed this account first"}, told

        item.refresh_from_db()
        assert (item.state, item.claimed_by) == (QueueItem.State.CLAIMED, winner)
        claims = RouteChange.objects.filter(item=item, to_state=QueueItem.State.CLAIMED)
        assert [c.by for c in claims] == [winner], "one claim logged, by the winner"
        facts(f"item #{item.pk}: {winner.username} won, {CLAIMANTS - 1} told so")
