"""Drill 1: ``kill -9`` the Celery worker in the middle of a rollup run and in the middle of
a full rescore, run again, and get exactly what an uninterrupted run gets on an identical
copy of the database: the same rollup rows and ARR estimates; the same scores, queue
items (one active per account) and RouteChange rows per account, none duplicated or lost.

The population (``benchmarks/generate.py``: 20k accounts, 400k events, COPY) is big
enough for each run to take several seconds, in many chunks of one transaction each.
Workers are real ``celery worker`` processes on Redis; tasks are queued the way the app
queues them (``rollup_touched.delay()``, ``rescore_start``)."""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.support import (
    BASE_DIR,
    PYTHON,
    DrillError,
    Worker,
    clear_of_midnight,
    differences,
    execute,
    fetch,
    scalar,
    shell,
    tail,
    wait_until,
)

ACCOUNTS = 20_000
EVENTS = 400_000
ROLLUP_LOCK = "accounts-rollup"
SCORING_LOCK = "scoring-run"


@dataclass(frozen=True)
class Db:
    name: str
    url: str


# --- Setting up ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-kill")


@pytest.fixture(scope="module")
def population(pg, db_prefix, migrated_template, logs):
    """The generated population with every (account, day) pair of its events waiting for
    the rollup, as ingestion leaves them (TouchedDay rows)."""
    # The two runs compared must see the same UTC date (windows end today).
    clear_of_midnight(minutes=8)
    name = f"{db_prefix}_population"
    url = pg.create(name, template=migrated_template)
    log = logs / "generate.log"
    with log.open("w") as out:
        done = subprocess.run(
            [PYTHON, "benchmarks/generate.py", "--accounts", str(ACCOUNTS),
             "--events", str(EVENTS), "--jobs", "2", "--database-url", url],
            cwd=BASE_DIR, stdout=out, stderr=out, timeout=300,
        )  # fmt: skip
    if done.returncode:
        raise DrillError(f"generate.py exited with {done.returncode}:\n{tail(log)}")
    execute(
        url,
        "INSERT INTO accounts_touchedday (account_id, day) "
        "SELECT DISTINCT account_id, (timestamp AT TIME ZONE 'UTC')::date "
        "FROM accounts_event WHERE account_id IS NOT NULL",
    )
    yield Db(name, url)
    pg.drop(name)


@pytest.fixture(scope="module")
def rolled_reference(pg, db_prefix, population, broker, logs):
    """A copy of the population rolled up by one uninterrupted run of the same task."""
    name = f"{db_prefix}_reference"
    url = pg.create(name, template=population.name)
    worker = Worker(database_url=url, log=logs / "reference-rollup-worker.log")
    try:
        shell(url, "from accounts.tasks import rollup_touched; rollup_touched.delay()")
        _wait_rollup_done(url, worker)
    finally:
        worker.stop()
    yield Db(name, url)
    pg.drop(name)


def _lock_held(url: str, name: str) -> bool:
    return bool(
        scalar(
            url,
            "SELECT count(*) FROM pls_portal_tasklock "
            "WHERE name = %s AND owner <> '' AND expires_at > now()",
            [name],
        )
    )


def _wait_rollup_done(url: str, worker: Worker, timeout: float = 240) -> None:
    def done() -> bool:
        if not worker.alive():
            raise DrillError(f"the worker died:\n{tail(worker.log)}")
        pending = scalar(url, "SELECT count(*) FROM accounts_touchedday")
        return pending == 0 and not _lock_held(url, ROLLUP_LOCK)

    wait_until(done, timeout=timeout, what=f"the rollup to finish (log {worker.log})", every=0.5)


def _writing(url: str) -> float | None:
    """How long (s) the worker's open transaction on this database has been writing: one
    that holds a transaction id has uncommitted writes. None when there is none."""
    seconds = scalar(
        url,
        "SELECT max(extract(epoch FROM clock_timestamp() - xact_start)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_xid IS NOT NULL",
    )
    return None if seconds is None else max(float(seconds), 0.001)


def _rescore_start(url: str) -> int:
    """Queue a full rescore Job as an admin's activation does; returns its id."""
    out = shell(
        url,
        "from django.db import transaction\n"
        "from scoring.services.run import rescore_start\n"
        "with transaction.atomic():\n"
        "    job = rescore_start(user=None, full=True, reason='reliability drill')\n"
        "print('JOB', job.pk)\n",
    )
    return int(out.split("JOB", 1)[1].split()[0])


def _job(url: str, job_id: int) -> tuple[str, int, int | None, str]:
    query = "SELECT state, done, total, message FROM pls_portal_job WHERE id = %s"
    return fetch(url, query, [job_id])[0]


def _wait_job_done(url: str, job_id: int, worker: Worker, timeout: float = 240) -> None:
    def done() -> bool:
        if not worker.alive():
            raise DrillError(f"the worker died:\n{tail(worker.log)}")
        state, _, _, message = _job(url, job_id)
        if state == "failed":
            raise AssertionError(f"rescore job #{job_id} failed: {message}\n{tail(worker.log)}")
        return state == "done"

    wait_until(done, timeout=timeout, what=f"rescore job #{job_id} (log {worker.log})", every=0.5)


def _wait_out_dead_lock(url: str, name: str) -> None:
    """The killed run never released its task lock: its ``TaskLock`` row still names it.
    On PostgreSQL the lock itself is a session advisory lock (pls_portal.services
    .task_lock), which the server drops the moment the killed worker's connection ends:
    the next run must be able to take it within seconds, with nothing fast-forwarded."""
    from pls_portal.services import _advisory_key

    assert _lock_held(url, name), (
        f"the killed worker's '{name}' lock row is not held: did the run finish before the kill?"
    )
    key = _advisory_key(name)
    wait_until(
        lambda: scalar(
            url, "SELECT pg_try_advisory_lock(%s) AND pg_advisory_unlock(%s)", [key, key]
        ),
        timeout=30,
        what=f"PostgreSQL to drop the killed worker's '{name}' advisory lock",
        every=0.2,
    )


def _reap_killed_job(url: str, job_id: int) -> str:
    """The killed job stays 'running' (a redelivered task never reruns a started job)
    until the reaper finds it made no progress for PLS_JOB_STALE_MINUTES: run the reaper
    as if that time had passed; returns the job's message."""
    shell(
        url,
        "from datetime import timedelta\n"
        "from django.conf import settings\n"
        "from django.utils import timezone\n"
        "from pls_portal.services import jobs_reap_stale\n"
        "later = timezone.now() + timedelta(minutes=settings.PLS_JOB_STALE_MINUTES + 1)\n"
        "print('REAPED', jobs_reap_stale(now=later))\n",
    )
    state, _, _, message = _job(url, job_id)
    assert state == "failed", f"the killed job #{job_id} is still '{state}' after the reaper"
    return message


# --- The rollup --------------------------------------------------------------------------------


def _rollup_rows(url: str) -> dict[str, list[tuple]]:
    return {
        "AccountDay rows": fetch(
            url,
            "SELECT account_id, day, events, active_users, paywall_hits, buyer_intent_events, "
            "invites_sent, intent::text, limit_hits::text, usage::text FROM accounts_accountday",
        ),
        "AccountUserDay rows": fetch(
            url, "SELECT account_id, user_id, day, events FROM accounts_accountuserday"
        ),
        "AccountFeatureDay rows": fetch(
            url,
            "SELECT account_id, feature_key, day, events FROM accounts_accountfeatureday",
        ),
        "Account ARR potential": fetch(
            url,
            "SELECT id, arr_potential, arr_potential_inputs::text, "
            "usage_changed_at IS NOT NULL FROM accounts_account",
        ),
    }


KEYS = {
    "AccountDay rows": 2,
    "AccountUserDay rows": 3,
    "AccountFeatureDay rows": 3,
    "Account ARR potential": 1,
}


def test_a_rollup_killed_mid_run_and_rerun_equals_an_uninterrupted_rollup(
    population, rolled_reference, broker, logs, facts
):
    url = population.url
    pairs = scalar(url, "SELECT count(*) FROM accounts_touchedday")
    worker = Worker(database_url=url, log=logs / "rollup-worker-1.log")
    try:
        worker.wait_ready()
        shell(url, "from accounts.tasks import rollup_touched; rollup_touched.delay()")

        def partly_rolled_up_and_writing() -> float | None:
            left = scalar(url, "SELECT count(*) FROM accounts_touchedday")
            if left == 0:
                raise DrillError("the rollup finished before the kill: grow the population")
            return _writing(url) if left <= pairs * 0.75 else None

        in_flight = wait_until(
            partly_rolled_up_and_writing,
            timeout=180,
            what="a quarter of the rollup, then a chunk writing",
            every=0.02,
        )
        worker.kill()
    finally:
        worker.stop()
    broker.flushdb()  # the killed task's unacknowledged message goes nowhere else

    left = scalar(url, "SELECT count(*) FROM accounts_touchedday")
    rolled = scalar(url, "SELECT count(DISTINCT (account_id, day)) FROM accounts_accountday")
    assert 0 < left < pairs and rolled > 0, (
        f"the kill did not land mid-run: {left} of {pairs} pairs left, {rolled} rolled up"
    )
    _wait_out_dead_lock(url, ROLLUP_LOCK)
    facts(
        f"kill -9 after {pairs - left:,} of {pairs:,} account-days rolled up, a chunk's "
        f"transaction writing for {in_flight:.2f} s"
    )

    started = time.monotonic()
    worker = Worker(database_url=url, log=logs / "rollup-worker-2.log")
    try:
        shell(url, "from accounts.tasks import rollup_touched; rollup_touched.delay()")
        _wait_rollup_done(url, worker)
    finally:
        worker.stop()
    facts(f"rerun rolled up the other {left:,} in {time.monotonic() - started:.0f} s")

    ours, theirs = _rollup_rows(url), _rollup_rows(rolled_reference.url)
    found = [differences(what, ours[what], theirs[what], key_width=KEYS[what]) for what in ours]
    report = "\n".join(f for f in found if f)
    assert not report, (
        f"after kill -9 mid-rollup ({pairs - left} of {pairs} account-days done) and a "
        f"rerun, the rollup differs from an uninterrupted one:\n{report}"
    )


# --- The full rescore ------------------------------------------------------------------------


def _scoring_rows(url: str) -> dict[str, list[tuple]]:
    """Per account, everything a rescore decides (times of the runs left out)."""
    scores = fetch(
        url,
        "SELECT account_id, rule_set_id, score, value, engagement, contributions::text, "
        "signals::text, route, route_reason, cooldown_until IS NOT NULL, cooldown_reason, "
        "expansion_baseline::text FROM scoring_accountscore",
    )
    per_account: dict[str, dict[int, list]] = {
        "queue items": defaultdict(list),
        "RouteChange rows": defaultdict(list),
        "ScoreHistory rows": defaultdict(list),
    }
    for account_id, *item in fetch(
        url,
        "SELECT account_id, route, state, score, reasons::text, route_reason, buyers::text, "
        "missing_buyer, close_reason, owner_id FROM scoring_queueitem",
    ):
        per_account["queue items"][account_id].append(tuple(item))
    for account_id, *change in fetch(
        url,
        "SELECT account_id, from_route, to_route, from_state, to_state, reason, "
        "item_id IS NOT NULL FROM scoring_routechange",
    ):
        per_account["RouteChange rows"][account_id].append(tuple(change))
    for account_id, *history in fetch(
        url,
        "SELECT account_id, rule_set_id, score, value, engagement, route FROM scoring_scorehistory",
    ):
        per_account["ScoreHistory rows"][account_id].append(tuple(history))
    rows = {"AccountScore rows": scores}
    for what, groups in per_account.items():
        rows[what] = [(a, len(v), sorted(v, key=repr)) for a, v in groups.items()]
    return rows


def _more_than_one_active_item(url: str) -> list[tuple]:
    return fetch(
        url,
        "SELECT account_id, count(*) FROM scoring_queueitem "
        "WHERE state IN ('open', 'claimed', 'touched') GROUP BY account_id HAVING count(*) > 1",
    )


def test_a_full_rescore_killed_mid_run_and_rerun_equals_an_uninterrupted_rescore(
    pg, db_prefix, rolled_reference, broker, logs, facts
):
    # The drill's copy, rolled up and never scored, like the reference before its rescore.
    name = f"{db_prefix}_rescore"
    url = pg.create(name, template=rolled_reference.name)
    try:
        _rescore_drill(url, rolled_reference.url, broker, logs, facts)
    finally:
        pg.drop(name)


def _rescore_drill(url: str, reference_url: str, broker, logs: Path, facts) -> None:
    accounts = scalar(url, "SELECT count(*) FROM accounts_account")
    # Small chunks in two processes: the run is many short transactions, so the kill lands
    # mid-run however fast the machine (at the default 5,000 the drill's 20,000 accounts
    # are four chunks scored at once, and the run can end between two polls).
    worker = Worker(
        database_url=url,
        log=logs / "rescore-worker-1.log",
        env={"PLS_SCORING_CHUNK": "500", "PLS_SCORING_PROCESSES": "2"},
    )
    try:
        worker.wait_ready()
        killed_job = _rescore_start(url)

        def part_scored_and_writing() -> float | None:
            state, done, total, message = _job(url, killed_job)
            if state in ("done", "failed"):
                raise DrillError(f"the rescore ended before the kill ({state}: {message})")
            return _writing(url) if total is not None and 0 < done < total else None

        in_flight = wait_until(
            part_scored_and_writing,
            timeout=180,
            what="the first chunk of the rescore, then a chunk writing",
            every=0.02,
        )
        worker.kill()
    finally:
        worker.stop()
    broker.flushdb()

    scored = scalar(url, "SELECT count(*) FROM scoring_accountscore")
    state, done, total, _ = _job(url, killed_job)
    assert 0 < scored < accounts and state != "done", (
        f"the kill did not land mid-rescore: {scored} of {accounts} accounts scored, "
        f"job #{killed_job} {state} {done}/{total}"
    )
    _wait_out_dead_lock(url, SCORING_LOCK)
    reaped = _reap_killed_job(url, killed_job)
    facts(
        f"kill -9 after {scored:,} of {accounts:,} accounts scored, a chunk's transaction "
        f"writing for {in_flight:.2f} s; the lock was free again at once; the killed job "
        f"#{killed_job} ({done:,}/{total:,}) was marked failed by the reaper: {reaped}"
    )

    # The uninterrupted run on the identical copy, just before the rerun (same date, and
    # as close in time as possible: routing compares times with now).
    worker = Worker(database_url=reference_url, log=logs / "reference-rescore-worker.log")
    try:
        _wait_job_done(reference_url, _rescore_start(reference_url), worker)
    finally:
        worker.stop()

    started = time.monotonic()
    worker = Worker(database_url=url, log=logs / "rescore-worker-2.log")
    try:
        rerun = _rescore_start(url)
        _wait_job_done(url, rerun, worker)
    finally:
        worker.stop()
    rerun_seconds = time.monotonic() - started

    doubled = _more_than_one_active_item(url)
    assert not doubled, f"accounts with more than one active queue item: {doubled[:10]}"
    ours, theirs = _scoring_rows(url), _scoring_rows(reference_url)
    found = [
        differences(what, ours[what], theirs[what])
        for what in ("AccountScore rows", "queue items", "RouteChange rows", "ScoreHistory rows")
    ]
    report = "\n".join(f for f in found if f)
    assert not report, (
        f"after kill -9 mid-rescore ({scored} of {accounts} accounts scored, job "
        f"#{killed_job} left '{state}') and a rerun ({rerun_seconds:.0f} s), the results "
        f"differ from an uninterrupted rescore:\n{report}"
    )
    items = scalar(url, "SELECT count(*) FROM scoring_queueitem")
    changes = scalar(url, "SELECT count(*) FROM scoring_routechange")
    assert items > 0, "the population opened no queue item: the drill proves nothing"
    facts(
        f"rerun in {rerun_seconds:.0f} s; {items:,} queue items and {changes:,} RouteChange "
        "rows, the same per account as the uninterrupted run"
    )
