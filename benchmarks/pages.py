"""Page benchmark: the PQL queue and the dossier under 10 concurrent logged-in reps.

Run from the project root on a population written by ``benchmarks/generate.py``::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pls_bench \\
        .venv/bin/python benchmarks/pages.py [--seconds 30] [--rounds 2] [--reps 10] \\
        [--workers 2*CPU+1] [--compare-database-url postgres://…/pls_bench10k]

In one run, on PostgreSQL:

1. **Population.** Rollups (as ``benchmarks/scoring.py`` builds them), scores and queue
   items (a full ``scoring_run`` when ``scoring_accountscore`` is empty, else the pending
   incremental run) and stored play matches; then ``--reps`` rep users (half AE, half
   SDR: ``bench-ae-1``…, ``bench-sdr-1``…), created or reset idempotently with a fresh
   password, each holding a few claimed items of its pool so "claimed by me" and "my
   work" have rows.
2. **Query counts**, in-process (Django's test client, ``CaptureQueriesContext``) in a
   process of its own per database, with production settings: the queue (first page,
   second page, every filter) and two dossiers (accounts of the first and second page)
   for an AE and an SDR, after one unmeasured request each; each dossier also with the
   cache emptied before every request (its cost when nobody opened the account since it
   last changed). With ``--compare-database-url`` (a population of another size) the
   same counts there, which must be equal.
3. **Load**: gunicorn with production settings (``DEBUG=0``, collected static files,
   ``--workers`` sync workers, the shared Redis cache ``--cache-url`` as
   ``docs/deploy.md`` sets it up, emptied, then warmed once as the beat's
   ``dossiers-warm`` task keeps it in production), ``--reps`` client threads, each
   logged in once through the login form (a real session cookie), with no think time.
   Rounds of two phases of ``--seconds`` each: every rep requesting the trivial page
   (``/logged-out/``: the whole middleware stack, the session and user, the base
   layout), then every rep working its queue (a queue page, cycling through page 2 and
   the filters, then the dossier of an account listed on the last queue page it got).

Targets: p95 of the queue and of the dossier ≤ 5 × the trivial page's p95 under the same
load, and equal query counts at both population sizes; a miss, a request that did not
answer 200, or unequal counts exit non-zero. Writes the "Pages" section of
``benchmarks/report.md`` and ``benchmarks/results/pages.json``. The rep users, their
claims and the scores stay in the database: use a benchmark database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import generate  # after the project root is importable
from benchmarks import scoring as scoring_bench
from benchmarks.common import (
    REPORT,
    RESULTS,
    ROOT,
    Server,
    machine_facts,
    percentile,
    report_section_write,
    say,
    server_environment,
)

TARGET_RATIO = 5.0  # page p95 ÷ trivial page p95
REP_PREFIX = "bench-"
CLAIMS_PER_REP = 3
TIMED_REQUESTS = 5  # in-process, one at a time: the median is the page's own cost
TRIVIAL_URL = "/logged-out/"
DEFAULT_CACHE = "redis://127.0.0.1:6379/14"
# Tables the scoring run and play matching rewrite before the pages are measured.
PAGE_TABLES = ("scoring_queueitem", "scoring_accountscore", "scoring_scorehistory",
               "scoring_routechange", "playbooks_playmatch", "accounts_account")  # fmt: skip
QUEUE_URL = "/queue/"
DOSSIER_LINK = re.compile(r'href="(/queue/accounts/\d+/)"')
OPTION = re.compile(r'<option value="([^"]+)"')  # a choice of a filter, "any" left out

# In a process of its own per database: prepare it, count the queries of each page.
COUNTER = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from benchmarks import generate, pages
generate.configure(os.environ["DATABASE_URL"])
setup = pages.population_prepare()
pages.reps_ensure(count=int(sys.argv[1]), password=None)
print(json.dumps({"setup": setup, "population": pages.population_size(),
                  "counts": pages.query_counts(reps=int(sys.argv[1]))}))
"""


# --- the population: scores, queue items, play matches, reps -------------------------------


def population_size() -> dict:
    from accounts.models import Account, Event
    from scoring.models import AccountScore, QueueItem

    return {
        "accounts": Account.objects.count(),
        "events": Event.objects.count(),
        "scores": AccountScore.objects.count(),
        "active_items": QueueItem.objects.filter(state__in=QueueItem.ACTIVE_STATES).count(),
    }


def population_prepare() -> dict:
    """Rollups, scores with their queue items, and play matches for a population written
    by generate.py (which writes none of them); what was built and how long it took."""
    from django.core.management import call_command
    from django.db import connection

    from playbooks.services import play_matches_refresh
    from scoring.models import AccountScore
    from scoring.services.run import scoring_run

    call_command("migrate", interactive=False, verbosity=0)
    if not population_size()["accounts"]:
        sys.exit("the database holds no population: run benchmarks/generate.py first")
    setup = scoring_bench.rollups_prepare(rebuild=False)
    full = not AccountScore.objects.exists()
    if full:
        say("no scores yet: a full scoring run (scores, routes, queue items)…")
    started = time.perf_counter()
    result = scoring_run(full=full)
    if full:
        setup["scoring_seconds"] = round(time.perf_counter() - started, 1)
        say(f"  {result.summary} in {setup['scoring_seconds']} s")
    started = time.perf_counter()
    matched = play_matches_refresh()
    if matched.full:
        setup["play_matches_seconds"] = round(time.perf_counter() - started, 1)
        say(f"  play matches: {matched.summary} in {setup['play_matches_seconds']} s")
    # What autovacuum does within minutes of such writes in production: the pages are
    # measured on tables in their steady state, not full of the dead rows just replaced.
    with connection.cursor() as cursor:
        for table in PAGE_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return setup


def rep_names(count: int) -> list[tuple[str, str]]:
    """(username, rep type) of ``count`` reps, AEs and SDRs in proportion to their pools'
    active items (each pool with items gets at least one rep): ``bench-ae-1``…"""
    from pls_portal.models import RepType
    from scoring.models import QueueItem, Route

    active = QueueItem.objects.filter(state__in=QueueItem.ACTIVE_STATES)
    sdr = active.filter(route=Route.SDR).count()
    ae = active.count() - sdr
    sdrs = round(count * sdr / (ae + sdr)) if ae + sdr else count // 2
    if sdr and count > 1:
        sdrs = max(sdrs, 1)
    if ae or not sdr:
        sdrs = min(sdrs, count - 1)
    return [(f"{REP_PREFIX}ae-{n + 1}", RepType.AE) for n in range(count - sdrs)] + [
        (f"{REP_PREFIX}sdr-{n + 1}", RepType.SDR) for n in range(sdrs)
    ]


def reps_ensure(*, count: int, password: str | None) -> list:
    """The bench reps, created or reset (a new password when given), each holding up to
    ``CLAIMS_PER_REP`` claimed items of its pool. Idempotent."""
    from django.db import transaction

    from pls_portal.models import Role, User
    from scoring.models import QueueItem
    from scoring.services.queue import pool_q, queue_item_claim

    users = []
    with transaction.atomic():
        for username, rep_type in rep_names(count):
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": "Bench",
                    "last_name": username.removeprefix(REP_PREFIX).upper(),
                    "email": f"{username}@bench.pls-portal.test",
                    "role": Role.REP,
                    "rep_type": rep_type,
                    "is_active": True,
                },
            )
            if password is not None:
                user.set_password(password)
                user.save(update_fields=["password"])
            users.append(user)
    for user in users:
        held = QueueItem.objects.filter(claimed_by=user, state__in=QueueItem.ACTIVE_STATES).count()
        free = (
            QueueItem.objects.filter(pool_q(user), state=QueueItem.State.OPEN)
            .filter(claimed_by__isnull=True)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)[: max(0, CLAIMS_PER_REP - held)]
        )
        for item_id in list(free):
            queue_item_claim(item_id=item_id, rep=user)
    return users


# --- query counts (in-process) --------------------------------------------------------------


def queue_variants(html: str) -> list[tuple[str, dict]]:
    """The queue requests a rep makes (page 2 and each filter), from its first page: the
    route is the first listed item's, the search the start of the first listed account's
    name, the play the first offered."""
    variants: list[tuple[str, dict]] = [
        ("first page", {}),
        ("page 2", {"page": "2"}),
        ("claimed by me", {"claimed": "me"}),
        ("unclaimed", {"claimed": "unclaimed"}),
        ("overdue", {"overdue": "on"}),
        ("missing buyer", {"missing_buyer": "on"}),
    ]
    routes = re.search(r'<select name="route".*?</select>', html, re.S)
    offered = OPTION.findall(routes.group(0)) if routes else []
    listed = re.search(r'route-badge route-([a-z_]+)"', html)
    route = listed.group(1) if listed and listed.group(1) in offered else next(iter(offered), "")
    if route:
        variants.append(("route", {"route": route}))
    plays = re.search(r'<select name="play".*?</select>', html, re.S)
    play = OPTION.findall(plays.group(0)) if plays else []
    if play:
        variants.append(("play", {"play": play[0]}))
    name = re.search(r'data-testid="account-name">([^<]+)<', html)
    if name:
        variants.append(("search", {"q": name.group(1).strip()[:4]}))
    return variants


def query_counts(*, reps: int) -> dict[str, dict]:
    """Queries of each page for the first AE and the first SDR of the bench reps (each
    request made once unmeasured first), with the rows a queue page listed and the
    median time of the page in-process, one request at a time (no load)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from pls_portal.models import User

    counts: dict[str, dict] = {}
    first_of_each = {rep_type: username for username, rep_type in reversed(rep_names(reps))}
    for rep_type, username in sorted(first_of_each.items()):
        client = Client()
        client.force_login(User.objects.get(username=username))

        def count(label: str, url: str, params: dict, client=client, who=username) -> str:
            client.get(url, params)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, params)
            # Read now: the next request's request_started signal empties the query log.
            made = len(queries)
            if response.status_code != 200:
                sys.exit(f"{who}: GET {url} {params} answered {response.status_code}")
            html = response.content.decode()
            timings = []
            for _ in range(TIMED_REQUESTS):
                started = time.perf_counter()
                client.get(url, params)
                timings.append(time.perf_counter() - started)
            counts[label] = {
                "queries": made,
                "rows": html.count('class="queue-account-name"') if url == QUEUE_URL else None,
                "ms": round(1000 * statistics.median(timings), 1),
            }
            return html

        def cold(label: str, url: str, client=client, who=username) -> None:
            """The page with nothing cached: each timed request after emptying the cache."""
            cache.clear()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            made = len(queries)
            if response.status_code != 200:
                sys.exit(f"{who}: GET {url} answered {response.status_code}")
            timings = []
            for _ in range(TIMED_REQUESTS):
                cache.clear()
                started = time.perf_counter()
                client.get(url)
                timings.append(time.perf_counter() - started)
            counts[label] = {
                "queries": made,
                "rows": None,
                "ms": round(1000 * statistics.median(timings), 1),
            }

        who = rep_type.upper()
        first = count(f"{who} queue: first page", QUEUE_URL, {})
        second = ""
        for label, params in queue_variants(first)[1:]:
            html = count(f"{who} queue: {label}", QUEUE_URL, params)
            if label == "page 2":
                second = html
        for label, html in (("first", first), ("second", second)):
            links = DOSSIER_LINK.findall(html)
            if links:
                count(f"{who} dossier: an account of the {label} page", links[0], {})
                cold(f"{who} dossier, cache cold: an account of the {label} page", links[0])
        count(f"{who} trivial page", TRIVIAL_URL, {})
    return counts


def counts_compare(main: dict[str, dict], other: dict[str, dict]) -> dict:
    """Equal, unequal and incomparable pages: a page measured at one size only, or
    listing rows at one size and none at the other (an empty page says why it is empty,
    which is its own query), is not comparable."""
    equal, unequal, incomparable = [], [], []
    for label in sorted(set(main) | set(other)):
        a, b = main.get(label), other.get(label)
        if a is None or b is None or bool(a["rows"]) != bool(b["rows"]):
            incomparable.append(label)
        elif a["queries"] == b["queries"]:
            equal.append(label)
        else:
            unequal.append(label)
    return {"equal": equal, "unequal": unequal, "incomparable": incomparable}


def counts_in_process(database_url: str, *, static_root: str, reps: int) -> dict:
    """``query_counts`` on one database, in a process of its own with production settings
    (CaptureQueriesContext records whatever DEBUG says)."""
    env = os.environ | server_environment(database_url, static_root) | {"PYTHONPATH": str(ROOT)}
    process = subprocess.run(
        [sys.executable, "-c", COUNTER, str(reps)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        sys.exit(f"counting queries on {database_url} failed:\n{process.stderr[-4000:]}")
    for line in process.stdout.strip().splitlines()[:-1]:
        say(f"  {line}")
    return json.loads(process.stdout.strip().splitlines()[-1])


# --- CPU accounting ------------------------------------------------------------------------


def _cpu_of(pids) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return used


def cpu_snapshot(server_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds so far of gunicorn (master and workers) and of the PostgreSQL backends
    connected to this database (other databases' backends, other benchmarks' or tests',
    are left out), by process."""
    from django.db import connection

    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    workers = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
    return {"gunicorn": _cpu_of([server_pid, *workers]), "postgres": _cpu_of(backends)}


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """Seconds used between two snapshots (a process new since the first counts whole)."""
    return {
        name: sum(used - before[name].get(pid, 0.0) for pid, used in after[name].items())
        for name in after
    }


# --- the load ------------------------------------------------------------------------------


@dataclass
class Latencies:
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.by_kind.setdefault(kind, []).append(seconds)
        self.requests += 1

    def merge(self, other: Latencies) -> None:
        for kind, values in other.by_kind.items():
            self.by_kind.setdefault(kind, []).extend(values)
        self.failures += other.failures
        self.requests += other.requests


class Rep:
    """One logged-in rep: a keep-alive session that works its queue."""

    def __init__(self, base: str, username: str, password: str) -> None:
        import requests

        self.base, self.username = base, username
        self.session = requests.Session()
        login = self.session.get(f"{base}/login/", timeout=60)
        token = self.session.cookies.get("csrftoken")
        response = self.session.post(
            f"{base}/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/login/"},
            allow_redirects=False,
            timeout=60,
        )
        if login.status_code != 200 or response.status_code != 302:
            sys.exit(f"{username} could not log in: HTTP {response.status_code}")
        if "sessionid" not in self.session.cookies:
            sys.exit(f"{username} got no session cookie")
        self.variants: list[tuple[str, dict]] = []
        self.links: list[str] = []
        self.step = 0

    def get(self, kind: str, path: str, params: dict, out: Latencies) -> str:
        started = time.perf_counter()
        try:
            response = self.session.get(
                self.base + path, params=params, allow_redirects=False, timeout=120
            )
            body = response.text
        except OSError as exc:
            out.failures.append(f"{self.username} {path}: {type(exc).__name__}: {exc}")
            return ""
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            out.failures.append(f"{self.username} {path} {params}: HTTP {response.status_code}")
            return ""
        out.add(kind, elapsed)
        return body

    def prepare(self) -> None:
        """The first queue page (unmeasured): the filters a rep has, dossiers to open."""
        html = self.session.get(self.base + QUEUE_URL, timeout=120).text
        self.variants = queue_variants(html)
        self.links = DOSSIER_LINK.findall(html)

    def work(self, out: Latencies) -> None:
        """One request of the rep's day: a queue page, then a dossier listed on it."""
        if self.step % 2 == 0 or not self.links:
            _, params = self.variants[(self.step // 2) % len(self.variants)]
            html = self.get("queue", QUEUE_URL, params, out)
            self.links = DOSSIER_LINK.findall(html) or self.links
        else:
            link = self.links[(self.step // 2) % len(self.links)]
            self.get("dossier", link, {}, out)
        self.step += 1


def run_phase(reps: list[Rep], *, trivial: bool, seconds: float) -> tuple[Latencies, float]:
    """Every rep at once, no think time, for ``seconds``; (latencies, wall seconds)."""
    results = [Latencies() for _ in reps]
    barrier = threading.Barrier(len(reps) + 1)
    deadline = [0.0]

    def client(rep: Rep, out: Latencies) -> None:
        barrier.wait()
        while time.monotonic() < deadline[0]:
            if trivial:
                rep.get("trivial", TRIVIAL_URL, {}, out)
            else:
                rep.work(out)

    threads = [
        threading.Thread(target=client, args=(rep, out), daemon=True)
        for rep, out in zip(reps, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    merged = Latencies()
    for out in results:
        merged.merge(out)
    return merged, wall


def summary(values: list[float]) -> dict:
    return {
        "requests": len(values),
        "p50_ms": round(1000 * statistics.median(values), 1) if values else 0.0,
        "p95_ms": round(1000 * percentile(values, 0.95), 1),
        "max_ms": round(1000 * max(values, default=0), 1),
    }


# --- the report ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _cache_sentence(use: dict | None, warm: dict | None) -> str:
    """How often the page phases found the dossier's parts in the cache."""
    if not use:
        return "Cache: not measured."
    reads = use["hits"] + use["misses"]
    share = f"{100 * use['hits'] / reads:.0f} %" if reads else "—"
    warmed = (
        f"emptied, then warmed as the beat's `dossiers-warm` task keeps it ({warm['summary']} "
        f"in {warm['seconds']} s)"
        if warm
        else "empty at the start"
    )
    return (
        f"Cache (the dossier's account sections, people and play, shared in Redis as "
        f"`docs/deploy.md` sets it up, {warmed}): {use['hits']:,} hits and "
        f"{use['misses']:,} misses in the page phases ({share} hits). The cold rows below "
        "are a dossier's cost when its parts are not cached: an account that left the "
        "queue, or one that changed since the last warm-up."
    )


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pages.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    load, params, machine = result["load"], result["parameters"], result["machine"]
    counts, pop = result["query_counts"], result["population"]
    trivial = load["trivial"]

    def row(kind: str, label: str) -> str:
        figures = load[kind]
        ratio = load["ratios"][kind]
        return (
            f"| {label} | {figures['p50_ms']} / {figures['p95_ms']} / {figures['max_ms']} ms "
            f"({figures['requests']:,} requests) | ≤ {TARGET_RATIO:g} × trivial p95: "
            f"{ratio:.2f} **{_verdict(ratio <= TARGET_RATIO)}** |"
        )

    lines = [
        "## Pages",
        "",
        f"Run {result['finished_at']} by `benchmarks/pages.py` (figures in "
        f"`benchmarks/results/pages.json`): {params['reps']} reps logged in "
        f"({' and '.join(params['rep_types'])}), no think time, against gunicorn "
        f"({params['workers']} sync workers, production settings) on "
        f"{pop['accounts']:,} accounts / {pop['events']:,} events "
        f"({pop['active_items']:,} active queue items); {params['rounds']} rounds of "
        f"{params['seconds']:g} s per phase.",
        "",
        "| page | p50 / p95 / max | target |",
        "|---|---|---|",
        f"| trivial page (`{TRIVIAL_URL}`, the base layout, same session and user) | "
        f"{trivial['p50_ms']} / {trivial['p95_ms']} / {trivial['max_ms']} ms "
        f"({trivial['requests']:,} requests) | baseline |",
        row("queue", "PQL queue (first page, page 2, each filter)"),
        row("dossier", "dossier (accounts listed on the queue)"),
        "",
        f"Throughput: trivial page {load['trivial_rps']:,} requests/s, queue and dossier "
        f"{load['pages_rps']:,} requests/s. CPU per request (gunicorn and this database's "
        f"PostgreSQL backends, whatever else ran on the machine): trivial page "
        f"{load['cpu_ms_per_request']['trivial']} ms, queue and dossier "
        f"{load['cpu_ms_per_request']['pages']} ms ("
        + ", ".join(f"{name} {used} s" for name, used in load["cpu_seconds"]["pages"].items())
        + f" in {load['pages_seconds']:g} s of page phases on {machine['cpu_count']} CPUs).",
        "",
        _cache_sentence(load.get("cache"), load.get("warm")),
        "",
    ]
    databases = list(counts)
    labels = list(dict.fromkeys(label for db in databases for label in counts[db]["counts"]))
    sizes = [f"{counts[db]['population']['accounts']:,} accounts" for db in databases]

    def cell(db: str, label: str) -> str:
        figures = counts[db]["counts"].get(label)
        if figures is None:
            return "—"
        rows = figures["rows"]
        listed = f"{rows} row{'' if rows == 1 else 's'}, " if rows is not None else ""
        return f"{figures['queries']} ({listed}{figures['ms']} ms)"

    lines += [
        "Queries per request, in-process (Django's test client, `CaptureQueriesContext`, "
        "each request made once before), with the rows a queue page listed and the page's "
        f"own time: the median of {TIMED_REQUESTS} requests one at a time, no load.",
        "",
        f"| page | {' | '.join(sizes)} |",
        "|---|" + "---|" * len(databases),
        *(f"| {label} | {' | '.join(cell(db, label) for db in databases)} |" for label in labels),
        "",
    ]
    compared = result["counts_compared"]
    if compared is None:
        lines.append(
            "Query counts at a second population size: not compared (run with "
            "`--compare-database-url`)."
        )
    else:
        ok = not compared["unequal"]
        lines.append(
            f"Query counts equal at both sizes: {len(compared['equal'])} pages equal, "
            f"{len(compared['unequal'])} unequal"
            + (f" ({', '.join(compared['unequal'])})" if compared["unequal"] else "")
            + f": **{_verdict(ok)}**."
            + (
                f" Not comparable (measured at one size only, or empty at one size): "
                f"{', '.join(compared['incomparable'])}."
                if compared["incomparable"]
                else ""
            )
        )
    settings = machine["postgresql_settings"]
    lines += [
        "",
        f"Machine: {machine['cpu_count']} CPUs, {machine['memory']} RAM; "
        f"{machine['postgresql'].split(',')[0]} on the same machine (shared_buffers "
        f"{settings.get('shared_buffers', '?')}, work_mem {settings.get('work_mem', '?')}); "
        f"the clients ran there too. One-minute load average "
        f"{result['load_average']['start']} at the start, {result['load_average']['end']} "
        "at the end.",
    ]
    section = "\n".join(lines) + "\n"
    report_section_write("## Pages", section)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (trivial, pages)")
    parser.add_argument("--reps", type=int, default=10, help="concurrent logged-in reps")
    parser.add_argument(
        "--workers", type=int, default=2 * cpus + 1, help="gunicorn sync workers (2 × CPU + 1)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--compare-database-url",
        default="",
        help="a population of another size whose query counts must be the same",
    )
    parser.add_argument(
        "--cache-url",
        default=DEFAULT_CACHE,
        help=f"the cache the web processes share, emptied first (default {DEFAULT_CACHE})",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("set DATABASE_URL or pass --database-url postgres://user@host:5432/pls_bench")
    if min(args.rounds, args.reps, args.workers) < 1 or args.seconds <= 0 or args.reps < 2:
        sys.exit("--rounds, --workers ≥ 1, --reps ≥ 2 and --seconds > 0")
    if args.compare_database_url:
        generate._check_url(args.compare_database_url)

    static_root = tempfile.mkdtemp(prefix="pls-bench-static-")
    env = server_environment(args.database_url, static_root) | {"CACHE_URL": args.cache_url}
    os.environ.update(env)
    cache_server = redis.Redis.from_url(args.cache_url)
    cache_server.flushdb()
    generate.configure(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    try:
        setup = population_prepare()
        password = secrets.token_urlsafe(16)
        reps_ensure(count=args.reps, password=password)
        names = rep_names(args.reps)
        kinds = [kind for _, kind in names]
        rep_types = [f"{kinds.count(kind)} {kind.upper()}" for kind in sorted(set(kinds))]
        population = population_size()
        say(
            f"population: {population['accounts']:,} accounts, {population['events']:,} "
            f"events, {population['active_items']:,} active queue items"
        )
        say("collecting static files (manifest storage, as in production)…")
        call_command("collectstatic", interactive=False, verbosity=0)
        machine = machine_facts()
        connection.close()

        counts = {}
        for name, url in (("main", args.database_url), ("compare", args.compare_database_url)):
            if url:
                say(f"query counts ({name} database)…")
                counts[name] = counts_in_process(url, static_root=static_root, reps=args.reps)
        compared = None
        if "compare" in counts:
            compared = counts_compare(counts["main"]["counts"], counts["compare"]["counts"])
        for label, figures in counts["main"]["counts"].items():
            other = counts.get("compare", {}).get("counts", {}).get(label)
            say(
                f"  {label}: {figures['queries']} queries, {figures['ms']} ms"
                + (f" / {other['queries']} queries, {other['ms']} ms" if other else "")
            )

        # The counts emptied the cache; the beat's dossiers-warm task keeps the queue's
        # dossiers built in production (every 2 minutes): do what it does, once.
        say("warming the queue's dossiers (what the beat's dossiers-warm task does)…")
        from dossiers.dossier.warm import dossiers_warm

        cache_server.flushdb()
        started = time.perf_counter()
        warmed = dossiers_warm()
        warm_up = {"summary": warmed.summary, "seconds": round(time.perf_counter() - started, 1)}
        say(f"  {warm_up['summary']} in {warm_up['seconds']} s")
        connection.close()

        log = RESULTS / "pages-gunicorn.log"
        RESULTS.mkdir(parents=True, exist_ok=True)
        server = Server(env=env, workers=args.workers, threads=1, log=log)
        load_start = os.getloadavg()[0]
        try:
            server.wait_ready()
            base = f"http://127.0.0.1:{server.port}"
            say(f"logging in {args.reps} reps to gunicorn ({args.workers} workers)…")
            reps = [Rep(base, username, password) for username, _ in names]
            for rep in reps:
                rep.prepare()
            warm = Latencies()
            for rep in reps:  # every page once per rep, unmeasured
                for _ in range(2 * len(rep.variants)):
                    rep.work(warm)
            totals = {"trivial": Latencies(), "pages": Latencies()}
            walls = {"trivial": 0.0, "pages": 0.0}
            cpu: dict[str, dict[str, float]] = {"trivial": {}, "pages": {}}
            cache_use = {"hits": 0, "misses": 0}
            for number in range(1, args.rounds + 1):
                for phase in ("trivial", "pages"):
                    before = cpu_snapshot(server.process.pid)
                    stats = cache_server.info("stats")
                    out, wall = run_phase(reps, trivial=phase == "trivial", seconds=args.seconds)
                    used = cpu_used(before, cpu_snapshot(server.process.pid))
                    if phase == "pages":
                        after = cache_server.info("stats")
                        for name in cache_use:
                            cache_use[name] += after[f"keyspace_{name}"] - stats[f"keyspace_{name}"]
                    for name, seconds in used.items():
                        cpu[phase][name] = cpu[phase].get(name, 0.0) + seconds
                    totals[phase].merge(out)
                    walls[phase] += wall
                    kinds = ", ".join(
                        f"{kind} p95 {summary(values)['p95_ms']} ms"
                        for kind, values in out.by_kind.items()
                    )
                    say(f"  round {number}, {phase}: {out.requests:,} requests, {kinds}")
        finally:
            server.stop()
        failures = warm.failures + totals["trivial"].failures + totals["pages"].failures

        trivial = summary(totals["trivial"].by_kind.get("trivial", []))
        load = {
            "trivial": trivial,
            "queue": summary(totals["pages"].by_kind.get("queue", [])),
            "dossier": summary(totals["pages"].by_kind.get("dossier", [])),
            "trivial_rps": round(totals["trivial"].requests / walls["trivial"], 1),
            "pages_rps": round(totals["pages"].requests / walls["pages"], 1),
            "pages_seconds": round(walls["pages"], 1),
            # Reads of the shared cache during the page phases (Redis's own counters).
            "cache": cache_use,
            "warm": warm_up,
            "cpu_seconds": {
                phase: {name: round(used, 1) for name, used in by_name.items()}
                for phase, by_name in cpu.items()
            },
            "cpu_ms_per_request": {
                phase: round(1000 * sum(cpu[phase].values()) / max(1, totals[phase].requests), 1)
                for phase in cpu
            },
        }
        load["ratios"] = {
            kind: round(load[kind]["p95_ms"] / trivial["p95_ms"], 2) if trivial["p95_ms"] else 0.0
            for kind in ("queue", "dossier")
        }
        result = {
            "benchmark": "pages",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "parameters": {
                "reps": args.reps,
                "rep_types": rep_types,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "workers": args.workers,
            },
            "population": population,
            "setup": setup,
            "load": load,
            "query_counts": counts,
            "counts_compared": compared,
            "failures": failures[:50],
            "machine": machine,
            "load_average": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
        }
        write_report(result)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)
    say(
        f"trivial p95 {trivial['p95_ms']} ms; queue p95 {load['queue']['p95_ms']} ms "
        f"({load['ratios']['queue']:.2f}×), dossier p95 {load['dossier']['p95_ms']} ms "
        f"({load['ratios']['dossier']:.2f}×); target ≤ {TARGET_RATIO:g}×"
    )
    say(f"wrote {REPORT.relative_to(ROOT)} and {(RESULTS / 'pages.json').relative_to(ROOT)}")
    missed = [kind for kind, ratio in load["ratios"].items() if ratio > TARGET_RATIO]
    if failures:
        say(f"{len(failures)} requests failed (see {log.relative_to(ROOT)}):")
        for failure in failures[:20]:
            say(f"  {failure}")
    unequal = compared["unequal"] if compared else []
    if unequal:
        say(f"query counts differ between the two population sizes: {', '.join(unequal)}")
    if missed or failures or unequal:
        sys.exit(1)


if __name__ == "__main__":
    main()
