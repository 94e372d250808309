"""Backtest a rule set (a draft, usually) against the active one on history, as a Job.

Both sets score and route every account as of the end of each of the last N weeks (UTC
Sundays, up to the last complete one) with ``scores_as_of``, the same code the live run
uses, written nowhere. One more Sunday before the first week is read as the baseline
that week one's new PQLs are counted against.

What comes out (the Job's result, plain JSON for the page):
- accounts per route at the latest date, both sets side by side;
- PQLs per week (accounts newly routed ``ae`` or ``sdr`` since the previous date) against
  AE capacity (the set's ``ae_weekly_capacity`` × active AEs);
- who enters and who leaves the AE queue at the latest date (up to 100 each, by score);
- on accounts with known outcomes (a won or lost Deal), the PQL-to-close rate each set
  would have had: of the accounts it routed ``ae``/``sdr`` on some date, the share that won
  a Deal (either motion) within 90 days after the first such date — read against the
  seeds' 15–30 % band (DESIGN.md "Feedback and metrics").

Memory stays bounded: accounts go chunk by chunk, every date of both sets is read for a
chunk, folded into the totals, and the chunk's per-account state (previous PQL, first PQL
date, latest route) is dropped before the next one.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Deal
from pls_portal.models import Job, RepType, Role, User
from pls_portal.permissions import is_admin, is_pm
from pls_portal.services import JobProgress, ProgressBar, job_create, job_running
from scoring.engine import RuleSpec, Settings
from scoring.models import PQL_ROUTES, Route, RuleSet
from scoring.services.run import (
    CHUNK,
    NoActiveRuleSet,
    rule_set_active,
    rule_specs,
    scores_as_of,
)
from scoring.signals import day_end, signals_context

logger = logging.getLogger(__name__)

BACKTEST_KIND = "backtest"
WEEKS_DEFAULT = 12
WEEKS_MAX = 26
CLOSE_WINDOW = timedelta(days=90)
QUEUE_LIST_MAX = 100
# The seeds' reading of PQL-to-close (DESIGN.md "Feedback and metrics").
BAND_LOW, BAND_HIGH = 15, 30
TOO_LOOSE, TOO_TIGHT = 10, 40
SETS = ("draft", "active")


class BacktestError(Exception):
    """A backtest that cannot start or run, in words for the page."""


# --- Starting ----------------------------------------------------------------------------


def backtest_end(today: date) -> date:
    """The last complete UTC Sunday before ``today`` (today is not over yet)."""
    return today - timedelta(days=(today.weekday() + 1) % 7 or 7)


def backtest_dates(*, end: date, weeks: int) -> list[date]:
    """The as-of dates, oldest first: the baseline, then the end of each week."""
    return [end - timedelta(weeks=weeks - n) for n in range(weeks + 1)]


def _label(rule_set: RuleSet) -> str:
    return f"v{rule_set.version} {rule_set.name}"


def backtest_start(
    *, rule_set_id: int, user: User | None, weeks: int = WEEKS_DEFAULT, end: date | None = None
) -> Job:
    """Queue a backtest of the rule set against the active one; the worker runs it after
    the commit. ``RuleSet.DoesNotExist`` for an unknown id."""
    from scoring.tasks import backtest_job_run

    if not 1 <= weeks <= WEEKS_MAX:
        raise BacktestError(f"Weeks of history must be 1 to {WEEKS_MAX}, not {weeks}.")
    rule_set = RuleSet.objects.get(pk=rule_set_id)
    try:
        active = rule_set_active()
    except NoActiveRuleSet:
        raise BacktestError("There is no active rule set to compare against.") from None
    if active.pk == rule_set.pk:
        raise BacktestError(
            f"{_label(rule_set)} is the active rule set: backtest a draft against it."
        )
    end = end or backtest_end(timezone.now().date())
    with transaction.atomic():
        job = job_create(
            kind=BACKTEST_KIND,
            created_by=user,
            params={
                "rule_set_id": rule_set.pk,
                "rule_set": _label(rule_set),
                "active_rule_set_id": active.pk,
                "active_rule_set": _label(active),
                "weeks": weeks,
                "end": end.isoformat(),
            },
            message=f"Backtest of v{rule_set.version} against v{active.version}: "
            "waiting for a worker…",
        )
        transaction.on_commit(lambda: backtest_job_run.delay(job.pk))
    logger.info(
        "backtest queued job_id=%s rule_set=%s active=%s weeks=%s",
        job.pk,
        rule_set.pk,
        active.pk,
        weeks,
    )
    return job


def backtest_job_get(*, user: User, job_id: int) -> Job:
    """A backtest Job for the backtest page: PMs and admins see every backtest (rule
    sets are shared work); any other job id is ``Job.DoesNotExist`` (a 404)."""
    if not (is_pm(user) or is_admin(user)):
        raise Job.DoesNotExist(job_id)
    return Job.objects.select_related("created_by").get(pk=job_id, kind=BACKTEST_KIND)


# --- Running -----------------------------------------------------------------------------


@dataclass
class _Set:
    key: str
    rule_set: RuleSet
    rules: list[RuleSpec]
    settings: Settings


@dataclass
class _Outcomes:
    """One chunk's closed deals: who has a known outcome and when they won."""

    known: set[int] = field(default_factory=set)
    wins: dict[int, list[datetime]] = field(default_factory=dict)

    @classmethod
    def of(cls, ids: list[int]) -> _Outcomes:
        out = cls()
        deals = (
            Deal.objects.filter(
                account_id__gte=ids[0],
                account_id__lte=ids[-1],
                stage__in=[Deal.Stage.WON, Deal.Stage.LOST],
            )
            .exclude(change=Deal.Change.REFUND)
            .values_list("account_id", "stage", "closed_at")
        )
        for account_id, stage, closed_at in deals:
            out.known.add(account_id)
            if stage != Deal.Stage.WON:
                continue
            out.wins.setdefault(account_id, []).append(closed_at)
        return out

    def won_within(self, account_id: int, start: datetime) -> bool:
        return any(start <= won < start + CLOSE_WINDOW for won in self.wins.get(account_id, ()))


@dataclass
class _Tally:
    """The totals over all chunks: counters and two bounded lists, never per account."""

    weeks: int
    routes: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SETS})
    new_pqls: dict[str, list[int]] = field(default_factory=dict)
    new_ae: dict[str, list[int]] = field(default_factory=dict)
    entering: list[tuple] = field(default_factory=list)
    leaving: list[tuple] = field(default_factory=list)
    entering_total: int = 0
    leaving_total: int = 0
    known: int = 0
    pqls: Counter = field(default_factory=Counter)
    won: Counter = field(default_factory=Counter)
    accounts: int = 0

    def __post_init__(self) -> None:
        self.new_pqls = {s: [0] * self.weeks for s in SETS}
        self.new_ae = {s: [0] * self.weeks for s in SETS}

    @staticmethod
    def _keep(heap: list[tuple], score: int, account_id: int, row: dict) -> None:
        """Keep the QUEUE_LIST_MAX best by score (lower id first on a tie)."""
        entry = (score, -account_id, row)
        if len(heap) < QUEUE_LIST_MAX:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)

    def queue_change(self, account_id: int, latest: dict) -> None:
        draft, active = latest.get("draft"), latest.get("active")
        if draft is None or active is None:
            return
        row = {
            "id": account_id,
            "name": latest["name"],
            "domain": latest["domain"],
            "draft_score": draft[0],
            "draft_route": draft[1],
            "draft_route_label": Route(draft[1]).label,
            "active_score": active[0],
            "active_route": active[1],
            "active_route_label": Route(active[1]).label,
        }
        if draft[1] == Route.AE and active[1] != Route.AE:
            self.entering_total += 1
            self._keep(self.entering, draft[0], account_id, row)
        elif active[1] == Route.AE and draft[1] != Route.AE:
            self.leaving_total += 1
            self._keep(self.leaving, active[0], account_id, row)

    @staticmethod
    def ranked(heap: list[tuple]) -> list[dict]:
        return [row for _, _, row in sorted(heap, key=lambda e: (-e[0], -e[1]))]


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def close_rate_reading(rate: float | None) -> tuple[str, str]:
    """(tone, words): the seeds' reading of a PQL-to-close rate."""
    if rate is None:
        return "none", "no PQLs among the accounts with known outcomes"
    if rate < TOO_LOOSE:
        return "bad", f"below {TOO_LOOSE} %: rules too loose"
    if rate > TOO_TIGHT:
        return "bad", f"above {TOO_TIGHT} %: rules too tight"
    if rate < BAND_LOW:
        return "warn", f"below the healthy {BAND_LOW}–{BAND_HIGH} % band"
    if rate > BAND_HIGH:
        return "warn", f"above the healthy {BAND_LOW}–{BAND_HIGH} % band"
    return "ok", f"in the healthy {BAND_LOW}–{BAND_HIGH} % band"


def backtest_run(*, job_id: int, bar: ProgressBar | None = None, chunk_size: int = CHUNK) -> dict:
    """Run a queued backtest Job; its result (also returned) is what the page shows."""
    job = Job.objects.get(pk=job_id, kind=BACKTEST_KIND)
    params = job.params
    weeks = int(params["weeks"])
    dates = backtest_dates(end=date.fromisoformat(params["end"]), weeks=weeks)
    with job_running(job_id=job_id, bar=bar) as progress:
        sets = [
            _set_of(key, params[f"{prefix}rule_set_id"])
            for key, prefix in (("draft", ""), ("active", "active_"))
        ]
        ids = list(Account.objects.order_by("id").values_list("id", flat=True))
        chunks = list(_chunks(ids, chunk_size))
        progress.set_total(len(dates) * len(chunks) * len(sets))
        context = signals_context()
        tally = _Tally(weeks=weeks)
        for number, chunk in enumerate(chunks, start=1):
            _chunk_run(
                chunk=chunk,
                sets=sets,
                dates=dates,
                context=context,
                tally=tally,
                progress=progress,
                part=f"accounts part {number} of {len(chunks)}",
            )
        progress.result = _result(tally=tally, sets=sets, dates=dates)
        progress.message = _summary(progress.result)
    logger.info("backtest done job_id=%s %s", job_id, progress.message)
    return progress.result


def _set_of(key: str, rule_set_id: int) -> _Set:
    try:
        rule_set = RuleSet.objects.get(pk=rule_set_id)
    except RuleSet.DoesNotExist:
        raise BacktestError(
            f"Rule set #{rule_set_id} was deleted before the backtest ran."
        ) from None
    return _Set(
        key=key, rule_set=rule_set, rules=rule_specs(rule_set), settings=Settings.of(rule_set)
    )


def _chunk_run(
    *,
    chunk: list[int],
    sets: list[_Set],
    dates: list[date],
    context,
    tally: _Tally,
    progress: JobProgress,
    part: str,
) -> None:
    outcomes = _Outcomes.of(chunk)
    last = len(dates) - 1
    pql_before: dict[str, set[int]] = {s.key: set() for s in sets}
    first_pql: dict[str, dict[int, int]] = {s.key: {} for s in sets}
    latest: dict[int, dict] = {}
    for index, as_of in enumerate(dates):
        for s in sets:
            pql_now: set[int] = set()
            for fact, _values, score, decision in scores_as_of(
                rule_set_rules=s.rules,
                settings=s.settings,
                as_of=as_of,
                account_ids=chunk,
                every_account=True,
                context=context,
            ):
                route = decision.route
                if route in PQL_ROUTES:
                    pql_now.add(fact.id)
                    first_pql[s.key].setdefault(fact.id, index)
                    if index and fact.id not in pql_before[s.key]:
                        tally.new_pqls[s.key][index - 1] += 1
                        if route == Route.AE:
                            tally.new_ae[s.key][index - 1] += 1
                if index == last:
                    tally.routes[s.key][route] += 1
                    row = latest.setdefault(fact.id, {"name": fact.name, "domain": fact.domain})
                    row[s.key] = (score.score, str(route))
            pql_before[s.key] = pql_now
            progress.advance(
                1, message=f"Week ending {as_of:%Y-%m-%d}, v{s.rule_set.version}: {part}"
            )
    tally.accounts += len(latest)
    for account_id, row in latest.items():
        tally.queue_change(account_id, row)
    tally.known += len(outcomes.known)
    for s in sets:
        for account_id, index in first_pql[s.key].items():
            if account_id not in outcomes.known:
                continue
            tally.pqls[s.key] += 1
            if outcomes.won_within(account_id, day_end(dates[index])):
                tally.won[s.key] += 1


def _result(*, tally: _Tally, sets: list[_Set], dates: list[date]) -> dict:
    ae_users = User.objects.filter(role=Role.REP, rep_type=RepType.AE, is_active=True).count()
    by_key = {s.key: s for s in sets}
    capacity = {
        key: {
            "per_ae": s.rule_set.ae_weekly_capacity,
            "total": s.rule_set.ae_weekly_capacity * ae_users,
        }
        for key, s in by_key.items()
    }
    weekly = [
        {
            "week_ending": as_of.isoformat(),
            **{
                f"{key}{suffix}": values[key][n]
                for key in SETS
                for suffix, values in (("", tally.new_pqls), ("_ae", tally.new_ae))
            },
            **{f"{key}_over": tally.new_pqls[key][n] > capacity[key]["total"] for key in SETS},
        }
        for n, as_of in enumerate(dates[1:])
    ]
    close_rate = {}
    for key in SETS:
        pqls, won = tally.pqls[key], tally.won[key]
        rate = round(won * 100 / pqls, 1) if pqls else None
        tone, reading = close_rate_reading(rate)
        close_rate[key] = {
            "pqls": pqls,
            "won": won,
            "rate": rate,
            "tone": tone,
            "reading": reading,
        }
    routes = [
        {
            "route": route.value,
            "label": route.label,
            "draft": tally.routes["draft"][route.value],
            "active": tally.routes["active"][route.value],
        }
        for route in Route
        if tally.routes["draft"][route.value] or tally.routes["active"][route.value]
    ]
    return {
        "sets": {
            key: {
                "id": s.rule_set.pk,
                "version": s.rule_set.version,
                "name": s.rule_set.name,
            }
            for key, s in by_key.items()
        },
        "baseline": dates[0].isoformat(),
        "latest": dates[-1].isoformat(),
        "weeks": len(dates) - 1,
        "accounts": tally.accounts,
        "routes": routes,
        "ae_users": ae_users,
        "capacity": capacity,
        "weekly": weekly,
        "pql_totals": {key: sum(tally.new_pqls[key]) for key in SETS},
        "ae_queue": {
            "entering": _Tally.ranked(tally.entering),
            "entering_total": tally.entering_total,
            "leaving": _Tally.ranked(tally.leaving),
            "leaving_total": tally.leaving_total,
            "shown_max": QUEUE_LIST_MAX,
        },
        "close_rate": {
            "window_days": CLOSE_WINDOW.days,
            "known_outcomes": tally.known,
            "band": [BAND_LOW, BAND_HIGH],
            **close_rate,
        },
    }


def _summary(result: dict) -> str:
    draft, active = result["sets"]["draft"], result["sets"]["active"]
    queue = result["ae_queue"]
    rate = result["close_rate"]

    def shown(key: str) -> str:
        value = rate[key]["rate"]
        return "n/a" if value is None else f"{value} %"

    return (
        f"v{draft['version']} against v{active['version']} over {result['weeks']} weeks: "
        f"{result['pql_totals']['draft']} new PQLs against {result['pql_totals']['active']}; "
        f"{queue['entering_total']} accounts enter the AE queue, {queue['leaving_total']} "
        f"leave; PQL-to-close {shown('draft')} against {shown('active')}"
    )
