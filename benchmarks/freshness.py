"""Freshness benchmark: an event posted over HTTP → the account's queue item updated.

Run from the project root on a population written by ``benchmarks/generate.py``, with
Redis::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pls_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python benchmarks/freshness.py [--trials 50] [--interval 3] \\
        [--timeout 180] [--concurrency 2] [--workers 2]

In one run, on PostgreSQL and Redis:

1. **Population**: rollups, scores, queue items and play matches as
   ``benchmarks/pages.py`` prepares them (a full scoring run when there are no scores).
2. **Processes**, all with production settings (``DEBUG=0``): gunicorn serving the
   ingestion API, one Celery worker (``--concurrency`` processes, every queue) and Celery
   beat with the project's schedule (``pls_portal/celery.py``: drain every 2 s, rollup
   and changed-account scoring every 5 s, play matches every 10 s…). The broker's queues
   are purged first.
3. **Trials**: for ``--trials`` accounts with an active queue item (seeded sample), a
   Segment batch (write key from ``ingestion_key_create``, revoked at the end) in which a
   new person on the account's domain identifies with a senior title ("VP of Sales") and
   reads the pricing page: a likely buyer the item must now list. A trial is over when
   the item lists that person among its buyers (or, should the rescore close or move
   it, when its state changes). Trials start every ``--interval`` seconds (± 50 %,
   seeded, so they do not keep step with the beat) and overlap; the database is polled
   every 0.2 s. One unmeasured warm-up trial goes first, so the worker and beat are up.

The time of a trial runs from just before the POST to the poll that sees the item
updated; the stages on the way (event stored by the drain, account stamped by the
rollup) are recorded too. Target: p95 ≤ 60 s; a miss, a trial that timed out or a POST
that did not answer 200 exits non-zero. Writes the "Freshness" section of
``benchmarks/report.md`` and ``benchmarks/results/freshness.json``. The trial people and
their events stay in the database: use a benchmark database.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import generate, pages  # after the project root is importable
from benchmarks.common import (
    REPORT,
    RESULTS,
    ROOT,
    Server,
    machine_facts,
    percentile,
    process_stop,
    report_section_write,
    say,
    server_environment,
)

TARGET_P95_SECONDS = 60.0
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
POLL_SECONDS = 0.2
BUYER_TITLE = "VP of Sales"


@dataclass
class Trial:
    number: int
    account_id: int
    item_id: int
    item_state: str
    email: str
    message_id: str  # the pricing page view's
    body: bytes
    posted_at: float = 0.0  # epoch seconds, just before the POST
    accepted: float | None = None  # seconds after posted_at, each stage
    stored: float | None = None
    rolled_up: float | None = None
    updated: float | None = None
    outcome: str = ""  # "buyer listed" or the item's new state
    failure: str = ""

    @property
    def done(self) -> bool:
        return self.updated is not None or bool(self.failure)


# --- the trials ----------------------------------------------------------------------------


def trial_items(count: int, seed: int) -> list[tuple[int, int, str, str]]:
    """(account, item, state, domain) of ``count`` active queue items, seeded, one per
    account (accounts repeat only when there are fewer items than trials)."""
    from scoring.models import QueueItem

    rows = list(
        QueueItem.objects.filter(
            state__in=QueueItem.ACTIVE_STATES,
            account__merged_into__isnull=True,
        )
        .exclude(account__domain="")
        .order_by("pk")
        .values_list("account_id", "pk", "state", "account__domain")
    )
    if not rows:
        sys.exit("no active queue items: the population has no PQA to update")
    rng = random.Random(seed)
    rng.shuffle(rows)
    return [rows[n % len(rows)] for n in range(count)]


def trial_build(number: int, row: tuple[int, int, str, str], run_id: str) -> Trial:
    """A new likely buyer at the account: identify with a senior title, then pricing."""
    account_id, item_id, state, domain = row
    user_id = f"fresh-{run_id}-{number}"
    email = f"fresh.{run_id}.{number}@{domain}"
    now = generate.iso(time.time())
    context = {"library": {"name": "analytics.js", "version": "next-1.70.0"}}
    page_id = str(uuid.uuid4())
    batch = [
        {
            "type": "identify",
            "messageId": str(uuid.uuid4()),
            "userId": user_id,
            "timestamp": now,
            "context": context,
            "traits": {
                "email": email,
                "name": f"Fresh Buyer {number}",
                "title": BUYER_TITLE,
                "seniority": "vp",
                "department": "Sales",
            },
        },
        {
            "type": "page",
            "messageId": page_id,
            "userId": user_id,
            "timestamp": now,
            "context": context,
            "name": "Pricing",
            "properties": {"path": "/pricing", "url": f"{generate.APP_URL}/pricing"},
        },
    ]
    body = json.dumps({"batch": batch, "sentAt": now}, separators=(",", ":")).encode()
    return Trial(
        number=number,
        account_id=account_id,
        item_id=item_id,
        item_state=state,
        email=email,
        message_id=page_id,
        body=body,
    )


def trial_post(trial: Trial, *, port: int, key: str) -> None:
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    trial.posted_at = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/ingest/v1/batch", trial.body, headers)
        response = conn.getresponse()
        text = response.read()[:300].decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        trial.failure = f"POST failed: {type(exc).__name__}: {exc}"
        return
    finally:
        conn.close()
    if response.status != 200:
        trial.failure = f"POST answered HTTP {response.status}: {text}"
        return
    trial.accepted = time.time() - trial.posted_at


def trials_poll(trials: list[Trial]) -> None:
    """One look at the database for every pending trial: three queries."""
    from accounts.models import Account, Event
    from scoring.models import QueueItem

    pending = [t for t in trials if t.posted_at and not t.done]
    if not pending:
        return
    now = time.time()
    waiting = [t for t in pending if t.stored is None]
    if waiting:
        stored = set(
            Event.objects.filter(message_id__in=[t.message_id for t in waiting]).values_list(
                "message_id", flat=True
            )
        )
        for trial in waiting:
            if trial.message_id in stored:
                trial.stored = now - trial.posted_at
    stamps = dict(
        Account.objects.filter(pk__in={t.account_id for t in pending}).values_list(
            "pk", "usage_changed_at"
        )
    )
    items = {
        pk: (state, buyers)
        for pk, state, buyers in QueueItem.objects.filter(
            pk__in={t.item_id for t in pending}
        ).values_list("pk", "state", "buyers")
    }
    for trial in pending:
        stamp = stamps.get(trial.account_id)
        if trial.rolled_up is None and stamp and stamp.timestamp() >= trial.posted_at:
            trial.rolled_up = now - trial.posted_at
        state, buyers = items.get(trial.item_id, (trial.item_state, []))
        if any(buyer.get("email") == trial.email for buyer in buyers or ()):
            trial.updated, trial.outcome = now - trial.posted_at, "buyer listed"
        elif state != trial.item_state:
            trial.updated, trial.outcome = now - trial.posted_at, f"item {state}"


def trials_run(
    trials: list[Trial], *, port: int, key: str, interval: float, timeout: float, seed: int
) -> None:
    """Post each trial on its schedule and poll until every one is over (or timed out)."""
    from django.db import connection

    rng = random.Random(seed)
    start = time.monotonic()
    schedule, at = [], 0.0
    for _ in trials:
        schedule.append(at)
        at += interval * rng.uniform(0.5, 1.5)
    posted = 0
    while True:
        elapsed = time.monotonic() - start
        while posted < len(trials) and schedule[posted] <= elapsed:
            trial_post(trials[posted], port=port, key=key)
            posted += 1
        trials_poll(trials)
        now = time.time()
        for trial in trials[:posted]:
            if not trial.done and now - trial.posted_at > timeout:
                trial.failure = f"not updated within {timeout:g} s"
        if posted == len(trials) and all(trial.done for trial in trials):
            break
        done = sum(1 for trial in trials if trial.updated is not None)
        if int(elapsed / 10) != int((elapsed - POLL_SECONDS) / 10):
            say(f"  {elapsed:5.0f} s: {posted} posted, {done} updated")
        time.sleep(POLL_SECONDS)
    connection.close()


# --- the processes -------------------------------------------------------------------------


class Celery:
    """A Celery worker or beat of the project, logging to a file."""

    def __init__(self, kind: str, *, env: dict[str, str], log: Path, args: list[str]) -> None:
        self.kind = kind
        self.log = log.open("w")
        command = [sys.executable, "-m", "celery", "-A", "pls_portal", kind, "--loglevel=INFO"]
        self.process = subprocess.Popen(
            command + args, cwd=ROOT, env=env, stdout=self.log, stderr=self.log
        )

    def stop(self) -> None:
        process_stop(self.process, timeout=60)  # a warm shutdown: the running task finishes
        self.log.close()


def broker_purge(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "pls_portal", "purge", "-f"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


# --- the report ----------------------------------------------------------------------------


def _stage(trials: list[Trial], name: str) -> dict:
    values = [getattr(t, name) for t in trials if getattr(t, name) is not None]
    return {
        "trials": len(values),
        "p50_s": round(statistics.median(values), 2) if values else None,
        "p95_s": round(percentile(values, 0.95), 2) if values else None,
        "max_s": round(max(values), 2) if values else None,
    }


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "freshness.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    figures, params, machine = result["figures"], result["parameters"], result["machine"]
    stages, pop = result["stages"], result["population"]
    updated = stages["updated"]

    def cell(stage: dict) -> str:
        if stage["p50_s"] is None:
            return "—"
        return f"{stage['p50_s']} / {stage['p95_s']} / {stage['max_s']} s"

    lines = [
        "## Freshness",
        "",
        f"Run {result['finished_at']} by `benchmarks/freshness.py` (figures in "
        f"`benchmarks/results/freshness.json`): {params['trials']} trials on "
        f"{pop['accounts']:,} accounts / {pop['events']:,} events, each a new person with a "
        f"senior title on the domain of an account with an active queue item, posted over "
        f"HTTP (`/ingest/v1/batch`, identify + pricing page view); gunicorn, one Celery "
        f"worker ({params['concurrency']} processes) and beat on Redis, production "
        f"settings; a trial every ~{params['interval']:g} s, overlapping.",
        "",
        "| from the POST to … | p50 / p95 / max | target |",
        "|---|---|---|",
        f"| the API's answer | {cell(stages['accepted'])} | |",
        f"| the event stored (drain, every {params['beat']['drain']:g} s) | "
        f"{cell(stages['stored'])} | |",
        f"| the account's usage stamped (rollup, every {params['beat']['rollup']:g} s) | "
        f"{cell(stages['rolled_up'])} | |",
        f"| **the queue item updated** (scoring, every {params['beat']['scoring']:g} s) | "
        f"{cell(updated)} ({updated['trials']} of {params['trials']}) | p95 ≤ "
        f"{TARGET_P95_SECONDS:g} s: **{figures['verdict']}** |",
        "",
    ]
    if figures["outcomes"]:
        lines.append(
            "How the items changed: "
            + ", ".join(f"{name} {count}" for name, count in figures["outcomes"].items())
            + "."
        )
    if result["failures"]:
        lines.append(
            f"Failed trials ({len(result['failures'])}): " + "; ".join(result["failures"][:5]) + "."
        )
    settings = machine["postgresql_settings"]
    lines += [
        "",
        f"Machine: {machine['cpu_count']} CPUs, {machine['memory']} RAM; "
        f"{machine['postgresql'].split(',')[0]} and Redis on the same machine "
        f"(shared_buffers {settings.get('shared_buffers', '?')}). One-minute load average "
        f"{result['load_average']['start']} at the start, {result['load_average']['end']} "
        "at the end.",
    ]
    section = "\n".join(lines) + "\n"
    report_section_write("## Freshness", section)


# --- main ----------------------------------------------------------------------------------


def _beat_periods() -> dict[str, float]:
    from pls_portal.celery import app

    schedule = app.conf.beat_schedule
    return {
        name: float(schedule[entry]["schedule"])
        for name, entry in (
            ("drain", "accounts-drain"),
            ("rollup", "accounts-rollup"),
            ("scoring", "scoring-changed"),
        )
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="measured trials")
    parser.add_argument(
        "--interval", type=float, default=3.0, help="mean seconds between two trials' posts"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds before a trial counts as failed"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL", "") or DEFAULT_BROKER,
        help=f"Redis URL of the Celery broker (default: $CELERY_BROKER_URL or {DEFAULT_BROKER})",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("set DATABASE_URL or pass --database-url postgres://user@host:5432/pls_bench")
    if not args.broker_url.startswith(("redis://", "rediss://")):
        sys.exit("the freshness benchmark runs the real worker and beat on Redis: --broker-url")
    if min(args.trials, args.concurrency, args.workers) < 1 or args.interval <= 0:
        sys.exit("--trials, --concurrency and --workers ≥ 1, --interval > 0")

    scratch = Path(tempfile.mkdtemp(prefix="pls-bench-freshness-"))
    env = server_environment(args.database_url, str(scratch)) | {
        "CELERY_BROKER_URL": args.broker_url,
        "PLS_VAR_DIR": str(scratch),
    }
    os.environ.update(env)
    generate.configure(args.database_url)

    from django.db import connection

    from accounts.services.keys import ingestion_key_create, ingestion_key_revoke

    setup = pages.population_prepare()
    population = pages.population_size()
    run_id = uuid.uuid4().hex[:8]
    key = ingestion_key_create(name=f"freshness benchmark {run_id}")
    rows = trial_items(args.trials + 1, args.seed)
    warmup, *trials = [trial_build(n, row, run_id) for n, row in enumerate(rows)]
    machine = machine_facts()
    connection.close()
    say(
        f"population: {population['accounts']:,} accounts, {population['events']:,} events, "
        f"{population['active_items']:,} active queue items"
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    process_env = os.environ | env
    broker_purge(process_env)
    server = Server(
        env=env, workers=args.workers, threads=2, log=RESULTS / "freshness-gunicorn.log"
    )
    worker = Celery(
        "worker",
        env=process_env,
        log=RESULTS / "freshness-worker.log",
        args=[f"--concurrency={args.concurrency}", f"--hostname=freshness-{run_id}@%h"],
    )
    beat = Celery(
        "beat",
        env=process_env,
        log=RESULTS / "freshness-beat.log",
        args=[f"--schedule={scratch / 'celerybeat-schedule'}"],
    )
    load_start = os.getloadavg()[0]
    try:
        server.wait_ready()
        say("warm-up trial (worker and beat starting)…")
        trials_run(
            [warmup],
            port=server.port,
            key=key.plaintext,
            interval=args.interval,
            timeout=args.timeout,
            seed=args.seed,
        )
        if warmup.failure:
            sys.exit(
                f"the warm-up trial failed ({warmup.failure}); see "
                "benchmarks/results/freshness-{worker,beat,gunicorn}.log"
            )
        say(f"  updated after {warmup.updated:.1f} s; {args.trials} trials…")
        trials_run(
            trials,
            port=server.port,
            key=key.plaintext,
            interval=args.interval,
            timeout=args.timeout,
            seed=args.seed + 1,
        )
    finally:
        for process in (beat, worker):
            process.stop()
        server.stop()
        ingestion_key_revoke(key_id=key.key.pk)
        connection.close()
        shutil.rmtree(scratch, ignore_errors=True)

    updated = [t.updated for t in trials if t.updated is not None]
    failures = [
        f"trial {t.number} (account {t.account_id}): {t.failure}" for t in trials if t.failure
    ]
    p95 = percentile(updated, 0.95)
    ok = bool(updated) and not failures and p95 <= TARGET_P95_SECONDS
    outcomes: dict[str, int] = {}
    for trial in trials:
        if trial.outcome:
            outcomes[trial.outcome] = outcomes.get(trial.outcome, 0) + 1
    result = {
        "benchmark": "freshness",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "trials": args.trials,
            "interval": args.interval,
            "timeout": args.timeout,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "seed": args.seed,
            "beat": _beat_periods(),
        },
        "population": population,
        "setup": setup,
        "warmup_seconds": round(warmup.updated, 2),
        "stages": {
            name: _stage(trials, name) for name in ("accepted", "stored", "rolled_up", "updated")
        },
        "figures": {
            "p95_s": round(p95, 2),
            "verdict": "PASS" if ok else "MISS",
            "outcomes": outcomes,
        },
        "trials": [
            {
                "account": t.account_id,
                "item": t.item_id,
                "accepted": t.accepted,
                "stored": t.stored,
                "rolled_up": t.rolled_up,
                "updated": t.updated,
                "outcome": t.outcome,
                "failure": t.failure,
            }
            for t in trials
        ],
        "failures": failures,
        "machine": machine,
        "load_average": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    write_report(result)
    stage = result["stages"]["updated"]
    say(
        f"event posted → queue item updated: p50 {stage['p50_s']} s, p95 {stage['p95_s']} s, "
        f"max {stage['max_s']} s over {stage['trials']} trials; target p95 ≤ "
        f"{TARGET_P95_SECONDS:g} s: {result['figures']['verdict']}"
    )
    say(f"wrote {REPORT.relative_to(ROOT)} and {(RESULTS / 'freshness.json').relative_to(ROOT)}")
    for failure in failures[:20]:
        say(f"  {failure}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
