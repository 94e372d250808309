"""Daily usage rollups per UTC day: AccountDay, AccountUserDay and AccountFeatureDay.

Incremental over the (account, day) pairs that ingestion and identity record in
TouchedDay. Each chunk of pairs is one transaction of set-based SQL: take the chunk's
TouchedDay rows, delete the pairs' rollup rows, insert them again with
``INSERT … SELECT … GROUP BY`` over each pair's events (found through the
(account, timestamp) index by a [day 00:00, next day 00:00) UTC range), and mark the
accounts' usage as changed for scoring. A rebuild touches every pair and runs the same
code, so both paths give the same rows by construction.

The rollup is the only writer of ``Account.usage_changed_at`` and runs one at a time
(the ``accounts-rollup`` task lock, taken by the callers).
"""

# SQL here interpolates only table names and fragments defined in this module; every
# value travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import (
    Account,
    AccountDay,
    AccountFeatureDay,
    AccountUserDay,
    Event,
    TouchedDay,
)
from accounts.services.arr import accounts_arr_recompute
from pls_portal.services import JobProgress, ProgressBar, job_fail, job_running, task_lock

logger = logging.getLogger(__name__)

ROLLUP_LOCK = "accounts-rollup"
ROLLUP_LOCK_TTL = timedelta(minutes=10)
# Long enough for a rebuild of the whole history; a killed rebuild blocks the periodic
# rollup for at most this long.
REBUILD_LOCK_TTL = timedelta(hours=2)
# How long a rebuild waits for a running periodic rollup to finish.
REBUILD_LOCK_WAIT = ROLLUP_LOCK_TTL
ROLLUP_REBUILD_KIND = "rollup_rebuild"
CHUNK_PAIRS = 2000


class RollupBusy(Exception):
    """Another rollup holds the lock and did not let go in time."""


@dataclass
class RollupResult:
    pairs: int = 0
    accounts: int = 0
    account_days: int = 0
    user_days: int = 0
    feature_days: int = 0
    arr_changed: int = 0
    account_ids: set[int] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict:
        """The counts, for a Job's result (not the account ids)."""
        return {k: v for k, v in asdict(self).items() if k != "account_ids"}

    @property
    def summary(self) -> str:
        return (
            f"{self.pairs} account-days of {self.accounts} accounts rolled up: "
            f"{self.account_days} account days, {self.user_days} user days, "
            f"{self.feature_days} feature days written"
        )


# --- Vendor differences -------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    # A subquery with columns (account_id, day) read from one JSON parameter
    # ``[[account_id, "YYYY-MM-DD"], …]``.
    pairs: str
    day_start: Callable[[str], str]
    day_end: Callable[[str], str]
    utc_date: Callable[[str], str]
    object_agg: Callable[[str, str], str]


# Django stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]', which
# sorts like the time it names, so day bounds are text of the same shape.
_SQLITE = _Dialect(
    pairs=(
        "(SELECT CAST(json_extract(value, '$[0]') AS INTEGER) AS account_id, "
        "json_extract(value, '$[1]') AS day FROM json_each(%s))"
    ),
    day_start=lambda day: f"({day} || ' 00:00:00')",
    day_end=lambda day: f"(date({day}, '+1 day') || ' 00:00:00')",
    utc_date=lambda ts: f"date({ts})",
    object_agg=lambda key, value: f"json_group_object({key}, {value})",
)
_POSTGRES = _Dialect(
    pairs=(
        "(SELECT (value->>0)::bigint AS account_id, (value->>1)::date AS day "
        "FROM jsonb_array_elements(%s::jsonb))"
    ),
    day_start=lambda day: f"(({day})::timestamp AT TIME ZONE 'UTC')",
    day_end=lambda day: f"((({day}) + 1)::timestamp AT TIME ZONE 'UTC')",
    utc_date=lambda ts: f"(({ts}) AT TIME ZONE 'UTC')::date",
    object_agg=lambda key, value: f"jsonb_object_agg({key}, {value})",
)


def _dialect() -> _Dialect:
    if connection.vendor == "postgresql":
        return _POSTGRES
    if connection.vendor == "sqlite":
        return _SQLITE
    raise NotImplementedError(f"rollups support SQLite and PostgreSQL, not {connection.vendor}")


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- One chunk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    seen: int  # distinct pairs the chunk was cut at (what progress counts)
    last: tuple[int, date]  # the next chunk starts after this pair
    pairs: list[tuple[int, str]]  # the pairs rolled up: those whose rows were taken
    account_days: int
    user_days: int
    feature_days: int
    arr_changed: int


def _pair_bound(op: str, bound: tuple[int, date] | None) -> tuple[str, list]:
    if bound is None:
        return "", []
    return f" AND (account_id, day) {op} (%s, %s)", list(bound)


def _rollup_chunk(*, max_id: int, after: tuple[int, date] | None, size: int) -> _Chunk | None:
    """Roll up the next ``size`` distinct pairs after ``after``; None when none are left."""
    touched = _table(TouchedDay)
    after_sql, after_params = _pair_bound(">", after)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT account_id, day FROM {touched} WHERE id <= %s{after_sql} "
            "ORDER BY account_id, day LIMIT %s",
            [max_id, *after_params, size],
        )
        cut = cursor.fetchall()
        if not cut:
            return None
        last = cut[-1]
        upto_sql, upto_params = _pair_bound("<=", last)
        # Take the rows first and roll up exactly the pairs taken. On PostgreSQL a row
        # with a lower id can commit after max(id) was read; the DELETE sees it only
        # once its transaction (and so its events) committed, and the statements below
        # see those events. A row it does not see stays for the next run.
        cursor.execute(
            f"DELETE FROM {touched} WHERE id <= %s{after_sql}{upto_sql} RETURNING account_id, day",
            [max_id, *after_params, *upto_params],
        )
        pairs = sorted({(account_id, str(day)) for account_id, day in cursor.fetchall()})
        counts = _rollup_pairs(cursor, pairs) if pairs else (0, 0, 0)
        # ARR potential reads active users: recomputed in the same transaction, so a run
        # killed after this chunk leaves no account rolled up with a stale estimate.
        arr_changed = accounts_arr_recompute(account_ids={a for a, _ in pairs}) if pairs else 0
    return _Chunk(len(cut), last, pairs, *counts, arr_changed)


def _rollup_pairs(cursor, pairs: list[tuple[int, str]]) -> tuple[int, int, int]:
    """Replace the rollup rows of ``pairs`` (distinct) and mark their accounts changed."""
    sql = _dialect()
    param = json.dumps(pairs)
    pairs_cte = f"WITH pairs AS {sql.pairs}"
    # Each pair's events, by the (account_id, timestamp) index.
    pair_events = (
        "FROM pairs p JOIN {event} e ON e.account_id = p.account_id "
        "AND e.timestamp >= {start} AND e.timestamp < {end}"
    ).format(event=_table(Event), start=sql.day_start("p.day"), end=sql.day_end("p.day"))

    for model in (AccountDay, AccountUserDay, AccountFeatureDay):
        cursor.execute(
            f"DELETE FROM {_table(model)} WHERE (account_id, day) IN "
            f"(SELECT account_id, day FROM {sql.pairs} p)",
            [param],
        )

    # Statements start with INSERT (the WITH inside) so that SQLite reports rowcount.
    cursor.execute(
        f"""
        INSERT INTO {_table(AccountDay)} (account_id, day, events, active_users, paywall_hits,
            buyer_intent_events, invites_sent, intent, limit_hits, usage)
        {pairs_cte},
        ev AS (SELECT p.account_id, p.day, e.user_id, e.category, e.key, e.value {pair_events}),
        limits AS (
            SELECT account_id, day, {sql.object_agg("key", "hits")} AS hits
            FROM (
                SELECT account_id, day, key, COUNT(*) AS hits FROM ev
                WHERE category = 'limit_hit' AND key <> ''
                GROUP BY account_id, day, key
            ) k
            GROUP BY account_id, day
        ),
        intents AS (
            SELECT account_id, day, {sql.object_agg("key", "total")} AS intent
            FROM (
                SELECT account_id, day, key, COUNT(*) AS total FROM ev
                WHERE category = 'buyer_intent' AND key <> ''
                GROUP BY account_id, day, key
            ) i
            GROUP BY account_id, day
        ),
        metrics AS (
            SELECT account_id, day, {sql.object_agg("key", "total")} AS usage
            FROM (
                SELECT account_id, day, key, SUM(COALESCE(value, 1)) AS total FROM ev
                WHERE category = 'usage_metric' AND key <> ''
                GROUP BY account_id, day, key
            ) m
            GROUP BY account_id, day
        )
        SELECT d.account_id, d.day, d.events, d.active_users, d.paywall_hits,
            d.buyer_intent_events, d.invites_sent, COALESCE(i.intent, '{{}}'),
            COALESCE(l.hits, '{{}}'), COALESCE(m.usage, '{{}}')
        FROM (
            SELECT account_id, day, COUNT(*) AS events,
                COUNT(DISTINCT user_id) AS active_users,
                SUM(CASE WHEN category = 'paywall_hit' THEN 1 ELSE 0 END) AS paywall_hits,
                SUM(CASE WHEN category = 'buyer_intent' THEN 1 ELSE 0 END)
                    AS buyer_intent_events,
                SUM(CASE WHEN category = 'invite_sent' THEN 1 ELSE 0 END) AS invites_sent
            FROM ev
            GROUP BY account_id, day
        ) d
        LEFT JOIN intents i ON i.account_id = d.account_id AND i.day = d.day
        LEFT JOIN limits l ON l.account_id = d.account_id AND l.day = d.day
        LEFT JOIN metrics m ON m.account_id = d.account_id AND m.day = d.day
        """,
        [param],
    )
    account_days = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO {_table(AccountUserDay)} (account_id, user_id, day, events)
        {pairs_cte}
        SELECT p.account_id, e.user_id, p.day, COUNT(*) {pair_events}
        WHERE e.user_id IS NOT NULL
        GROUP BY p.account_id, p.day, e.user_id
        """,
        [param],
    )
    user_days = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO {_table(AccountFeatureDay)} (account_id, feature_key, day, events)
        {pairs_cte}
        SELECT p.account_id, e.key, p.day, COUNT(*) {pair_events}
        WHERE e.category = 'feature' AND e.key <> ''
        GROUP BY p.account_id, p.day, e.key
        """,
        [param],
    )
    feature_days = cursor.rowcount
    # Last statement before commit, so scoring sees the new time as late as possible.
    cursor.execute(
        f"UPDATE {_table(Account)} SET usage_changed_at = %s "
        f"WHERE id IN (SELECT account_id FROM {sql.pairs} p)",
        [connection.ops.adapt_datetimefield_value(timezone.now()), param],
    )
    return account_days, user_days, feature_days


# --- Runs ---------------------------------------------------------------------------------


def rollup_pending() -> bool:
    """True when some (account, day) pair waits for the rollup (one cheap read)."""
    return TouchedDay.objects.exists()


def rollup_run(
    *, progress: JobProgress | None = None, chunk_size: int = CHUNK_PAIRS
) -> RollupResult:
    """Roll up the (account, day) pairs touched up to now, ``chunk_size`` pairs per
    transaction. Pairs touched while it runs stay for the next run."""
    result = RollupResult()
    max_id = TouchedDay.objects.aggregate(max_id=Max("id"))["max_id"]
    if progress is not None:
        total = 0
        if max_id is not None:
            total = (
                TouchedDay.objects.filter(id__lte=max_id).values("account_id", "day").distinct()
            ).count()
        progress.set_total(total)
    if max_id is None:
        return result
    accounts: set[int] = set()
    after = None
    while chunk := _rollup_chunk(max_id=max_id, after=after, size=chunk_size):
        after = chunk.last
        result.pairs += len(chunk.pairs)
        accounts.update(account_id for account_id, _ in chunk.pairs)
        result.account_days += chunk.account_days
        result.user_days += chunk.user_days
        result.feature_days += chunk.feature_days
        result.arr_changed += chunk.arr_changed
        if progress is not None:
            progress.advance(chunk.seen, message="Rolling up daily usage")
    result.accounts = len(accounts)
    result.account_ids = accounts
    return result


def rollup_rebuild(
    *, progress: JobProgress | None = None, chunk_size: int = CHUNK_PAIRS
) -> RollupResult:
    """Recompute every rollup row from the events: touch every pair that has events or
    rollup rows, then run the incremental rollup over them. Pairs without events lose
    their rows, as a rebuild from empty tables would; unlike emptying the tables first,
    scoring never reads missing days while it runs."""
    sql = _dialect()
    event = _table(Event)
    existing = " UNION ".join(
        f"SELECT account_id, day FROM {_table(model)}"
        for model in (AccountDay, AccountUserDay, AccountFeatureDay)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(TouchedDay)} (account_id, day) "
            f"SELECT account_id, {sql.utc_date('timestamp')} FROM {event} "
            f"WHERE account_id IS NOT NULL UNION {existing}"
        )
    return rollup_run(progress=progress, chunk_size=chunk_size)


@contextmanager
def _rollup_lock(*, ttl: timedelta, wait: timedelta) -> Iterator[None]:
    """Hold the rollup lock, waiting up to ``wait`` for a running rollup to end."""
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        with task_lock(name=ROLLUP_LOCK, ttl=ttl) as acquired:
            if acquired:
                yield
                return
        if time.monotonic() >= deadline:
            raise RollupBusy("another rollup is running; try again when it has finished")
        time.sleep(1)


def usage_refresh(*, progress: JobProgress | None = None) -> tuple[RollupResult, int]:
    """Roll up the pending days, recomputing ARR potential of the accounts they belong
    to (active users are one of its inputs) chunk by chunk. Returns the rollup and how
    many estimates changed. Callers hold the rollup lock."""
    result = rollup_run(progress=progress)
    return result, result.arr_changed


def rollup_run_now(*, wait: timedelta = ROLLUP_LOCK_TTL) -> RollupResult:
    """Roll up what is pending now, taking turns with the periodic rollup: for commands
    (``import_events``, ``rescore``) that must work with no worker running."""
    with _rollup_lock(ttl=ROLLUP_LOCK_TTL, wait=wait):
        return usage_refresh()[0]


def rollup_rebuild_job(
    *, job_id: int, bar: ProgressBar | None = None, wait: timedelta = REBUILD_LOCK_WAIT
) -> RollupResult:
    """Run a rollup rebuild as the given job, alone (the periodic rollup skips meanwhile)."""
    try:
        with (
            _rollup_lock(ttl=REBUILD_LOCK_TTL, wait=wait),
            job_running(job_id=job_id, bar=bar) as progress,
        ):
            result = rollup_rebuild(progress=progress)
            progress.result = result.as_dict()
            progress.message = result.summary
    except RollupBusy as exc:
        job_fail(job_id=job_id, message=f"Skipped: {exc}.")
        raise
    logger.info("rollup rebuild done job_id=%s %s", job_id, result.as_dict())
    return result
