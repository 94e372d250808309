"""Daily usage rollups: values, UTC day boundaries, incremental = rebuild, the task and
the rebuild command. Data goes in through the real ingestion path (Segment messages)."""

import itertools
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.ingest import Message, parse_event
from accounts.models import (
    Account,
    AccountDay,
    AccountFeatureDay,
    AccountUserDay,
    Event,
    ProductUser,
    TouchedDay,
)
from accounts.services import rollups
from accounts.services.ingestion import events_ingest
from accounts.services.rollups import (
    ROLLUP_LOCK,
    RollupBusy,
    rollup_rebuild,
    rollup_rebuild_job,
    rollup_run,
)
from accounts.tasks import rollup_touched
from pls_portal.models import Job, TaskLock
from pls_portal.services import job_create, task_lock

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)
NEXT = DAY + timedelta(days=1)
_message_ids = itertools.count()


# --- Segment messages through the real ingestion path ------------------------------------


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=UTC)


def _message(kind: str, when: datetime, user: str | None, **fields) -> dict:
    message = {
        "type": kind,
        "messageId": f"m-{next(_message_ids)}",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        **fields,
    }
    if user is not None:
        message["userId"] = user
    return message


def identify(user: str, email: str, when: datetime, **fields) -> dict:
    return _message("identify", when, user, traits={"email": email}, **fields)


def track(user: str | None, event: str, when: datetime, **fields) -> dict:
    return _message("track", when, user, event=event, **fields)


def page(user: str | None, path: str, when: datetime, **fields) -> dict:
    return _message("page", when, user, properties={"path": path}, **fields)


def ingest(*messages: dict) -> None:
    parsed = [parse_event(m, received_at=timezone.now()) for m in messages]
    assert all(isinstance(p, Message) for p in parsed), parsed
    events_ingest(messages=parsed, invalid=[], source="file")


def account(domain: str) -> Account:
    return Account.objects.get(domain=domain)


def user_pk(user_id: str) -> int:
    return ProductUser.objects.get(user_id=user_id).pk


# --- Reading the rollups ------------------------------------------------------------------


def account_days() -> list[tuple]:
    return sorted(
        AccountDay.objects.values_list(
            "account_id",
            "day",
            "events",
            "active_users",
            "paywall_hits",
            "buyer_intent_events",
            "limit_hits",
            "usage",
        ),
        key=lambda row: (row[0], row[1]),
    )


def user_days() -> list[tuple]:
    return sorted(AccountUserDay.objects.values_list("account_id", "user_id", "day", "events"))


def feature_days() -> list[tuple]:
    return sorted(
        AccountFeatureDay.objects.values_list("account_id", "feature_key", "day", "events")
    )


def all_rollups() -> tuple[list, list, list]:
    return account_days(), user_days(), feature_days()


def expected_from_events() -> tuple[list, list, list]:
    """The definitions, computed in Python from the stored events."""
    days: dict = defaultdict(
        lambda: {"events": 0, "users": set(), "paywall": 0, "intent": 0, "limits": Counter()}
    )
    usage: dict = defaultdict(Counter)
    per_user, per_feature = Counter(), Counter()
    for e in Event.objects.filter(account__isnull=False):
        pair = (e.account_id, e.timestamp.astimezone(UTC).date())
        row = days[pair]
        row["events"] += 1
        if e.user_id:
            row["users"].add(e.user_id)
            per_user[(e.account_id, e.user_id, pair[1])] += 1
        row["paywall"] += e.category == "paywall_hit"
        row["intent"] += e.category == "buyer_intent"
        if e.category == "limit_hit" and e.key:
            row["limits"][e.key] += 1
        if e.category == "usage_metric" and e.key:
            usage[pair][e.key] += 1 if e.value is None else e.value
        if e.category == "feature" and e.key:
            per_feature[(e.account_id, e.key, pair[1])] += 1
    account_rows = sorted(
        (
            *pair,
            row["events"],
            len(row["users"]),
            row["paywall"],
            row["intent"],
            dict(row["limits"]),
            dict(usage[pair]),
        )
        for pair, row in days.items()
    )
    return (
        account_rows,
        sorted((*key, n) for key, n in per_user.items()),
        sorted((*key, n) for key, n in per_feature.items()),
    )


# --- Values -------------------------------------------------------------------------------


def test_rollup_counts_events_users_paywalls_intent_limits_usage_and_features_per_day():
    ingest(
        identify("u1", "u1@acme.com", at(DAY, 9)),
        identify("u2", "u2@acme.com", at(DAY, 9, 5)),
        _message(
            "group",
            at(DAY, 9, 10),
            "u1",
            groupId="g-acme",
            traits={"name": "Acme", "website": "acme.com"},
        ),
        # Anonymous, but in the workspace: counts for the account, not as a user.
        track(
            None,
            "Dashboard Shared",
            at(DAY, 9, 20),
            anonymousId="anon-1",
            context={"groupId": "g-acme"},
        ),
        track("u1", "Project Created", at(DAY, 10)),
        track("u1", "Project Created", at(DAY, 10, 30)),
        track("u2", "Report Exported", at(DAY, 11)),
        track("u1", "Export Limit Reached", at(DAY, 12)),
        track("u1", "Export Limit Reached", at(DAY, 12, 10)),
        track("u2", "Limit Reached", at(DAY, 12, 20), properties={"limit": "seats"}),
        track("u2", "Paywall Hit", at(DAY, 13), properties={"feature": "sso"}),
        track("u1", "API Call Made", at(DAY, 14), properties={"count": 40}),
        track("u2", "API Call Made", at(DAY, 14, 5)),  # no count: one call
        track("u1", "Record Created", at(DAY, 14, 10), properties={"count": 2.5}),
        page("u2", "/pricing", at(DAY, 15)),
        track("u1", "Clicked Something Unplanned", at(DAY, 16)),
        track("u9", "Project Created", at(DAY, 16)),  # no account: not rolled up
        track("u1", "Project Created", at(NEXT, 8)),
        track("u1", "Limit Reached", at(NEXT, 9), properties={"limit": ""}),  # blank key
    )
    result = rollup_run()

    acme, u1, u2 = account("acme.com").pk, user_pk("u1"), user_pk("u2")
    assert account_days() == [
        (acme, DAY, 16, 2, 1, 1, {"exports": 2, "seats": 1}, {"api_calls": 41, "records": 2.5}),
        (acme, NEXT, 2, 1, 0, 0, {}, {}),
    ]
    assert user_days() == [(acme, u1, DAY, 9), (acme, u1, NEXT, 2), (acme, u2, DAY, 6)]
    assert feature_days() == [
        (acme, "dashboards", DAY, 1),
        (acme, "export", DAY, 1),
        (acme, "projects", DAY, 2),
        (acme, "projects", NEXT, 1),
    ]
    assert (result.pairs, result.accounts) == (2, 1)
    assert (result.account_days, result.user_days, result.feature_days) == (2, 3, 4)
    assert not TouchedDay.objects.exists()


def test_events_at_23_59_59_and_00_00_00_utc_land_on_different_days():
    ingest(
        identify("u1", "u1@acme.com", at(DAY, 0, 0, 0)),
        track("u1", "Project Created", at(DAY, 23, 59, 59)),
        track("u1", "Project Created", at(DAY, 23, 59, 59, 999999)),
        track("u1", "Project Created", at(NEXT, 0, 0, 0)),
        track("u1", "Project Created", at(NEXT, 23, 59, 59, 999999)),
        track("u1", "Project Created", at(NEXT + timedelta(days=1), 0, 0, 0, 1)),
    )
    rollup_run()

    acme = account("acme.com").pk
    assert [(row[1], row[2]) for row in account_days()] == [
        (DAY, 3),
        (NEXT, 2),
        (NEXT + timedelta(days=1), 1),
    ]
    assert [(row[2], row[3]) for row in feature_days()] == [
        (DAY, 2),
        (NEXT, 2),
        (NEXT + timedelta(days=1), 1),
    ]
    assert {row[0] for row in feature_days()} == {acme}


def test_distinct_users_over_any_window_from_user_days_match_raw_events():
    rng = random.Random(30)
    first = DAY - timedelta(days=39)
    messages = [identify(f"u{n}", f"u{n}@acme.com", at(first, 0)) for n in range(12)]
    for _ in range(300):
        day = first + timedelta(days=rng.randrange(40))
        when = rng.choice([at(day, 0), at(day, 23, 59, 59, 999999), at(day, rng.randrange(24), 30)])
        messages.append(track(f"u{rng.randrange(12)}", "Project Created", when))
    ingest(*messages)
    rollup_run()

    acme = account("acme.com")
    for window in (1, 7, 30):
        since = DAY - timedelta(days=window - 1)
        from_rollups = (
            AccountUserDay.objects.filter(account=acme, day__gte=since)
            .values("user")
            .distinct()
            .count()
        )
        from_events = (
            Event.objects.filter(account=acme, user__isnull=False, timestamp__gte=at(since, 0))
            .values("user")
            .distinct()
            .count()
        )
        assert from_rollups == from_events, window


# --- Incremental runs ---------------------------------------------------------------------

DOMAINS = ("acme.com", "globex.com", "initech.com", "gmail.com")
EVENTS = (
    ("track", "Project Created", {}),
    ("track", "Report Exported", {}),
    ("track", "Dashboard Shared", {}),
    ("track", "Export Limit Reached", {}),
    ("track", "Limit Reached", {"limit": "seats"}),
    ("track", "Limit Reached", {"limit": "projects"}),
    ("track", "Paywall Hit", {"feature": "sso"}),
    ("track", "API Call Made", {"count": 7}),
    ("track", "API Call Made", {}),
    ("track", "Record Created", {"count": 3}),
    ("track", "Signed In", {}),
    ("track", "Something Unplanned", {}),
    ("page", "/pricing", {}),
    ("page", "/security", {}),
    ("page", "/docs", {}),
)


def _random_message(rng: random.Random, user: str | None, **fields) -> dict:
    kind, name, properties = rng.choice(EVENTS)
    day = DAY - timedelta(days=rng.randrange(40))
    when = rng.choice(
        [at(day, 0), at(day, 23, 59, 59), at(day, rng.randrange(24), rng.randrange(60))]
    )
    if kind == "page":
        return page(user, name, when, **fields)
    return track(user, name, when, properties=properties, **fields)


def _random_history(rng: random.Random) -> list[list[dict]]:
    """Ingest calls in order: identified users in three companies and free mail, plus an
    anonymous visitor whose events move into an account when they identify late."""
    users = [(f"u{n}", DOMAINS[n % len(DOMAINS)]) for n in range(10)]
    calls = [
        [identify(user, f"{user}@{domain}", at(DAY - timedelta(days=40), 0))]
        for user, domain in users
    ]
    for _ in range(8):
        call = [_random_message(rng, rng.choice(users)[0]) for _ in range(rng.randrange(20, 50))]
        call += [_random_message(rng, None, anonymousId="anon-late") for _ in range(3)]
        calls.append(call)
    late = identify("late", "late@initech.com", at(DAY, 12), anonymousId="anon-late")
    calls.insert(rng.randrange(len(users) + 2, len(calls)), [late])
    return calls


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_rollups_equal_a_rebuild_from_scratch(seed):
    rng = random.Random(seed)
    for call in _random_history(rng):
        ingest(*call)
        if rng.random() < 0.5:
            rollup_run(chunk_size=rng.choice([1, 3, 50, 2000]))
    rollup_run(chunk_size=7)
    incremental = all_rollups()

    assert Event.objects.filter(user__user_id="late", account__domain="initech.com").exists()
    assert incremental == expected_from_events()
    assert len(incremental[0]) > 40
    rollup_rebuild()
    assert all_rollups() == incremental
    assert not TouchedDay.objects.exists()


def test_a_second_run_changes_nothing():
    rng = random.Random(7)
    for call in _random_history(rng):
        ingest(*call)
    rollup_run()
    before = all_rollups()
    changed_at = dict(Account.objects.values_list("pk", "usage_changed_at"))

    result = rollup_run()

    assert all_rollups() == before
    assert (result.pairs, result.account_days) == (0, 0)
    assert dict(Account.objects.values_list("pk", "usage_changed_at")) == changed_at


def test_a_day_left_without_events_loses_its_rollup_rows():
    ingest(
        identify("u1", "u1@acme.com", at(DAY, 9)),
        track("u1", "Project Created", at(NEXT, 9)),
    )
    rollup_run()
    acme = account("acme.com")
    # Events leave an account's day when they are moved (a merge) or removed.
    Event.objects.filter(timestamp__gte=at(NEXT, 0)).delete()
    TouchedDay.objects.create(account=acme, day=NEXT)

    rollup_run()

    assert [row[1] for row in account_days()] == [DAY]
    assert [row[2] for row in user_days()] == [DAY]
    assert feature_days() == []


def test_pairs_touched_while_a_run_is_under_way_stay_for_the_next_run(monkeypatch):
    ingest(identify("u1", "u1@acme.com", at(DAY, 9)), track("u1", "Project Created", at(DAY, 10)))
    acme = account("acme.com").pk
    chunk = rollups._rollup_chunk
    calls = []

    def ingestion_after_max_id_was_read(**kwargs):
        if not calls:
            ingest(
                track("u1", "Project Created", at(DAY, 15)),
                track("u1", "Project Created", at(NEXT, 15)),
            )
        calls.append(kwargs)
        return chunk(**kwargs)

    monkeypatch.setattr(rollups, "_rollup_chunk", ingestion_after_max_id_was_read)
    first = rollup_run()
    monkeypatch.undo()

    assert first.pairs == 1
    assert sorted(TouchedDay.objects.values_list("account_id", "day")) == [
        (acme, DAY),
        (acme, NEXT),
    ]
    second = rollup_run()
    assert second.pairs == 2
    assert [(row[1], row[2]) for row in account_days()] == [(DAY, 3), (NEXT, 1)]
    assert not TouchedDay.objects.exists()


def test_usage_changed_at_is_set_for_rolled_accounts_and_only_them():
    quiet = Account.objects.create(name="Quiet", domain="quiet.com", created_at=timezone.now())
    ingest(
        identify("u1", "u1@acme.com", at(DAY, 9)),
        identify("u2", "u2@globex.com", at(DAY, 9)),
    )
    acme, globex = account("acme.com"), account("globex.com")
    assert Account.objects.filter(usage_changed_at__isnull=False).count() == 0

    started = timezone.now()
    rollup_run()
    changed = dict(Account.objects.values_list("pk", "usage_changed_at"))
    assert changed[acme.pk] >= started and changed[globex.pk] >= started
    assert changed[quiet.pk] is None

    ingest(track("u1", "Project Created", at(NEXT, 9)))
    rollup_run()
    again = dict(Account.objects.values_list("pk", "usage_changed_at"))
    assert again[acme.pk] > changed[acme.pk]
    assert again[globex.pk] == changed[globex.pk]
    assert again[quiet.pk] is None


def test_rollup_queries_do_not_grow_with_accounts_or_events():
    def queries_for(companies: int) -> int:
        ingest(
            *[
                identify(f"u{n}-{companies}", f"u{n}@c{n}-{companies}.com", at(DAY, 9))
                for n in range(companies)
            ],
            *[
                track(f"u{n}-{companies}", "Project Created", at(DAY - timedelta(days=d), 10))
                for n in range(companies)
                for d in range(5)
            ],
        )
        with CaptureQueriesContext(connection) as queries:
            rollup_run()
        return len(queries)

    assert queries_for(2) == queries_for(20)


# --- Rebuild --------------------------------------------------------------------------------


def test_rebuild_removes_rows_that_no_events_back():
    ingest(identify("u1", "u1@acme.com", at(DAY, 9)), track("u1", "Paywall Hit", at(DAY, 10)))
    rollup_run()
    acme = account("acme.com")
    good = all_rollups()
    stray_day = DAY - timedelta(days=3)
    AccountDay.objects.create(account=acme, day=stray_day, events=5)
    AccountUserDay.objects.create(
        account=acme, user=ProductUser.objects.get(user_id="u1"), day=stray_day, events=5
    )
    AccountFeatureDay.objects.create(account=acme, feature_key="projects", day=NEXT, events=1)

    result = rollup_rebuild()

    assert all_rollups() == good
    assert result.pairs == 3


def test_rebuild_rollups_command_prints_the_summary_and_records_a_done_job(capsys):
    ingest(
        identify("u1", "u1@acme.com", at(DAY, 9)),
        identify("u2", "u2@globex.com", at(NEXT, 9)),
        track("u2", "Project Created", at(NEXT, 10)),
    )
    rollup_run()
    expected = all_rollups()

    call_command("rebuild_rollups")

    out, err = capsys.readouterr()
    job = Job.objects.get(kind="rollup_rebuild")
    assert f"Rollup rebuild job #{job.pk}: 2 account-days of 2 accounts rolled up" in out
    assert "2 account days, 2 user days, 1 feature days written" in out
    assert "Rollup rebuild" in err and "2/2" in err
    assert (job.state, job.done, job.total) == ("done", 2, 2)
    assert job.result == {
        "pairs": 2,
        "accounts": 2,
        "account_days": 2,
        "user_days": 2,
        "feature_days": 1,
        "arr_changed": 0,  # the estimates were made when these days were first rolled up
    }
    assert all_rollups() == expected


def test_rebuild_does_not_run_beside_a_rollup_that_holds_the_lock():
    ingest(identify("u1", "u1@acme.com", at(DAY, 9)))
    job = job_create(kind="rollup_rebuild")
    with task_lock(name=ROLLUP_LOCK, ttl=timedelta(minutes=5)) as held:
        assert held
        with pytest.raises(RollupBusy):
            rollup_rebuild_job(job_id=job.pk, wait=timedelta(0))
    job.refresh_from_db()
    assert job.state == "failed"
    assert "another rollup is running" in job.message
    assert not AccountDay.objects.exists()


# --- The periodic task ----------------------------------------------------------------------


def test_rollup_task_skips_while_another_run_holds_the_lock():
    ingest(identify("u1", "u1@acme.com", at(DAY, 9)))
    with task_lock(name=ROLLUP_LOCK, ttl=timedelta(minutes=5)) as held:
        assert held
        rollup_touched.run()
    assert TouchedDay.objects.exists()
    assert not AccountDay.objects.exists()

    rollup_touched.run()

    assert not TouchedDay.objects.exists()
    assert [(row[1], row[2]) for row in account_days()] == [(DAY, 1)]
    assert not Job.objects.exists()


def test_rollup_task_without_touched_days_only_looks():
    with CaptureQueriesContext(connection) as queries:
        rollup_touched.run()
    assert len(queries) == 1
    assert not TaskLock.objects.exists()
    assert not Job.objects.exists()


def test_beat_runs_the_rollup_every_five_seconds():
    from pls_portal.celery import app

    entry = app.conf.beat_schedule["accounts-rollup"]
    assert entry == {"task": "accounts.tasks.rollup_touched", "schedule": 5.0}
    assert "accounts.tasks.rollup_touched" in app.tasks
