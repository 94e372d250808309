"""Stored play matches: the bulk run writes only the rows that change, reads a fixed
number of queries per chunk, follows AccountScore.changed_at with a cursor, runs one at a
time, and re-matches everything after a play edit."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Plan
from playbooks.models import Play, PlayMatch, PlayMatchState
from playbooks.selectors import best_plays
from playbooks.services import MATCH_LOCK, play_matches_refresh, play_save, play_set_active
from playbooks.tasks import play_matches_run
from pls_portal.services import task_lock
from scoring.models import AccountScore
from scoring.services.run import SCORING_LOCK, scoring_run
from tests.callbacks import work_sent
from tests.factories import AccountFactory, ProductUserFactory
from tests.playbooks.factories import quiet_signals, scored_account
from tests.scoring.factories import AccountUserDayFactory

pytestmark = pytest.mark.django_db


def _matches() -> dict[int, tuple[str, list[str]]]:
    return {m.account_id: (m.play.key, m.matched) for m in PlayMatch.objects.select_related("play")}


def _rescore(account, *, changed_at=None, **signals) -> None:
    """What a scoring run does to the stored row: new signals, changed_at stamped."""
    AccountScore.objects.filter(account=account).update(
        signals=quiet_signals(**signals), changed_at=changed_at or timezone.now()
    )


def test_a_full_run_stores_each_accounts_best_play_with_the_conditions_in_words():
    # Matches "5+ users on the free plan" (65) and "repeated pricing visits" (55).
    both = scored_account(plan="free", active_users_30=7, pricing_views_30=4)
    pricing = scored_account(pricing_views_30=3)
    nothing = scored_account(active_users_30=2)

    result = play_matches_refresh()

    assert (result.full, result.accounts, result.created) == (True, 3, 2)
    assert _matches() == {
        both.pk: ("five-users-on-free-plan", ["7 active users in the last 30 days",
                                              "on the Free plan"]),
        pricing.pk: ("repeated-pricing-visits", ["3 pricing page views in 30 days"]),
    }  # fmt: skip
    assert nothing.pk not in _matches()


def test_running_again_writes_nothing():
    scored_account(pricing_views_30=3)
    play_matches_refresh(full=True)
    before = list(PlayMatch.objects.values_list("account_id", "matched_at"))

    result = play_matches_refresh(full=True)

    assert (result.created, result.updated, result.deleted) == (0, 0, 0)
    assert list(PlayMatch.objects.values_list("account_id", "matched_at")) == before


def test_only_the_rows_that_change_are_written():
    grows = scored_account(pricing_views_30=3)
    steady = scored_account(paywall_hits_14=2)
    starts = scored_account()
    stops = scored_account(sales_request_days=4)
    play_matches_refresh()
    steady_at = PlayMatch.objects.get(account=steady).matched_at

    _rescore(grows, pricing_views_30=5)  # same play, new words
    _rescore(starts, api_key_30=2)  # a match appears
    _rescore(stops)  # the match goes
    result = play_matches_refresh()

    assert (result.created, result.updated, result.deleted) == (1, 1, 1)
    matches = _matches()
    assert matches[grows.pk] == ("repeated-pricing-visits", ["5 pricing page views in 30 days"])
    assert matches[starts.pk][0] == "api-key-no-integration"
    assert stops.pk not in matches
    assert PlayMatch.objects.get(account=steady).matched_at == steady_at


def test_an_incremental_run_reads_only_scores_changed_since_its_cursor():
    untouched = scored_account(changed_at=timezone.now() - timedelta(days=2))
    newest = scored_account(changed_at=timezone.now() - timedelta(days=1))
    play_matches_refresh()  # the first run matches everything and sets the cursor
    state = PlayMatchState.objects.get()
    # The newest stamp it read; no scoring run was writing, so every row stamped with it
    # was read and the next run reads strictly later stamps.
    assert state.changed_seen_until == AccountScore.objects.get(account=newest).changed_at
    assert state.changed_settled

    # Signals changed without a new changed_at stamp: not read, by design of the cursor.
    AccountScore.objects.filter(account=untouched).update(signals=quiet_signals(pricing_views_30=9))
    rescored = scored_account(changed_at=timezone.now(), paywall_hits_14=3)
    never_stamped = scored_account(pricing_views_30=3)  # changed_at NULL counts as changed

    result = play_matches_refresh()

    assert (result.full, result.accounts) == (False, 2)  # rescored, never_stamped
    assert set(_matches()) == {rescored.pk, never_stamped.pk}
    assert PlayMatchState.objects.get().changed_seen_until >= state.changed_seen_until


def test_rows_stamped_while_a_scoring_run_writes_are_read_again_until_it_ends():
    """A scoring run stamps all its rows with its start time and commits them chunk by
    chunk: while it holds the lock, rows at the cursor's stamp are read again; once it
    has ended they are settled and a quiet period reads nothing (a full rescore's 100k
    rows are not re-read every 10 seconds)."""
    stamp = timezone.now() - timedelta(minutes=5)
    first = scored_account(changed_at=stamp)
    with task_lock(name=SCORING_LOCK, ttl=timedelta(minutes=1)):
        play_matches_refresh()
        late = scored_account(changed_at=stamp)  # a chunk committed after that read
        assert not PlayMatchState.objects.get().changed_settled
        assert play_matches_refresh().accounts == 2  # first (again) and late
    assert play_matches_refresh().accounts == 2  # read once more with the run ended…
    assert PlayMatchState.objects.get().changed_settled
    assert play_matches_refresh().accounts == 0  # …and then no more
    assert {first.pk, late.pk} <= set(AccountScore.objects.values_list("account_id", flat=True))


def test_a_run_that_cannot_take_the_lock_skips():
    scored_account(pricing_views_30=3)
    with task_lock(name=MATCH_LOCK, ttl=timedelta(minutes=1)) as taken:
        assert taken
        assert play_matches_refresh(full=True).skipped
        play_matches_run(full=True)  # the task skips quietly too
    assert not PlayMatch.objects.exists()
    assert play_matches_refresh().accounts == 1


def _run_counting_queries(*, accounts: int, chunk_size: int) -> int:
    PlayMatch.objects.all().delete()
    PlayMatchState.objects.all().delete()
    AccountScore.objects.all().delete()
    for _ in range(accounts):
        scored_account(pricing_views_30=3)
    with CaptureQueriesContext(connection) as queries:
        result = play_matches_refresh(full=True, chunk_size=chunk_size)
    assert result.created == accounts
    return len(queries)


def test_a_fixed_number_of_queries_per_chunk_whatever_its_size():
    _run_counting_queries(accounts=1, chunk_size=10)  # the lock's row is made once
    one_small_chunk = _run_counting_queries(accounts=3, chunk_size=10)
    one_full_chunk = _run_counting_queries(accounts=10, chunk_size=10)
    two_chunks = _run_counting_queries(accounts=20, chunk_size=10)
    three_chunks = _run_counting_queries(accounts=30, chunk_size=10)

    assert one_small_chunk == one_full_chunk
    per_chunk = two_chunks - one_full_chunk
    assert three_chunks == one_full_chunk + 2 * per_chunk
    # facts (scores, limit hits), stored matches, savepoint pair, one bulk insert.
    assert per_chunk <= 7


def test_a_play_edit_rematches_every_account_after_the_commit(
    admin_user, django_capture_on_commit_callbacks
):
    account = scored_account(pricing_views_30=3)
    play_matches_refresh()
    play = Play.objects.get(key="repeated-pricing-visits")
    fields = {f: getattr(play, f) for f in ("name", "situation", "approach", "message_template",
                                            "priority", "is_active")}  # fmt: skip

    with django_capture_on_commit_callbacks() as callbacks:
        play_save(
            user=admin_user,
            play_id=play.pk,
            conditions=[{"signal": "pricing_views_30", "operator": "gte", "threshold": 5}],
            **fields,
        )
    assert len(work_sent(callbacks)) == 1  # play_matches_run(full=True), after the commit
    assert PlayMatchState.objects.get().full_owed

    # Even when that task finds the lock taken, the next periodic run makes it up.
    result = play_matches_refresh()
    assert result.full and result.deleted == 1
    assert account.pk not in _matches()
    assert not PlayMatchState.objects.get().full_owed


def test_editing_only_the_words_of_a_play_does_not_rematch(
    admin_user, django_capture_on_commit_callbacks
):
    play = Play.objects.get(key="repeated-pricing-visits")
    with django_capture_on_commit_callbacks() as callbacks:
        play_save(
            user=admin_user,
            play_id=play.pk,
            name=play.name,
            situation="Pricing, again.",
            approach=play.approach,
            message_template="Hi {{ buyer.first_name or 'there' }}",
            priority=play.priority,
            is_active=True,
            conditions=play.conditions,
        )
    assert work_sent(callbacks) == []
    assert Play.objects.get(pk=play.pk).situation == "Pricing, again."


def test_a_deactivated_play_gives_way_to_the_next_best_play(
    admin_user, django_capture_on_commit_callbacks
):
    account = scored_account(plan="free", active_users_30=7, pricing_views_30=4)
    play_matches_refresh()
    free = Play.objects.get(key="five-users-on-free-plan")

    with django_capture_on_commit_callbacks() as callbacks:
        play_set_active(play_id=free.pk, active=False, user=admin_user)
    assert len(work_sent(callbacks)) == 1
    # Until the re-match runs, readers already skip the inactive play.
    assert best_plays(account_ids=[account.pk]) == {}

    play_matches_refresh()
    assert _matches()[account.pk][0] == "repeated-pricing-visits"


def test_a_merged_away_account_loses_its_match():
    merged = scored_account(pricing_views_30=3)
    survivor = scored_account()
    play_matches_refresh()
    merged.merged_into = survivor
    merged.save()
    _rescore(merged, pricing_views_30=3)

    assert play_matches_refresh().deleted == 1
    assert not PlayMatch.objects.exists()


def test_best_plays_reads_the_stored_matches_in_one_query(django_assert_num_queries):
    accounts = [scored_account(pricing_views_30=3) for _ in range(3)]
    play_matches_refresh()
    with django_assert_num_queries(1):
        found = best_plays(account_ids=[a.pk for a in accounts])
        names = {match.play.name for match in found.values()}
    assert set(found) == {a.pk for a in accounts}
    assert names == {"Repeated pricing visits"}


def test_signals_stored_by_a_real_scoring_run_are_matched():
    account = AccountFactory(name="Fernhill", plan=Plan.objects.get(key="free"))
    for _ in range(6):
        person = ProductUserFactory(account=account)
        AccountUserDayFactory(account=account, user=person, day=timezone.now().date())
    scoring_run(full=True)

    play_matches_refresh()

    assert _matches()[account.pk] == (
        "five-users-on-free-plan",
        ["6 active users in the last 30 days", "on the Free plan"],
    )
