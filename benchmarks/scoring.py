"""Scoring benchmark: rescoring from the rollups against a bare GROUP BY over raw events.

Run from the project root on a population written by ``benchmarks/generate.py``::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pls_bench \\
        .venv/bin/python benchmarks/scoring.py [--changed-pct 1] [--repeats 3] \\
        [--small-factor 10] [--skip-memory] [--keep-small] [--rebuild-rollups] [--jobs N]

In one run, on PostgreSQL:

1. **Rollups.** When ``AccountDay`` is empty (or with ``--rebuild-rollups``) it builds the
   rollups with ``rollup_rebuild`` (set-based ``INSERT … SELECT … GROUP BY``) and then ARR
   potential, timing both; pending ``TouchedDay`` rows are rolled up first otherwise.
2. **Bare GROUP BY** (the baseline): the same signals as ``scoring/signals.py``, same
   windows as of the same day, computed straight from ``accounts_event`` with one
   ``GROUP BY account_id`` statement per signal group (days, running usage totals,
   users, features, lifetime features; the account-table reads are the same as the
   rescore's), rows fetched; the median of ``--repeats`` runs. Its results are checked
   against the signals the rescore stored, account by account (every event-derived
   signal but ``usage_pct``, whose plan-limit logic lives in ``signals.py``).
3. **Full rescore** from the rollups, ``scoring_run(full=True)``: first on empty scoring
   tables (every row new), then ``--repeats`` steady-state runs (median).
4. **Incremental rescore**: ``usage_changed_at`` of ``--changed-pct`` % of the accounts
   (random, seeded) is stamped as the rollup stamps it, then ``scoring_run()``;
   ``--repeats`` times with different accounts (median).
5. **Peak RSS** of the worker: every scoring run above runs in its own process (a small
   runner calling ``scoring_run``, warmed up by scoring one account first, unmeasured, as
   the long-lived worker is), timed inside it around the call, its peak RSS read
   from its own ``VmHWM`` (or its scoring processes', if larger); the same full rescores
   run on a population ``--small-factor`` times smaller (generated into a scratch
   database ``<name>_small``, dropped afterwards unless ``--keep-small``) to show memory
   is flat in the number of accounts.

Targets: steady-state full rescore ≤ 0.5 × the bare GROUP BY, incremental ≤ 0.05 × the
full rescore, peak RSS of the full rescore at the large population ≤ 1.25 × the small
one; a miss, or a signal the two disagree on, exits non-zero. Writes the "Scoring" section
of ``benchmarks/report.md`` and ``benchmarks/results/scoring.json``. The scoring tables of
the database are emptied (``TRUNCATE … CASCADE``): use a benchmark database.
"""

# SQL here interpolates only column fragments built from the database's own tracking
# plan and plan limits, escaped as literals; every other value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import generate  # after the project root is importable
from benchmarks.common import RESULTS, ROOT, machine_facts, report_section_write, say

FULL_TARGET = 0.5  # full rescore ÷ bare GROUP BY
INCREMENTAL_TARGET = 0.05  # incremental ÷ full rescore
RSS_TARGET = 1.25  # peak RSS, large ÷ small population
SCORING_TABLES = (
    "scoring_routechange",
    "scoring_touch",
    "scoring_queueitem",
    "scoring_scorehistory",
    "scoring_accountscore",
    "scoring_scoringstate",
)

# What a worker process runs: one scoring run, timed around the call only, and its peak
# RSS from the kernel's high-water mark of this process's own memory (``wait4``'s
# ru_maxrss would also count the parent's memory at the time it spawned the process).
RUNNER = """
import json, os, resource, sys, time
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pls_portal.settings")
import django
django.setup()
from django.conf import settings
from scoring.services.run import scoring_run
full = sys.argv[1] == "full"
def cpu_now():  # this process and its scoring processes (reaped at the end of the run)
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
# Warm, as the long-lived worker that runs it every 5 s is: one account scored first,
# unmeasured (code paths, the connection, the rule set), when it has a score already.
from scoring.models import AccountScore
warm = AccountScore.objects.order_by("account_id").values_list("account_id", flat=True).first()
if warm is not None:
    scoring_run(account_ids=[warm])
cpu = cpu_now()
started = time.perf_counter()
result = scoring_run(full=full)
seconds = time.perf_counter() - started
cpu = cpu_now() - cpu
try:
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_kb": max(peak_kb, children_kb),
                  "processes": settings.PLS_SCORING_PROCESSES, "result": result.as_dict()}))
"""


def _literal(value: str) -> str:
    """A string literal for SQL that also carries parameters (``%`` doubled)."""
    return "'" + value.replace("'", "''").replace("%", "%%") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_literal(v) for v in values) + ")" if values else "(NULL)"


# --- the baseline: a bare GROUP BY over raw events -----------------------------------------


def bare_statements(as_of: date) -> list[tuple[str, str, dict]]:
    """(signal group, SQL, parameters): the rollup signals, straight from raw events.

    The windows are ``signals_compute``'s: UTC days, the as-of day included, 31 days read
    day by day, running totals and lifetime features over the whole history."""
    from scoring.signals import INTENT_KEYS, LIMIT_FEATURES, WINDOW_DAYS, signals_context

    ctx = signals_context()
    d = as_of
    params = {
        "first": datetime.combine(d - timedelta(days=WINDOW_DAYS - 1), datetime.min.time(), UTC),
        "end": datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC),
        "d7": d - timedelta(days=7),
        "d14": d - timedelta(days=14),
        "d30": d - timedelta(days=30),
        "month": d.replace(day=1),
    }
    # The UTC day of an event, as the rollup keys it.
    raw = (
        "SELECT account_id, user_id, category, key, value, "
        "(timestamp AT TIME ZONE 'UTC')::date AS day FROM accounts_event "
        "WHERE account_id IS NOT NULL AND timestamp >= %(first)s AND timestamp < %(end)s"
    )
    day_columns = [
        "count(DISTINCT day) FILTER (WHERE day > %(d14)s) AS active_days_14",
        "count(DISTINCT day) FILTER (WHERE day > %(d30)s) AS active_days_30",
        "count(*) FILTER (WHERE day > %(d7)s) AS events_7",
        "count(*) FILTER (WHERE day > %(d14)s AND day <= %(d7)s) AS events_prev_7",
        "count(*) FILTER (WHERE category = 'paywall_hit' AND day > %(d14)s) AS paywall_hits_14",
        "count(*) FILTER (WHERE category = 'invite_sent' AND day > %(d30)s) AS invites_30",
        "max(day) AS last_active",
    ]
    for signal, keys in INTENT_KEYS.items():
        day_columns.append(
            f"count(*) FILTER (WHERE category = 'buyer_intent' AND key IN {_in(keys)} "
            f"AND day > %(d30)s) AS {signal}"
        )
    for number, key in enumerate(ctx.limit_keys):
        hit = f"category = 'limit_hit' AND key = {_literal(key)}"
        day_columns += [
            f"count(*) FILTER (WHERE {hit} AND day > %(d7)s) AS hits7_{number}",
            f"count(*) FILTER (WHERE {hit} AND day > %(d14)s) AS hits14_{number}",
            "sum(coalesce(value, 1)) FILTER (WHERE category = 'usage_metric' "
            f"AND key = {_literal(key)} AND day >= %(month)s) AS month_{number}",
        ]
    current = [k for k in ctx.limit_keys if k != "seats" and k not in LIMIT_FEATURES]
    feature_month = {LIMIT_FEATURES[k]: k for k in LIMIT_FEATURES if k in ctx.limit_keys}
    integration = " OR ".join(
        f"key = {_literal(k)} OR key LIKE {_literal(k + ':')[:-1]}%%'" for k in ctx.integration_keys
    )
    statements = [
        ("days", f"SELECT account_id, {', '.join(day_columns)} FROM ({raw}) e "
                 "GROUP BY account_id", params),
        ("usage totals", "SELECT account_id, "
            + ", ".join(f"sum(coalesce(value, 1)) FILTER (WHERE key = {_literal(k)}) AS total_{n}"
                        for n, k in enumerate(current))
            + " FROM accounts_event WHERE account_id IS NOT NULL AND category = 'usage_metric' "
              "AND timestamp < %(end)s GROUP BY account_id", params),
        ("users", "SELECT e.account_id, "
            "count(DISTINCT e.user_id) FILTER (WHERE e.day > %(d7)s) AS active_users_7, "
            "count(DISTINCT e.user_id) FILTER (WHERE e.day > %(d30)s) AS active_users_30, "
            "count(DISTINCT e.user_id) FILTER (WHERE e.day > %(d14)s AND e.day <= %(d7)s) "
            "AS users_prev_7, count(DISTINCT u.department) FILTER (WHERE e.day > %(d30)s "
            "AND u.department <> '') AS departments_30 "
            f"FROM ({raw} AND user_id IS NOT NULL) e "
            "JOIN accounts_productuser u ON u.id = e.user_id GROUP BY e.account_id", params),
        ("features", "SELECT account_id, count(DISTINCT key) FILTER (WHERE day > %(d30)s "
            f"AND key IN {_in(ctx.core_keys)}) AS core_features_30, "
            "count(*) FILTER (WHERE day > %(d30)s AND key = 'api') AS api_key_30"
            + "".join(f", count(*) FILTER (WHERE day >= %(month)s AND key = {_literal(f)}) "
                      f"AS fmonth_{n}" for n, f in enumerate(feature_month))
            + f" FROM ({raw} AND category = 'feature' AND key <> '') e GROUP BY account_id",
            params),
        ("lifetime features", "SELECT account_id"
            + (f", count(DISTINCT key) FILTER (WHERE {integration}) AS integrations"
               if integration else ", 0 AS integrations")
            + "".join(f", count(*) FILTER (WHERE key = {_literal(f)}) AS ftotal_{n}"
                      for n, f in enumerate(feature_month))
            + " FROM accounts_event WHERE account_id IS NOT NULL AND category = 'feature' "
              f"AND timestamp < %(end)s AND ({integration or 'false'}"
            + "".join(f" OR key = {_literal(f)}" for f in feature_month)
            + ") GROUP BY account_id", params),
    ]  # fmt: skip
    return statements


def _account_statements(as_of: date) -> list[tuple[str, str, dict]]:
    """The account-table reads, the same as the rescore's (facts and seats)."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), UTC)
    return [
        ("accounts", "SELECT id, name, domain, plan_id, owner_id, merged_into_id, created_at, "
            "arr_potential, checkout_started_at, checkout_completed_at, sales_request_at, "
            "usage_changed_at, employees, industry FROM accounts_account "
            "WHERE created_at < %(end)s", {"end": end}),
        ("seats", "SELECT account_id, count(*) FROM accounts_productuser "
            "WHERE account_id IS NOT NULL AND first_seen_at < %(end)s GROUP BY account_id",
            {"end": end}),
    ]  # fmt: skip


def bare_group_by(as_of: date, repeats: int) -> dict:
    """Run the statements ``repeats`` times (rows fetched); the median run counts."""
    from django.db import connection

    statements = bare_statements(as_of) + _account_statements(as_of)
    runs, rows = [], {}
    for _ in range(repeats):
        timings = {}
        with connection.cursor() as cursor:
            for name, sql, params in statements:
                started = time.perf_counter()
                cursor.execute(sql, params)
                fetched = cursor.fetchall()
                timings[name] = time.perf_counter() - started
                rows[name] = fetched
        runs.append(timings)
        say(f"  bare GROUP BY: {sum(timings.values()):.2f} s")
    median = statistics.median(sum(run.values()) for run in runs)
    return {
        "seconds": round(median, 3),
        "runs": [round(sum(run.values()), 3) for run in runs],
        "statements": {
            name: {
                "seconds": round(statistics.median(run[name] for run in runs), 3),
                "rows": len(rows[name]),
            }
            for name, _, _ in statements
        },
        "_rows": rows,
    }


def check_signals(as_of: date, rows: dict) -> dict:
    """The bare GROUP BY's signals against those the rescore stored, account by account."""
    from scoring.models import AccountScore
    from scoring.signals import IDLE_CAP, INTENT_KEYS, _wow

    def by_account(name: str) -> dict[int, tuple]:
        return {row[0]: row[1:] for row in rows[name]}

    days, users = by_account("days"), by_account("users")
    features, lifetime = by_account("features"), by_account("lifetime features")
    intents = list(INTENT_KEYS)
    limits = (len(days[next(iter(days))]) - 7 - len(intents)) // 3 if days else 0
    mismatches, examples, checked, expected = 0, [], 0, {}
    stored = AccountScore.objects.values_list("account_id", "signals").iterator(chunk_size=5000)
    for account_id, signals in stored:
        day = days.get(account_id)
        user = users.get(account_id, (0, 0, 0, 0))
        feature = features.get(account_id, (0, 0))
        life = lifetime.get(account_id, (0,))
        expected = {
            "active_users_7": user[0],
            "active_users_30": user[1],
            "users_wow_pct": _wow(user[0], user[2]),
            "departments_30": user[3],
            "core_features_30": feature[0],
            "api_key_30": feature[1],
            "integrations": life[0],
            "active_days_14": day[0] if day else 0,
            "active_days_30": day[1] if day else 0,
            "events_wow_pct": _wow(day[2], day[3]) if day else 0.0,
            "paywall_hits_14": day[4] if day else 0,
            "invites_30": day[5] if day else 0,
            "idle_days": (as_of - day[6]).days if day and day[6] else IDLE_CAP,
            **{name: day[7 + n] if day else 0 for n, name in enumerate(intents)},
            "limit_hits_7": sum(day[7 + len(intents) + 3 * n] for n in range(limits)) if day else 0,
            "limit_hits_14": sum(day[8 + len(intents) + 3 * n] for n in range(limits))
            if day
            else 0,
        }
        checked += 1
        wrong = {k: (v, signals.get(k)) for k, v in expected.items() if signals.get(k) != v}
        if wrong:
            mismatches += 1
            if len(examples) < 5:
                examples.append({"account": account_id, "bare, rescore": wrong})
    return {
        "accounts": checked,
        "signals": len(expected) if checked else 0,
        "mismatches": mismatches,
        "examples": examples,
    }


# --- scoring runs, each in its own process -------------------------------------------------


def run_worker(database_url: str, kind: str) -> dict:
    """One ``scoring_run`` in a fresh process with production settings (``DEBUG`` off, so
    no query log): its time (around the call) and peak RSS."""
    env = os.environ | {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    process = subprocess.run(
        [sys.executable, "-c", RUNNER, kind], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if process.returncode != 0:
        sys.exit(f"the {kind} scoring run failed:\n{process.stderr[-4000:]}")
    figures = json.loads(process.stdout.strip().splitlines()[-1])
    return {
        "seconds": round(figures["seconds"], 3),
        "cpu_seconds": round(figures["cpu_seconds"], 2),
        "peak_rss_mb": round(figures["peak_rss_kb"] / 1024, 1),
        "processes": figures["processes"],
        "result": figures["result"],
    }


def scoring_reset() -> None:
    """Empty the scoring tables (and what references them) for a first run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(SCORING_TABLES)} CASCADE")


def scores_void() -> None:
    """Make every stored score differ from what the next run computes (its digest)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE scoring_accountscore SET digest = 0")


def scores_vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) scoring_accountscore, scoring_queueitem")


def usage_touch(*, share: float, rng: random.Random) -> int:
    """Stamp ``usage_changed_at`` of ``share`` of the accounts as the rollup does, just
    far enough in the past that the incremental run's cursor moves past them."""
    from django.db import connection
    from django.utils import timezone

    from scoring.models import ScoringState
    from scoring.services.run import CURSOR_OVERLAP

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_account ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
        chosen = rng.sample(ids, max(1, round(len(ids) * share)))
        seen = ScoringState.objects.values_list("usage_seen_until", flat=True).first()
        stamp = timezone.now() - CURSOR_OVERLAP - timedelta(seconds=1)
        if seen is not None and stamp <= seen:
            time.sleep((seen - stamp).total_seconds() + 1)
            stamp = timezone.now() - CURSOR_OVERLAP - timedelta(seconds=1)
        cursor.execute(
            "UPDATE accounts_account SET usage_changed_at = %s WHERE id = ANY(%s)",
            [stamp, chosen],
        )
    return len(chosen)


def _median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda run: run["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def scoring_runs(database_url: str, *, repeats: int, share: float, seed: int) -> dict:
    scoring_reset()
    first = run_worker(database_url, "full")
    say(
        f"  full rescore, empty tables: {first['seconds']:.2f} s, peak RSS "
        f"{first['peak_rss_mb']} MB ({first['result']['scores_written']:,} scores written)"
    )
    # 100k inserted rows: autovacuum's insert threshold sends it through the table within
    # a minute (visibility map, hint bits); the next night's run finds it done.
    scores_vacuum()
    steady = []
    for _ in range(repeats):
        steady.append(run_worker(database_url, "full"))
        say(
            f"  full rescore, steady state: {steady[-1]['seconds']:.2f} s, peak RSS "
            f"{steady[-1]['peak_rss_mb']} MB"
        )
    # A nightly run the next day rewrites nearly every row (the windows slide: idle days,
    # 7/14/30-day counts). Measured by voiding the stored digests, so every row counts as
    # changed and is written again.
    rewrite = []
    for _ in range(repeats):
        scores_void()
        rewrite.append(run_worker(database_url, "full"))
        say(
            f"  full rescore, every row rewritten: {rewrite[-1]['seconds']:.2f} s "
            f"({rewrite[-1]['result']['scores_written']:,} scores written)"
        )
        # A day passes between two nightly runs, and autovacuum with it: the dead rows
        # of 100k updates are not left for the next run to wade through.
        scores_vacuum()
    incremental, rng = [], random.Random(seed)
    for _ in range(repeats):
        touched = usage_touch(share=share, rng=rng)
        run = run_worker(database_url, "changed") | {"touched": touched}
        incremental.append(run)
        say(
            f"  incremental rescore, {touched:,} accounts touched: {run['seconds']:.3f} s "
            f"({run['result']['accounts']:,} scored)"
        )
    return {
        "first": first,
        "steady": _median_run(steady),
        "steady_runs": [run["seconds"] for run in steady],
        "rewrite": _median_run(rewrite),
        "rewrite_runs": [run["seconds"] for run in rewrite],
        "incremental": _median_run(incremental),
        "incremental_runs": [run["seconds"] for run in incremental],
    }


# --- the population ------------------------------------------------------------------------


def population_figures() -> dict:
    from django.db import connection

    figures = {}
    with connection.cursor() as cursor:
        for name, table in (
            ("accounts", "accounts_account"),
            ("users", "accounts_productuser"),
            ("events", "accounts_event"),
            ("account_days", "accounts_accountday"),
            ("user_days", "accounts_accountuserday"),
            ("feature_days", "accounts_accountfeatureday"),
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            figures[name] = cursor.fetchone()[0]
    return figures


def rollups_prepare(*, rebuild: bool) -> dict:
    """Rollups and ARR potential for a population written by generate.py (which writes
    neither): built set-based when missing (or asked), then ANALYZE as autovacuum would."""
    from django.db import connection

    from accounts.models import AccountDay, TouchedDay
    from accounts.services.arr import accounts_arr_recompute
    from accounts.services.rollups import rollup_rebuild, rollup_run

    figures: dict = {}
    if rebuild or not AccountDay.objects.exists():
        say("building the rollups (rollup_rebuild)…")
        started = time.perf_counter()
        result = rollup_rebuild()
        figures["rollup_rebuild_seconds"] = round(time.perf_counter() - started, 1)
        figures["rollup_rebuild"] = result.as_dict()
        say(f"  {result.summary} in {figures['rollup_rebuild_seconds']} s")
        started = time.perf_counter()
        changed = accounts_arr_recompute()
        figures["arr_seconds"] = round(time.perf_counter() - started, 1)
        say(f"  ARR potential of {changed:,} accounts in {figures['arr_seconds']} s")
    elif TouchedDay.objects.exists():
        say("rolling up pending days…")
        rollup_run()
    with connection.cursor() as cursor:
        # What autovacuum does to freshly loaded tables: statistics, and the visibility map
        # that lets index-only scans skip the heap.
        cursor.execute(
            "VACUUM (ANALYZE) accounts_account, accounts_productuser, accounts_accountday, "
            "accounts_accountuserday, accounts_accountfeatureday"
        )
    return figures


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


PREPARE = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from benchmarks import scoring
from benchmarks import generate
generate.configure(os.environ["DATABASE_URL"])
figures = scoring.rollups_prepare(rebuild=False)
print(json.dumps(figures))
"""


def small_population(database_url: str, *, accounts: int, events: int, seed: int, jobs: int) -> str:
    """A population ``factor`` times smaller in its own database: generated, rolled up."""
    url = _database(database_url, urlsplit(database_url).path.strip("/") + "_small")
    env = os.environ | {"DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "benchmarks/generate.py", "--create-db", "--reuse",
         "--accounts", str(accounts), "--events", str(events), "--seed", str(seed),
         "--jobs", str(jobs)],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    subprocess.run([sys.executable, "-c", PREPARE], cwd=ROOT, env=env, check=True)
    return url


def database_drop(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.strip("/")
    with psycopg.connect(_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the report ----------------------------------------------------------------------------


def _verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    pop, bare, runs = result["population"], result["bare"], result["scoring"]
    first, steady, incremental = runs["first"], runs["steady"], runs["incremental"]
    ratios, machine, check = result["ratios"], result["machine"], result["check"]
    accounts = pop["accounts"]

    def rate(run: dict) -> str:
        per_second = run["result"]["accounts"] / run["seconds"]
        return f"{run['seconds']:.2f} s ({per_second:,.0f} accounts/s)"

    lines = [
        "## Scoring",
        "",
        f"Run {result['finished_at']} by `benchmarks/scoring.py` "
        "(figures in `benchmarks/results/scoring.json`), as of "
        f"{result['as_of']}: {accounts:,} accounts, {pop['users']:,} product users, "
        f"{pop['events']:,} events; rollups {pop['account_days']:,} account days, "
        f"{pop['user_days']:,} user days, {pop['feature_days']:,} feature days.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| bare GROUP BY over `accounts_event`, the same signals (median of "
        f"{len(bare['runs'])}) | {bare['seconds']:.2f} s | |",
        f"| full rescore from the rollups, steady state (median of "
        f"{len(runs['steady_runs'])}) | {rate(steady)} | ≤ {FULL_TARGET} × bare: "
        f"{ratios['full']:.2f} **{ratios['full_verdict']}** |",
        f"| full rescore, first run on empty scoring tables | {rate(first)} | "
        f"{ratios['first']:.2f} × bare |",
        *(
            [
                f"| full rescore, every row rewritten as the next night's run does (median "
                f"of {len(runs['rewrite_runs'])}) | {rate(runs['rewrite'])} | "
                f"{runs['rewrite']['seconds'] / bare['seconds']:.2f} × bare |"
            ]
            if runs.get("rewrite")
            else []
        ),
        f"| incremental rescore, {result['parameters']['changed_pct']:g} % changed "
        f"({incremental['touched']:,} accounts; median of {len(runs['incremental_runs'])}) | "
        f"{incremental['seconds']:.3f} s | ≤ {INCREMENTAL_TARGET} × full: "
        f"{ratios['incremental']:.3f} **{ratios['incremental_verdict']}** |",
    ]
    memory = result.get("memory")
    if memory:
        lines.append(
            f"| worker peak RSS, full rescore ({memory['ratio_of']} runs): {accounts:,} / "
            f"{memory['accounts']:,} accounts | {memory['large_mb']} / {memory['small_mb']} MB "
            f"| ratio ≤ {RSS_TARGET}: {memory['ratio']:.2f} **{memory['verdict']}** |"
        )
    else:
        lines.append(
            f"| worker peak RSS, full rescore ({accounts:,} accounts) | "
            f"{max(first['peak_rss_mb'], steady['peak_rss_mb'])} MB | (not compared) |"
        )
    lines += [
        f"| signals check: bare GROUP BY = stored rescore signals | "
        f"{check['accounts'] - check['mismatches']:,} of {check['accounts']:,} accounts "
        f"({check['signals']} signals each) | all: "
        f"**{'PASS' if check['mismatches'] == 0 else 'MISS'}** |",
        "",
        "Bare GROUP BY per statement (median): "
        + ", ".join(f"{name} {s['seconds']:.2f} s" for name, s in bare["statements"].items())
        + ".",
        "",
        f"Scoring runs: the first wrote {first['result']['scores_written']:,} scores and "
        f"opened {first['result']['items_created']:,} queue items; the steady-state run "
        f"wrote {steady['result']['scores_written']:,}; each incremental run scored "
        f"{incremental['result']['accounts']:,} accounts. Every run is its own process, "
        "warmed up as the long-lived worker is by scoring one account first, unmeasured "
        "(time measured around `scoring_run`, peak RSS the largest of its own `VmHWM` and "
        "its scoring processes'). A full run of many chunks scores them in "
        f"`PLS_SCORING_PROCESSES` = {first.get('processes', 1)} forked processes. CPU "
        "seconds of the worker and its scoring processes (PostgreSQL not counted): first "
        f"run {first['cpu_seconds']}, steady state {steady['cpu_seconds']}, incremental "
        f"{incremental['cpu_seconds']}.",
    ]
    if memory:
        lines += [
            "",
            f"Memory: the same full rescores on a population {memory['factor']}× smaller "
            f"({memory['accounts']:,} accounts, {memory['events']:,} events, generated into "
            f"a scratch database): first run {memory['small_first_mb']} MB, steady state "
            f"{memory['small_steady_mb']} MB, against {first['peak_rss_mb']} and "
            f"{steady['peak_rss_mb']} MB.",
        ]
    setup = result.get("setup") or {}
    if setup.get("rollup_rebuild_seconds") is not None:
        rebuilt = setup["rollup_rebuild"]
        when = f"; measured {setup['measured_at']}" if setup.get("measured_at") else ""
        lines += [
            "",
            f"Setup (not timed above{when}): "
            f"`rollup_rebuild` of {pop['events']:,} events took "
            f"{setup['rollup_rebuild_seconds']} s "
            f"({pop['events'] / setup['rollup_rebuild_seconds']:,.0f} events/s; "
            f"{rebuilt['pairs']:,} account-days), ARR potential "
            f"{setup['arr_seconds']} s.",
        ]
    settings = machine["postgresql_settings"]
    lines += [
        "",
        f"Machine: {machine['cpu_count']} CPUs, {machine['memory']} RAM; "
        f"{machine['postgresql'].split(',')[0]} on the same machine (shared_buffers "
        f"{settings.get('shared_buffers', '?')}, work_mem {settings.get('work_mem', '?')}, "
        f"jit {settings.get('jit', '?')}). One-minute load average "
        f"{result['load_average']['start']} when the measurements started and "
        f"{result['load_average']['end']} at the end: other processes shared the machine.",
    ]
    section = "\n".join(lines) + "\n"
    report_section_write("## Scoring", section)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--changed-pct",
        type=float,
        default=1.0,
        help="share of accounts changed for the incremental run (%%)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the bare GROUP BY, steady-state and incremental rescores",
    )
    parser.add_argument(
        "--small-factor",
        type=int,
        default=10,
        help="the memory comparison's population is this many times smaller",
    )
    parser.add_argument(
        "--skip-memory", action="store_true", help="no smaller population, no memory comparison"
    )
    parser.add_argument(
        "--keep-small",
        action="store_true",
        help="keep the smaller population's database for the next run",
    )
    parser.add_argument(
        "--rebuild-rollups", action="store_true", help="rebuild the rollups even when they exist"
    )
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="generate.py jobs for the smaller population",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    if not args.database_url:
        sys.exit("set DATABASE_URL or pass --database-url postgres://user@host:5432/pls_bench")
    if args.repeats < 1 or not 0 < args.changed_pct <= 100 or args.small_factor < 2:
        sys.exit("--repeats ≥ 1, 0 < --changed-pct ≤ 100 and --small-factor ≥ 2")
    generate.configure(args.database_url)

    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
    population = population_figures()
    if not population["accounts"] or not population["events"]:
        sys.exit("the database holds no population: run benchmarks/generate.py first")
    setup = rollups_prepare(rebuild=args.rebuild_rollups)
    population = population_figures()
    if not setup:
        setup = _previous_setup(population)
    as_of = timezone.now().date()
    say(f"population: {population['accounts']:,} accounts, {population['events']:,} events")
    load_start = os.getloadavg()[0]

    say("bare GROUP BY over raw events…")
    bare = bare_group_by(as_of, args.repeats)
    say("scoring runs (each in its own process)…")
    runs = scoring_runs(
        args.database_url, repeats=args.repeats, share=args.changed_pct / 100, seed=args.seed
    )
    check = check_signals(as_of, bare.pop("_rows"))
    say(f"signals check: {check['mismatches']:,} of {check['accounts']:,} accounts differ")
    if timezone.now().date() != as_of:
        say("the run crossed midnight UTC: the signals check compares different days")

    memory = None
    if not args.skip_memory:
        factor = args.small_factor
        small_accounts = population["accounts"] // factor
        # Two significant digits (1,020,040 → 1,000,000): the ingest benchmark adds events
        # to the population, and the smaller one is generated once and reused.
        small_events = int(float(f"{population['events'] // factor:.2g}"))
        say(f"memory: a population of {small_accounts:,} accounts / {small_events:,} events…")
        url = small_population(
            args.database_url,
            accounts=small_accounts,
            events=small_events,
            seed=args.seed,
            jobs=args.jobs,
        )
        try:
            small_first = _small_run(url)
            small_steady = run_worker(url, "full")
        finally:
            if not args.keep_small:
                database_drop(url)
        # Like with like: the first runs, and the steady-state runs; the larger ratio counts.
        small_runs = {"first": small_first, "steady": small_steady}
        ratios = {k: runs[k]["peak_rss_mb"] / small_runs[k]["peak_rss_mb"] for k in small_runs}
        kind = max(ratios, key=ratios.get)
        ratio = ratios[kind]
        large, small = runs[kind]["peak_rss_mb"], small_runs[kind]["peak_rss_mb"]
        memory = {
            "factor": factor,
            "accounts": small_accounts,
            "events": small_events,
            "large_mb": large,
            "small_mb": small,
            "small_first_mb": small_first["peak_rss_mb"],
            "small_steady_mb": small_steady["peak_rss_mb"],
            "ratio": round(ratio, 3),
            "ratio_of": kind,
            "ratios": {name: round(value, 3) for name, value in ratios.items()},
            "verdict": _verdict(ratio, RSS_TARGET),
        }
        say(
            f"  peak RSS, first runs {ratios['first']:.2f}×, steady state "
            f"{ratios['steady']:.2f}× ({large} MB against {small} MB)"
        )

    full_ratio = runs["steady"]["seconds"] / bare["seconds"]
    incremental_ratio = runs["incremental"]["seconds"] / runs["steady"]["seconds"]
    result = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(),
        "parameters": {
            "changed_pct": args.changed_pct,
            "repeats": args.repeats,
            "small_factor": args.small_factor,
            "seed": args.seed,
        },
        "population": population,
        "setup": setup,
        "bare": bare,
        "scoring": runs,
        "check": check,
        "memory": memory,
        "ratios": {
            "full": round(full_ratio, 3),
            "full_verdict": _verdict(full_ratio, FULL_TARGET),
            "first": round(runs["first"]["seconds"] / bare["seconds"], 3),
            "incremental": round(incremental_ratio, 3),
            "incremental_verdict": _verdict(incremental_ratio, INCREMENTAL_TARGET),
        },
        "machine": machine_facts(),
        "load_average": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    write_report(result)
    say(
        f"full rescore ÷ bare GROUP BY = {full_ratio:.2f} ({result['ratios']['full_verdict']}, "
        f"≤ {FULL_TARGET}); incremental ÷ full = {incremental_ratio:.3f} "
        f"({result['ratios']['incremental_verdict']}, ≤ {INCREMENTAL_TARGET})"
    )
    verdicts = [result["ratios"]["full_verdict"], result["ratios"]["incremental_verdict"]]
    if memory:
        verdicts.append(memory["verdict"])
    if "MISS" in verdicts or check["mismatches"]:
        sys.exit(1)


def _previous_setup(population: dict) -> dict:
    """The rollup build figures of an earlier run on the same population (reused rollups)."""
    try:
        previous = json.loads((RESULTS / "scoring.json").read_text())
    except (OSError, ValueError):
        return {}
    setup = previous.get("setup") or {}
    same = all(
        previous.get("population", {}).get(k) == population[k] for k in ("accounts", "events")
    )
    if not same or setup.get("rollup_rebuild_seconds") is None:
        return {}
    return setup | {"measured_at": setup.get("measured_at") or previous.get("finished_at")}


def _small_run(database_url: str) -> dict:
    """A first full rescore of the smaller population (its scoring tables emptied)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(SCORING_TABLES)} CASCADE")
    return run_worker(database_url, "full")


if __name__ == "__main__":
    main()
