"""Ingest benchmark: Segment batches over HTTP, against a raw COPY of the same rows.

Run from the project root, after ``benchmarks/generate.py`` filled the database::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pls_bench \\
        .venv/bin/python benchmarks/ingest.py [--events 200000] [--clients 8] \\
        [--batch-size 500] [--gzip] [--workers 2] [--threads 4]

In one run it:

1. migrates the database and creates a write key (``ingestion_key_create``);
2. builds the request bodies up front: sessions of recently active users of the population
   (sampled from the database), in the shape ``generate.py`` gives its events (identify,
   track, page, a few group calls; 2 % of sessions are new sign-ups on their company's
   domain, 3 % of events anonymous page views), every ``messageId`` a fresh UUID;
3. starts gunicorn (``pls_portal.wsgi``, production settings: ``DEBUG=0``, a random
   ``SECRET_KEY``) on a free port and warms each worker thread up with a small batch;
4. posts the batches to ``/ingest/v1/batch`` (HTTP Basic, the write key as user name)
   from ``--clients`` threads over keep-alive connections and measures events/s from the
   first request to the last response (the API answers once the request is committed).
   Only 200 responses count; any other status is reported and makes the script exit
   non-zero, as does a stored count that differs;
4b. drains the accepted requests into events in-process, as the worker's drain task does
   (validation, dedupe, identity, COPY), and times it: the sustained rate one drainer
   turns accepted events into stored, resolved events;
5. copies the rows the API just stored (``COPY … TO``), then times ``COPY … FROM STDIN``
   of those exact rows into a scratch table made ``LIKE accounts_event INCLUDING ALL``
   (same indexes; no foreign keys, as LIKE does not copy them) and dropped afterwards;
6. prints both figures, their ratio and the targets (≥ 10,000 events/s, ≥ 0.3 × COPY),
   writes ``benchmarks/results/ingest.json`` and the "Ingest" section of
   ``benchmarks/report.md``; when a target is missed (or with ``--profile``) it profiles
   the same request in-process (Django's test client, cProfile, every SQL statement
   timed) and writes where the time goes to ``benchmarks/results/ingest-profile.txt``.

Everything runs on one machine, PostgreSQL included: the report gives its CPU count.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gzip
import http.client
import io
import itertools
import json
import os
import pstats
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import generate  # after the project root is importable
from benchmarks.common import (
    REPORT,
    RESULTS,
    ROOT,
    Server,
    machine_facts,
    percentile,
    report_section_write,
    server_environment,
)

TARGET_EVENTS_PER_SECOND = 10_000
TARGET_COPY_RATIO = 0.3
NEW_USER_SHARE = 0.02
SESSION_MEAN_EVENTS = 6
SCRATCH_TABLE = "bench_ingest_copy"
PROFILE_BATCHES = 8

# Django ORM entry points worth naming next to the project's own functions.
_ORM_ENTRY_POINTS = frozenset(
    {"bulk_create", "bulk_update", "update", "create", "get", "count", "_fetch_all", "save"}
)


# --- the requests -----------------------------------------------------------------------


def _sample_identities(limit: int, seed: int) -> list[tuple]:
    """(account, user) pairs of users active in the last 30 days, in a seeded order."""
    from django.db import connection

    query = """
        SELECT u.user_id, u.email, u.name, u.title, u.seniority, u.department, u.is_admin,
               (SELECT x.anonymous_id FROM accounts_anonymousid x
                 WHERE x.user_id = u.id ORDER BY x.anonymous_id LIMIT 1),
               a.id, a.name, a.domain, a.industry, a.employees, a.status, p.key,
               (SELECT g.group_id FROM accounts_accountgroup g
                 WHERE g.account_id = a.id ORDER BY g.id LIMIT 1)
          FROM accounts_productuser u
          LEFT JOIN accounts_account a ON a.id = u.account_id AND a.merged_into_id IS NULL
          LEFT JOIN accounts_plan p ON p.id = a.plan_id
         WHERE u.user_id IS NOT NULL AND u.last_seen_at >= now() - interval '30 days'
         ORDER BY md5(u.user_id || %s)
         LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(query, [str(seed), limit])
        rows = cursor.fetchall()
    rng = random.Random(seed)
    identities = []
    for (
        user_id,
        email,
        name,
        title,
        seniority,
        department,
        is_admin,
        anonymous_id,
        account_pk,
        account_name,
        domain,
        industry,
        employees,
        status,
        plan_key,
        group_id,
    ) in rows:
        account = None
        if account_pk is not None:
            account = generate.AccountSpec(
                pk=account_pk,
                name=account_name,
                domains=(domain,) if domain else (),
                group_ids=(group_id,) if group_id else (),
                industry=industry,
                employees=employees or 1,
                plan_key=plan_key or "free",
                status=status,
                created_at=0.0,
            )
        user = generate.UserSpec(
            pk=0,
            user_id=user_id,
            anonymous_id=anonymous_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            email=email,
            name=name,
            title=title,
            seniority=seniority,
            department=department,
            is_admin=is_admin,
            ip=generate._ip(rng),
            engagement=0.5,
            signed_up_at=0.0,
        )
        identities.append((account, user))
    return identities


def _synthetic_identities(limit: int, seed: int) -> list[tuple]:
    """Users of a population that is not in the database: ingestion creates them all."""
    now = time.time()
    identities = []
    for team in generate.population(seed=seed, now=now, stop=max(1, limit // 4)):
        identities.extend((team.account, user) for user in team.users)
    return identities[:limit]


def _new_user(rng: random.Random, account, run_id: str, number: int) -> generate.UserSpec:
    first, last = rng.choice(generate.FIRST_NAMES), rng.choice(generate.LAST_NAMES)
    domain = account.domain if account is not None and account.domains else "gmail.com"
    return generate.UserSpec(
        pk=0,
        user_id=f"bench-{run_id}-{number}",
        anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        email=f"{first}.{last}.{run_id}{number}@{domain}".lower(),
        name=f"{first} {last}",
        title="Software Engineer",
        seniority="individual",
        department="Engineering",
        is_admin=False,
        ip=generate._ip(rng),
        engagement=0.5,
        signed_up_at=0.0,
    )


@dataclass
class Workload:
    bodies: list[bytes]
    counts: list[int]
    messages: list[list[dict]] = field(repr=False, default_factory=list)

    @property
    def events(self) -> int:
        return sum(self.counts)


def build_workload(
    *,
    identities: list[tuple],
    events: int,
    batch_size: int,
    compress: bool,
    seed: int,
    run_id: str,
    keep_messages: bool = False,
) -> Workload:
    """``events`` Segment messages in batches of ``batch_size``, encoded (and gzipped)."""
    from accounts.ingest import MAX_REQUEST_BYTES

    rng = random.Random(seed)
    shapes = generate.EventShapes()
    now = time.time()
    messages: list[dict] = []
    new_users = 0
    while len(messages) < events:
        account, user = rng.choice(identities)
        specials: tuple[str, ...] = ("identify",) if rng.random() < 0.1 else ()
        if rng.random() < NEW_USER_SHARE:
            new_users += 1
            user = _new_user(rng, account, run_id, new_users)
            specials = ("identify", "Signed Up")
        tier = "solo" if account is None else ("paid" if account.status == "paid" else "free")
        count = min(events - len(messages), 1 + int(rng.expovariate(1 / SESSION_MEAN_EVENTS)))
        start = now - rng.uniform(5, 300)
        for event in shapes.session(
            rng,
            team_tier=tier,
            account=account,
            user=user,
            count=count,
            start=start,
            end=now,
            specials=specials,
        ):
            messages.append(generate.segment_message(event, message_id=str(uuid.uuid4())))
    sent_at = generate.iso(now)
    workload = Workload(bodies=[], counts=[])
    for start in range(0, len(messages), batch_size):
        batch = messages[start : start + batch_size]
        raw = json.dumps({"batch": batch, "sentAt": sent_at}, separators=(",", ":")).encode()
        if len(raw) > MAX_REQUEST_BYTES:
            sys.exit(
                f"a batch of {len(batch)} events is {len(raw):,} bytes, over the API's "
                f"{MAX_REQUEST_BYTES:,}; use a smaller --batch-size"
            )
        workload.bodies.append(gzip.compress(raw, compresslevel=6) if compress else raw)
        workload.counts.append(len(batch))
        if keep_messages:
            workload.messages.append(batch)
    return workload


# --- the server -------------------------------------------------------------------------


# --- the clients ------------------------------------------------------------------------


@dataclass
class Outcome:
    ok_events: int = 0
    ok_requests: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def post_all(
    *, port: int, key: str, workload: Workload, clients: int, compress: bool
) -> tuple[Outcome, float]:
    """Post every body from ``clients`` threads; (outcome, wall seconds)."""
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    if compress:
        headers["Content-Encoding"] = "gzip"
    outcome, lock = Outcome(), threading.Lock()
    next_index = itertools.count()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        barrier.wait()
        while (index := next(next_index)) < len(workload.bodies):
            started = time.perf_counter()
            try:
                conn.request("POST", "/ingest/v1/batch", workload.bodies[index], headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                with lock:
                    outcome.failures.append(f"batch {index}: {type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if response.status == 200:
                    outcome.ok_events += workload.counts[index]
                    outcome.ok_requests += 1
                    outcome.latencies.append(elapsed)
                else:
                    text = body[:300].decode(errors="replace")
                    outcome.failures.append(f"batch {index}: HTTP {response.status} {text}")
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return outcome, time.perf_counter() - started


class Sampler:
    """py-spy sampling each gunicorn worker (on-CPU samples) while the clients post."""

    def __init__(self, *, py_spy: str, server_pid: int, directory: Path) -> None:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
        pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        self.outputs = [directory / f"ingest-pyspy-{pid}.txt" for pid in pids]
        self.processes = [
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format=raw",
                    "--rate=100",
                    "--nonblocking",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, output in zip(pids, self.outputs, strict=True)
        ]
        time.sleep(1)  # let py-spy attach before the clients start

    def stop(self) -> dict:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            process.wait(timeout=60)
        return summarize_samples([path for path in self.outputs if path.exists()])


def summarize_samples(paths: list[Path]) -> dict:
    """Inclusive share of on-CPU samples per project function and ORM entry point."""
    total, inclusive = 0, defaultdict(int)
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            frames = set()
            for frame in stack.split(";"):
                name, _, where = frame.partition(" (")
                filename = where.rsplit(":", 1)[0]
                ours = filename.startswith(("accounts/", "pls_portal/"))
                orm = filename == "django/db/models/query.py" and (
                    name.rpartition(".")[2] in _ORM_ENTRY_POINTS
                )
                if ours or orm:
                    frames.add(f"{filename}({name})")
            for frame in frames:
                inclusive[frame] += int(count)
    rows = sorted(inclusive.items(), key=lambda item: -item[1])[:25]
    return {
        "samples": total,
        "files": [str(path.relative_to(ROOT)) for path in paths],
        "top_functions": [
            {"function": frame, "share": round(count / total, 3)} for frame, count in rows
        ]
        if total
        else [],
    }


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (master and workers), by every local PostgreSQL
    process, and by this process (the clients); empty where /proc is missing."""
    proc = Path("/proc")
    if not (proc / str(server_pid)).exists():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    children = proc / str(server_pid) / "task" / str(server_pid) / "children"
    server_pids = {server_pid, *(int(pid) for pid in children.read_text().split())}
    used = {"gunicorn": 0.0, "postgres": 0.0}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(entry.name) in server_pids:
            used["gunicorn"] += seconds
        elif comm == "postgres":
            used["postgres"] += seconds
    times = os.times()
    used["clients"] = times.user + times.system
    return used


# --- the COPY baseline ------------------------------------------------------------------


def copy_baseline(*, after_id: int, until_id: int, repeats: int = 3) -> dict:
    """Time COPY of the rows the API stored into a scratch table with the same indexes,
    ``repeats`` times into a fresh table; the median counts."""
    columns = ", ".join(generate.EVENT_COLUMNS)
    conn = generate.connect()
    buffer = io.BytesIO()
    with conn.cursor().copy(
        f"COPY (SELECT {columns} FROM accounts_event "  # noqa: S608
        f"WHERE id > {int(after_id)} AND id <= {int(until_id)} ORDER BY id) TO STDOUT"
    ) as copy:
        for data in copy:
            buffer.write(data)
    data = buffer.getvalue()
    step, timings, copied, indexes = 1 << 20, [], 0, 0
    for _ in range(repeats):
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        conn.execute(f"CREATE TABLE {SCRATCH_TABLE} (LIKE accounts_event INCLUDING ALL)")
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s", [SCRATCH_TABLE]
        ).fetchone()[0]
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY {SCRATCH_TABLE} ({columns}) FROM STDIN") as copy:
            for offset in range(0, len(data), step):
                copy.write(data[offset : offset + step])
        conn.commit()
        timings.append(time.perf_counter() - started)
        copied = conn.execute(f"SELECT count(*) FROM {SCRATCH_TABLE}").fetchone()[0]  # noqa: S608
    conn.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
    conn.commit()
    conn.close()
    seconds = statistics.median(timings)
    return {
        "rows": copied,
        "bytes": len(data),
        "indexes": indexes,
        "repeats": repeats,
        "seconds": round(seconds, 3),
        "seconds_each": [round(t, 3) for t in timings],
        "rows_per_second": round(copied / seconds) if seconds else 0,
    }


# --- the in-process profile -------------------------------------------------------------


def profile_requests(*, workload: Workload, key: str, compress: bool) -> dict:
    """Where a request's time goes, in-process through Django's test client: half the
    batches timed plainly (every SQL statement timed by kind), half under cProfile."""
    from django.db import connection
    from django.test import Client

    client = Client()
    extra = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    if compress:
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    sql: dict[str, list[float]] = defaultdict(list)

    def timed(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql[_statement_kind(statement)].append(time.perf_counter() - started)

    def post(index: int) -> None:
        response = client.post(
            "/ingest/v1/batch",
            data=workload.bodies[index],
            content_type="application/json",
            **extra,
        )
        if response.status_code != 200:
            sys.exit(f"profile request {index}: HTTP {response.status_code} {response.content!r}")

    half = len(workload.bodies) // 2
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        for index in range(half):
            post(index)
    wall = time.perf_counter() - started
    events = sum(workload.counts[:half])

    profiler = cProfile.Profile()
    profiled_started = time.perf_counter()
    for index in range(half, len(workload.bodies)):
        profiler.enable()
        post(index)
        profiler.disable()
    profiled_wall = time.perf_counter() - profiled_started
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    sql_seconds = sum(sum(times) for times in sql.values())
    by_kind = sorted(
        (
            {
                "statement": kind,
                "per_batch": round(len(times) / half, 1),
                "ms_per_batch": round(1000 * sum(times) / half, 1),
            }
            for kind, times in sql.items()
        ),
        key=lambda row: -row["ms_per_batch"],
    )
    return {
        "batches": half,
        "events": events,
        "ms_per_batch": round(1000 * wall / half, 1),
        "events_per_second_one_thread": round(events / wall),
        "sql_statements_per_batch": round(sum(len(t) for t in sql.values()) / half, 1),
        "sql_ms_per_batch": round(1000 * sql_seconds / half, 1),
        "sql_share": round(sql_seconds / wall, 3),
        "sql_by_statement": by_kind,
        "cprofile_batches": len(workload.bodies) - half,
        "top_functions": _top_functions(profiler, profiled_wall, len(workload.bodies) - half),
        "pstats": text.getvalue(),
    }


def _statement_kind(statement: str) -> str:
    """``INSERT accounts_event`` / ``SELECT accounts_productuser``…: a statement's verb and
    first table, so statements group across different parameters."""
    words = statement.replace('"', " ").replace("(", " ").split()
    verb = words[0].upper() if words else "?"
    table = next((w for w in words if w.startswith(("accounts_", "pls_portal_", "django_"))), "")
    if verb == "SAVEPOINT" or verb == "RELEASE" or verb == "ROLLBACK":
        return verb
    return f"{verb} {table}".strip()


def _top_functions(profiler: cProfile.Profile, wall: float, batches: int) -> list[dict]:
    """The project's functions, and the ORM calls they make, by cumulative time per batch
    (shares of the profiled wall time, so cProfile's own overhead inflates them evenly)."""
    project = str(ROOT / "")
    rows = []
    for (filename, line, name), (_cc, calls, _tt, cumulative, _callers) in pstats.Stats(
        profiler
    ).stats.items():
        ours = filename.startswith(project) and "/.venv/" not in filename
        orm = filename.endswith("django/db/models/query.py") and name in _ORM_ENTRY_POINTS
        if not (ours or orm) or "/benchmarks/" in filename:
            continue
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({name})",
                "calls_per_batch": round(calls / batches, 1),
                "ms_per_batch": round(1000 * cumulative / batches, 1),
                "share": round(cumulative / wall, 3) if wall else 0,
            }
        )
    rows.sort(key=lambda row: -row["ms_per_batch"])
    return rows[:25]


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --- the report -------------------------------------------------------------------------


def _verdict(value: float, target: float) -> str:
    return "PASS" if value >= target else "MISS"


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    figures, params, machine = result["figures"], result["parameters"], result["machine"]
    lines = [
        "## Ingest",
        "",
        f"Run {result['finished_at']} by `benchmarks/ingest.py` "
        f"(figures in `benchmarks/results/ingest.json`).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        "| HTTP ingest (accepted and committed) | "
        f"{figures['http_events_per_second']:,} events/s | "
        f"≥ {TARGET_EVENTS_PER_SECOND:,}: **{figures['events_target']}** |",
        f"| drain into events (worker, one drainer) | "
        f"{figures.get('drain_events_per_second', 0):,} events/s | |",
        f"| COPY into `LIKE accounts_event INCLUDING ALL` ({figures['copy']['indexes']} "
        f"indexes) | {figures['copy']['rows_per_second']:,} rows/s | |",
        f"| HTTP ÷ COPY | {figures['ratio']:.3f} | ≥ {TARGET_COPY_RATIO}: "
        f"**{figures['ratio_target']}** |",
        f"| batch latency p50 / p95 / max | {figures['latency_ms']['p50']} / "
        f"{figures['latency_ms']['p95']} / {figures['latency_ms']['max']} ms | |",
        "",
        f"Parameters: {params['events']:,} events in batches of {params['batch_size']} "
        f"({'gzip' if params['gzip'] else 'plain JSON'}), {params['clients']} client threads, "
        f"gunicorn {params['workers']} workers × {params['threads']} threads, "
        f"{params['identities']:,} sampled users of a population of "
        f"{params['population_accounts']:,} accounts / {params['population_events']:,} events. "
        f"Stored {figures['stored']:,} of {figures['posted']:,} events posted.",
        "",
        (
            "CPU seconds used during the HTTP run: "
            + ", ".join(f"{name} {used}" for name, used in figures["cpu_seconds"].items())
            + f" (of {(machine['cpu_count'] or 1) * figures['seconds']:.1f} available)."
            if figures.get("cpu_seconds")
            else ""
        ),
        "",
        f"Machine: {machine['cpu_count']} CPUs, {machine['memory']} RAM, "
        f"`{machine['uname']}`; {machine['postgresql'].split(',')[0]} on the same machine "
        f"(shared_buffers {machine['postgresql_settings'].get('shared_buffers', '?')}, "
        f"synchronous_commit {machine['postgresql_settings'].get('synchronous_commit', '?')}).",
    ]
    profile = result.get("profile")
    if profile and "error" in profile:
        lines += ["", f"The in-process profile failed: `{profile['error']}`."]
    elif profile:
        lines += [
            "",
            f"Profile (in-process, one thread, {profile['batches']} batches, "
            f"`benchmarks/results/ingest-profile.txt`): {profile['ms_per_batch']} ms per "
            f"batch ({profile['events_per_second_one_thread']:,} events/s on one thread); "
            f"{profile['sql_statements_per_batch']} SQL statements and "
            f"{profile['sql_ms_per_batch']} ms in SQL per batch "
            f"({profile['sql_share']:.0%}).",
            "",
            "| SQL statement | per batch | ms per batch |",
            "|---|---|---|",
            *(
                f"| `{row['statement']}` | {row['per_batch']} | {row['ms_per_batch']} |"
                for row in profile["sql_by_statement"][:12]
            ),
            "",
            "| function (cumulative) | calls per batch | ms per batch | share |",
            "|---|---|---|---|",
            *(
                f"| `{row['function']}` | {row['calls_per_batch']} | {row['ms_per_batch']} "
                f"| {row['share']:.0%} |"
                for row in profile["top_functions"][:15]
            ),
        ]
    samples = result.get("py_spy")
    if samples and samples["top_functions"]:
        lines += [
            "",
            f"py-spy on the gunicorn workers during the run ({samples['samples']:,} on-CPU "
            "samples; inclusive share):",
            "",
            "| function | share of CPU samples |",
            "|---|---|",
            *(
                f"| `{row['function']}` | {row['share']:.0%} |"
                for row in samples["top_functions"][:15]
            ),
        ]
    section = "\n".join(lines) + "\n"
    report_section_write("## Ingest", section)


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark the Segment-compatible HTTP ingest against COPY."
    )
    parser.add_argument("--events", type=int, default=200_000, help="events to post")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--batch-size", type=int, default=500, help="events per request")
    parser.add_argument("--gzip", action="store_true", help="gzip the request bodies")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--users", type=int, default=20_000, help="users to sample as senders")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile a request in-process: when a target is missed (auto), always or never",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        default="",
        help="sample the gunicorn workers with this py-spy during the run (not a dependency: "
        "pip install py-spy into any other environment)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("set DATABASE_URL or pass --database-url postgres://user@host:5432/pls_bench")
    if min(args.events, args.clients, args.batch_size, args.workers, args.threads) < 1:
        sys.exit("--events, --clients, --batch-size, --workers and --threads must be ≥ 1")

    static_root = tempfile.mkdtemp(prefix="pls-bench-static-")
    env = server_environment(args.database_url, static_root)
    os.environ.update(env)
    generate.configure(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    from accounts.services.incoming import incoming_drain
    from accounts.services.keys import ingestion_key_create, ingestion_key_revoke

    call_command("migrate", interactive=False, verbosity=0)
    run_id = uuid.uuid4().hex[:8]
    key = ingestion_key_create(name=f"ingest benchmark {run_id}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_account")
        population_accounts = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM accounts_event")
        population_events = cursor.fetchone()[0]

    identities = _sample_identities(args.users, args.seed)
    if not identities:
        print(
            "the database holds no recently active users (run benchmarks/generate.py first); "
            "posting events of users it has never seen, so ingestion creates every one",
            flush=True,
        )
        identities = _synthetic_identities(args.users, args.seed)
    print(
        f"building {args.events:,} events in batches of {args.batch_size} from "
        f"{len(identities):,} users…",
        flush=True,
    )
    workload = build_workload(
        identities=identities,
        events=args.events,
        batch_size=args.batch_size,
        compress=args.gzip,
        seed=args.seed,
        run_id=run_id,
    )
    warmup = build_workload(
        identities=identities,
        events=args.workers * args.threads * 50,
        batch_size=50,
        compress=args.gzip,
        seed=args.seed + 1,
        run_id=run_id + "w",
    )
    connection.close()

    log = RESULTS / "ingest-gunicorn.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = Server(env=env, workers=args.workers, threads=args.threads, log=log)
    try:
        server.wait_ready()
        warm, _ = post_all(
            port=server.port,
            key=key.plaintext,
            workload=warmup,
            clients=args.workers * args.threads,
            compress=args.gzip,
        )
        for failure in warm.failures:
            print(f"warm-up {failure}", file=sys.stderr)
        incoming_drain()  # the warm-up's requests, so the drain below times the run alone
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM accounts_event")
            before_id = cursor.fetchone()[0]
        connection.close()
        print(
            f"posting {workload.events:,} events in {len(workload.bodies)} requests with "
            f"{args.clients} clients to gunicorn ({args.workers} workers × {args.threads} "
            f"threads) on port {server.port}…",
            flush=True,
        )
        sampler = None
        if args.py_spy:
            sampler = Sampler(py_spy=args.py_spy, server_pid=server.process.pid, directory=RESULTS)
        cpu_before = cpu_seconds(server.process.pid)
        outcome, seconds = post_all(
            port=server.port,
            key=key.plaintext,
            workload=workload,
            clients=args.clients,
            compress=args.gzip,
        )
        cpu = {
            name: round(used - cpu_before.get(name, 0.0), 1)
            for name, used in cpu_seconds(server.process.pid).items()
        }
        samples = sampler.stop() if sampler else None
    finally:
        server.stop()

    http_eps = round(outcome.ok_events / seconds) if seconds else 0
    print(f"HTTP: {outcome.ok_events:,} events in {seconds:.2f} s = {http_eps:,} events/s")
    # The API commits accepted requests; the worker's drain task makes them events. Timed
    # here in-process, one drainer, as the worker runs it.
    print("draining the accepted requests into events (the worker's drain task)…", flush=True)
    drain_started = time.perf_counter()
    drained = incoming_drain()
    drain_seconds = time.perf_counter() - drain_started
    drain_eps = round(drained.received / drain_seconds) if drain_seconds else 0
    print(f"drain: {drained.received:,} events in {drain_seconds:.2f} s = {drain_eps:,} events/s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(max(id), 0) FROM accounts_event WHERE id > %s", [before_id]
        )
        stored, until_id = cursor.fetchone()
    connection.close()
    if cpu:
        print(
            f"CPU seconds during the run ({os.cpu_count()} CPUs × {seconds:.1f} s = "
            f"{(os.cpu_count() or 1) * seconds:.1f} available): "
            + ", ".join(f"{name} {used}" for name, used in cpu.items())
        )
    print("copying the same rows into a scratch table with the same indexes…", flush=True)
    copy = copy_baseline(after_id=before_id, until_id=until_id)
    ratio = http_eps / copy["rows_per_second"] if copy["rows_per_second"] else 0.0
    figures = {
        "posted": workload.events,
        "ok_events": outcome.ok_events,
        "ok_requests": outcome.ok_requests,
        "failed_requests": len(outcome.failures),
        "stored": stored,
        "seconds": round(seconds, 3),
        "http_events_per_second": http_eps,
        "drain_events_per_second": drain_eps,
        "drain_seconds": round(drain_seconds, 3),
        "latency_ms": {
            "p50": round(1000 * statistics.median(outcome.latencies), 1)
            if outcome.latencies
            else 0,
            "p95": round(1000 * percentile(outcome.latencies, 0.95), 1),
            "max": round(1000 * max(outcome.latencies, default=0), 1),
        },
        "cpu_seconds": cpu,
        "copy": copy,
        "ratio": round(ratio, 4),
        "events_target": _verdict(http_eps, TARGET_EVENTS_PER_SECOND),
        "ratio_target": _verdict(ratio, TARGET_COPY_RATIO),
    }
    print(
        f"COPY: {copy['rows']:,} rows in {copy['seconds']} s = {copy['rows_per_second']:,} "
        f"rows/s ({copy['indexes']} indexes)"
    )
    print(f"ratio HTTP / COPY = {ratio:.3f}")
    print(
        f"target ≥ {TARGET_EVENTS_PER_SECOND:,} events/s: {figures['events_target']}; "
        f"target ≥ {TARGET_COPY_RATIO} × COPY: {figures['ratio_target']}"
    )

    missed = "MISS" in (figures["events_target"], figures["ratio_target"])
    profile = None
    if args.profile == "always" or (args.profile == "auto" and missed):
        print("profiling the request in-process…", flush=True)
        sample = build_workload(
            identities=identities,
            events=PROFILE_BATCHES * args.batch_size,
            batch_size=args.batch_size,
            compress=args.gzip,
            seed=args.seed + 2,
            run_id=run_id + "p",
        )
        try:
            profile = profile_requests(workload=sample, key=key.plaintext, compress=args.gzip)
        except Exception as exc:  # the figures above still get written
            print(f"the in-process profile failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            profile = {"error": f"{type(exc).__name__}: {exc}"}
    if profile and "error" not in profile:
        (RESULTS / "ingest-profile.txt").write_text(profile.pop("pstats"))
        print(
            f"profile: {profile['ms_per_batch']} ms per batch of {args.batch_size}, "
            f"{profile['sql_statements_per_batch']} SQL statements, "
            f"{profile['sql_ms_per_batch']} ms in SQL ({profile['sql_share']:.0%})"
        )
        for row in profile["sql_by_statement"][:8]:
            print(f"  {row['ms_per_batch']:>8} ms  {row['per_batch']:>6}×  {row['statement']}")
        for row in profile["top_functions"][:12]:
            print(f"  {row['ms_per_batch']:>8} ms  {row['share']:>5.0%}  {row['function']}")
    ingestion_key_revoke(key_id=key.key.pk)

    result = {
        "benchmark": "ingest",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "parameters": {
            "events": args.events,
            "clients": args.clients,
            "batch_size": args.batch_size,
            "gzip": args.gzip,
            "workers": args.workers,
            "threads": args.threads,
            "identities": len(identities),
            "seed": args.seed,
            "population_accounts": population_accounts,
            "population_events": population_events,
        },
        "figures": figures,
        "failures": [f"warm-up {failure}" for failure in warm.failures] + outcome.failures[:50],
    }
    if profile:
        result["profile"] = profile
    if samples:
        result["py_spy"] = samples
    connection.close()
    shutil.rmtree(static_root, ignore_errors=True)
    write_report(result)
    print(f"wrote {REPORT.relative_to(ROOT)} and {(RESULTS / 'ingest.json').relative_to(ROOT)}")

    if result["failures"]:
        failed = len(outcome.failures) + len(warm.failures)
        print(f"{failed} requests failed (see {log.relative_to(ROOT)}):", file=sys.stderr)
        for failure in result["failures"][:20]:
            print("  " + failure, file=sys.stderr)
        sys.exit(1)
    if stored != workload.events:
        sys.exit(f"stored {stored:,} events, not the {workload.events:,} posted")


if __name__ == "__main__":
    main()
