"""The scoring run: score accounts with the active rule set, route them and keep their
queue items in step (DESIGN.md "Decisions": PQA, PQL and routing; "Settled after
review": queue items by state × route).

Set-based: accounts go in chunks; each chunk is a fixed number of aggregate queries
(``signals_compute``), pure Python over the results (``engine``), then bulk writes of
only the rows that changed, in one transaction. Running twice changes nothing; a killed
run leaves whole chunks behind and the rerun finishes the rest.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from itertools import islice

import orjson
from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Case, JSONField, Max, TextField, When
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.buyers import likely_buyers_many
from accounts.models import Account
from accounts.services.rollups import rollup_run_now
from pls_portal.models import Job, User
from pls_portal.services import (
    JobProgress,
    ProgressBar,
    job_create,
    job_running,
    task_lock,
)
from scoring.engine import (
    RouteDecision,
    RuleSpec,
    ScoreResult,
    Settings,
    route_decide,
    score_compute,
)
from scoring.models import (
    QUEUE_ROUTES,
    AccountScore,
    QueueItem,
    Route,
    RouteChange,
    RuleSet,
    ScoreHistory,
    ScoringState,
)
from scoring.signals import AccountFacts, Scope, day_end, signals_compute, signals_context

logger = logging.getLogger(__name__)

SCORING_LOCK = "scoring-run"
SCORING_LOCK_TTL = timedelta(minutes=10)
FULL_LOCK_TTL = timedelta(hours=2)
# Accounts per chunk: each costs a fixed number of queries, and a chunk's rows are all
# that is held (about 10 MB per 1,000 accounts), whatever the number of accounts.
CHUNK = 5000
# The rollup stamps usage_changed_at just before it commits; re-reading this much before
# the newest stamp seen never misses a late commit (re-scoring is idempotent).
CURSOR_OVERLAP = timedelta(seconds=10)
TOP_REASONS = 3
# Items of these states are in a rep's hands; a rescore never closes them.
REP_STATES = (QueueItem.State.TOUCHED,)


class NoActiveRuleSet(Exception):
    """Scoring needs exactly one active rule set."""


@dataclass
class ScoringResult:
    accounts: int = 0
    scores_written: int = 0
    route_changes: int = 0
    items_created: int = 0
    items_updated: int = 0
    items_closed: int = 0
    skipped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.skipped:
            return "skipped: another scoring run holds the lock"
        return (
            f"{self.accounts} accounts scored: {self.scores_written} scores changed, "
            f"{self.route_changes} route changes, {self.items_created} queue items opened, "
            f"{self.items_updated} updated, {self.items_closed} closed"
        )


def rule_set_active() -> RuleSet:
    rule_set = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    if rule_set is None:
        raise NoActiveRuleSet("no active rule set: an admin must activate one")
    return rule_set


def rule_specs(rule_set: RuleSet) -> list[RuleSpec]:
    return [
        RuleSpec(
            id=r.pk,
            signal=r.signal,
            operator=r.operator,
            threshold=r.threshold,
            threshold_high=r.threshold_high,
            points=r.points,
            dimension=r.dimension,
            half_life_days=r.half_life_days,
            label=r.label,
        )
        for r in rule_set.rules.all()
    ]


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass
class _Run:
    rule_set: RuleSet
    rules: list[RuleSpec]
    settings: Settings
    now: datetime
    result: ScoringResult

    @classmethod
    def of(cls, rule_set: RuleSet, *, now: datetime) -> _Run:
        return cls(
            rule_set=rule_set,
            rules=rule_specs(rule_set),
            settings=Settings.of(rule_set),
            now=now,
            result=ScoringResult(),
        )


def scoring_run(
    *,
    full: bool = False,
    account_ids: list[int] | None = None,
    progress: JobProgress | None = None,
    chunk_size: int | None = None,
) -> ScoringResult:
    """Score the accounts whose usage changed since the last run (or all, or the given
    ids), one run at a time: a run that cannot take the lock skips. Chunks are
    ``PLS_SCORING_CHUNK`` accounts unless ``chunk_size`` says otherwise."""
    size = chunk_size or django_settings.PLS_SCORING_CHUNK
    with task_lock(name=SCORING_LOCK, ttl=FULL_LOCK_TTL if full else SCORING_LOCK_TTL) as got:
        if not got:
            return ScoringResult(skipped=True)
        return _scoring_run(full=full, account_ids=account_ids, progress=progress, size=size)


def _scoring_run(
    *, full: bool, account_ids: list[int] | None, progress: JobProgress | None, size: int
) -> ScoringResult:
    run = _Run.of(rule_set_active(), now=timezone.now())
    state, _ = ScoringState.objects.get_or_create(pk=1)
    accounts = Account.objects.order_by("id")
    newest = None
    if account_ids is not None:
        ids = sorted(set(account_ids))
    elif full:
        newest = accounts.aggregate(newest=Max("usage_changed_at"))["newest"]
        ids = list(accounts.values_list("id", flat=True))
    else:
        changed = accounts.filter(usage_changed_at__isnull=False)
        if state.usage_seen_until is not None:
            changed = changed.filter(usage_changed_at__gt=state.usage_seen_until)
        stamps = dict(changed.order_by().values_list("id", "usage_changed_at"))
        newest = max(stamps.values(), default=None)
        ids = sorted(set(stamps) | set(_never_scored(accounts)))
    if progress is not None:
        progress.set_total(len(ids))
    as_range = account_ids is None and full
    processes = _processes_for(len(ids), size)
    if processes > 1:
        _score_in_processes(
            run, ids, size, as_range=as_range, processes=processes, progress=progress
        )
    else:
        chunks = _chunk_signals(ids, size, as_range=as_range, as_of=run.now.date())
        for chunk, facts, signals in chunks:
            _score_chunk(run, chunk, facts, signals, as_range=as_range)
            run.result.accounts += len(chunk)
            if progress is not None:
                progress.advance(len(chunk))
    if newest is not None and account_ids is None:
        cursor = min(newest, run.now - CURSOR_OVERLAP)
        if state.usage_seen_until is None or cursor > state.usage_seen_until:
            state.usage_seen_until = cursor
    if full:
        state.last_full_run_at = run.now
    state.save()
    logger.info("scoring run (%s): %s", "full" if full else "incremental", run.result.summary)
    return run.result


# --- Big runs in parallel processes -----------------------------------------------------
#
# Scoring a chunk is mostly Python (one core, whatever the threads), so a run of many
# chunks on PostgreSQL scores them in forked processes, each with its own connection and
# one transaction per chunk as always: chunks share no rows (an account is in one chunk),
# so the result is the same as one process scoring them in turn. The parent holds the
# scoring lock on its connection and only collects results and progress.


# Below this many accounts a run stays in one process: forking, connecting and reading
# the rule set in each process cost more than they save (measured: a 1,000-account
# incremental run takes twice as long in four processes).
PARALLEL_MIN = 2 * CHUNK


def _processes_for(accounts: int, size: int) -> int:
    wanted = django_settings.PLS_SCORING_PROCESSES
    chunks = -(-accounts // size)
    if (
        wanted <= 1
        or accounts < PARALLEL_MIN
        or chunks < 2
        or connection.vendor != "postgresql"
        # Children see committed rows only: inside a transaction the caller's own work
        # would be invisible to them.
        or connection.in_atomic_block
        or multiprocessing.parent_process() is not None
    ):
        return 1
    return min(wanted, chunks)


def _child_start(parent: int) -> None:
    """In a forked child: die with the parent, and forget the parent's connections
    without closing them.

    A parent killed mid-run (``kill -9`` of the worker) takes its children with it, so no
    orphan goes on writing chunks beside the next run (Linux: PR_SET_PDEATHSIG). Closing
    an inherited connection would end the parent's session, and with it the scoring
    lock; psycopg never closes a connection from a process that did not open it. Each
    child connects anew."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    for conn in connections.all(initialized_only=True):
        conn.connection = None
        conn.in_atomic_block = False
        conn.needs_rollback = False
        conn.savepoint_ids = []


PR_SET_PDEATHSIG = 1  # prctl(2)
_CHILD_CONTEXT: dict = {}


def _score_part(rule_set_id: int, now: datetime, chunk: list[int], as_range: bool) -> ScoringResult:
    """Score one chunk in a child process (``as_range``: the chunk is every account
    between its first and last id, as in a full run)."""
    run = _Run.of(RuleSet.objects.get(pk=rule_set_id), now=now)
    as_of = now.date()
    if _CHILD_CONTEXT.get("as_of") != as_of:
        _CHILD_CONTEXT.update(as_of=as_of, context=signals_context())
    facts, signals = _chunk_read(
        chunk, as_range=as_range, as_of=as_of, context=_CHILD_CONTEXT["context"]
    )
    _score_chunk(run, chunk, facts, signals, as_range=as_range)
    run.result.accounts += len(chunk)
    return run.result


def _score_in_processes(
    run: _Run,
    ids: list[int],
    size: int,
    *,
    as_range: bool,
    processes: int,
    progress: JobProgress | None,
) -> None:
    total = run.result
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_child_start,
        initargs=(os.getpid(),),
    ) as pool:
        futures = [
            pool.submit(_score_part, run.rule_set.pk, run.now, chunk, as_range)
            for chunk in _chunks(ids, size)
        ]
        try:
            for future in as_completed(futures):
                part = future.result()
                for name in ScoringResult.__dataclass_fields__:
                    if name != "skipped":
                        setattr(total, name, getattr(total, name) + getattr(part, name))
                if progress is not None:
                    progress.advance(part.accounts)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# Accounts created since the newest one scored: new ids are above it, give or take the
# ids of transactions still committing when it was scored (an ingestion chunk creates a
# few hundred accounts at most).
NEW_ACCOUNT_ID_MARGIN = 1_000


def _never_scored(accounts) -> list[int]:
    """Accounts with no score among the newest ones: new accounts, which every
    incremental run scores even before their first usage is rolled up. Reading only ids
    above the newest scored one (less a margin) keeps this an index range, not an
    anti-join of every account; an older account without a score (none normally: every
    run scores what it reads) waits for the nightly full run."""
    newest = AccountScore.objects.aggregate(newest=Max("account_id"))["newest"]
    if newest is not None:
        accounts = accounts.filter(id__gt=newest - NEW_ACCOUNT_ID_MARGIN)
    return list(accounts.filter(score__isnull=True).values_list("id", flat=True))


def scores_as_of(
    *,
    rule_set_rules: list[RuleSpec],
    settings: Settings,
    as_of: date,
    account_ids: list[int],
    every_account: bool = False,
    context=None,
) -> Iterator[tuple[AccountFacts, dict, ScoreResult, RouteDecision]]:
    """Scores and routes of accounts as of the end of a past UTC day, written nowhere
    (the backtest). Guards that need history scoring does not keep (cool-downs) are
    left out; checkout and sales-request guards use the timestamps known then.
    ``every_account`` says the ids are all accounts, so chunks read id ranges."""
    now = day_end(as_of)
    for chunk in _chunks(sorted(account_ids), CHUNK):
        facts, signals = signals_compute(
            scope=Scope(tuple(chunk), as_range=every_account), as_of=as_of, context=context
        )
        for account_id, fact in facts.items():
            values = signals[account_id]
            score = score_compute(signals=values, rules=rule_set_rules, settings=settings)
            decision = route_decide(
                facts=fact,
                signals=values,
                score=score,
                settings=settings,
                now=now,
                baseline={"active_users_30": values.get("active_users_30") or 0,
                          "departments_30": values.get("departments_30") or 0},
            )  # fmt: skip
            yield fact, values, score, decision


_MISSING = object()


def _json_default(value):
    return str(value)


def scores_digest(contributions: list, signals: dict) -> int:
    """The signed 64-bit hash stored as ``AccountScore.digest``: equal values, equal
    digest (keys sorted; a Decimal or a date hashed as its text)."""
    data = orjson.dumps(
        [contributions, signals], option=orjson.OPT_SORT_KEYS, default=_json_default
    )
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _json_load(text: str | None):
    """PostgreSQL's JSON text decoded: orjson, several times faster than json (a full run
    decodes every account's stored signals); json for what orjson refuses (integers past
    64 bits)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class _StoredScore:
    """An account's stored score as read for comparison: a plain object with the model's
    attributes, so that only the rows that change become model instances (``model``)."""

    FIELDS = [f for f in AccountScore._meta.concrete_fields if not isinstance(f, JSONField)]
    # Read as text and decoded here: the same values as the model's, for less work.
    JSON_FIELDS = [f for f in AccountScore._meta.concrete_fields if isinstance(f, JSONField)]
    # Compared by the row's digest, so read only from rows that have none yet.
    DIGESTED = ("contributions", "signals")

    @classmethod
    def read(cls, scope: Scope) -> dict[int, _StoredScore]:
        """The stored scores of the scoped accounts, locked for the chunk's transaction."""
        names = [f.attname for f in cls.FIELDS]
        texts = {
            f"{f.attname}_text": Case(
                When(digest__isnull=True, then=Cast(f.attname, TextField())),
                default=None,
                output_field=TextField(),
            )
            if f.attname in cls.DIGESTED
            else Cast(f.attname, TextField())
            for f in cls.JSON_FIELDS
        }
        rows = (
            AccountScore.objects.select_for_update()
            .filter(scope.q())
            .annotate(**texts)
            .values_list(*names, *texts)
            .order_by()
        )
        json_names = [f.attname for f in cls.JSON_FIELDS]
        width = len(names)
        # Many rows hold the same JSON (idle accounts' contributions, empty baselines):
        # each distinct text is decoded once per chunk. The values are only compared and
        # replaced, never changed in place, so rows may share them.
        decoded: dict[str, object] = {}

        def load(text: str | None):
            value = decoded.get(text, _MISSING)
            if value is _MISSING:
                value = decoded[text] = _json_load(text)
            return value

        stored = {}
        for values in rows:
            row = cls()
            row.__dict__.update(zip(names, values, strict=False))
            row.__dict__.update(zip(json_names, map(load, values[width:]), strict=True))
            stored[row.account_id] = row
        return stored

    def model(self) -> AccountScore:
        return AccountScore(**self.__dict__)


def _chunk_signals(
    ids: list[int], size: int, *, as_range: bool, as_of: date
) -> Iterator[tuple[list[int], dict[int, AccountFacts], dict[int, dict]]]:
    """Each chunk of ``ids`` with its facts and signals.

    On PostgreSQL, outside a transaction and when there is more than one chunk, a helper
    thread reads the next chunk's signals on its own connection while the caller scores
    the current one, so the database and Python work at the same time (at most two
    chunks are held)."""
    context = signals_context()

    def read(chunk: list[int]):
        return chunk, *_chunk_read(chunk, as_range=as_range, as_of=as_of, context=context)

    chunks = _chunks(ids, size)
    if len(ids) <= size or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield from map(read, chunks)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-signals") as reader:
        try:
            ahead = [reader.submit(read, chunk) for chunk in islice(chunks, 1)]
            while ahead:
                current = ahead.pop().result()
                ahead = [reader.submit(read, chunk) for chunk in islice(chunks, 1)]
                yield current
        finally:
            # Runs in the helper thread after its last read: closes its connection.
            reader.submit(connections.close_all)


def _chunk_read(
    chunk: list[int], *, as_range: bool, as_of: date, context
) -> tuple[dict[int, AccountFacts], dict[int, dict]]:
    """One chunk's facts and signals, read with JIT off (``_short_queries``)."""
    with _short_queries():
        return signals_compute(
            scope=Scope(tuple(chunk), as_range=as_range), as_of=as_of, context=context
        )


@contextmanager
def _short_queries() -> Iterator[None]:
    """PostgreSQL compiles a query with JIT when its estimated cost is high enough (on by
    default), which costs more than a chunk's aggregates take: off for them, in a
    transaction of their own (left alone inside a caller's transaction)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def _score_chunk(
    run: _Run,
    ids: list[int],
    facts: dict[int, AccountFacts],
    signals: dict[int, dict],
    *,
    as_range: bool,
) -> None:
    if not facts:
        return
    scope = Scope(tuple(ids), as_range=as_range)
    with transaction.atomic():
        # Read by the chunk's scope (an id range in full runs) rather than a list of ids.
        scores = _StoredScore.read(scope)
        items = {
            i.account_id: i
            for i in QueueItem.objects.select_for_update().filter(
                scope.q(), state__in=QueueItem.ACTIVE_STATES
            )
        }
        plan = _Plan(run)
        for account_id, fact in facts.items():
            values = signals[account_id]
            score = score_compute(signals=values, rules=run.rules, settings=run.settings)
            row, item = scores.get(account_id), items.get(account_id)
            cooldown = (row.cooldown_until, row.cooldown_reason) if row else (None, "")
            # Bought by itself while an item was open: the item closes "self-served" and
            # the cool-down starts now, so this very run routes the account held.
            self_served = (
                item is not None
                and fact.checkout_completed_at is not None
                and fact.checkout_completed_at > item.created_at
            )
            if self_served:
                cooldown = (run.now + timedelta(days=run.settings.cooldown_days), "self-served")
            decision = route_decide(
                facts=fact,
                signals=values,
                score=score,
                settings=run.settings,
                now=run.now,
                cooldown_until=cooldown[0],
                cooldown_reason=cooldown[1],
                baseline=row.expansion_baseline if row else None,
            )
            plan.account(
                fact, values, score, decision, row, item, cooldown if self_served else None
            )
        plan.write()


class _Plan:
    """The writes of one chunk, collected and then done in bulk."""

    SCORE_FIELDS = [
        "rule_set", "score", "value", "engagement", "contributions", "signals", "digest",
        "route", "route_reason", "scored_at", "expansion_baseline", "cooldown_until",
        "cooldown_reason", "changed_at",
    ]  # fmt: skip
    ITEM_FIELDS = [
        "route", "state", "score", "reasons", "route_reason", "buyers", "missing_buyer",
        "routed_at", "due_at", "closed_at", "close_reason", "owner",
    ]  # fmt: skip

    def __init__(self, run: _Run):
        self.run = run
        self.new_scores: list[AccountScore] = []
        # Existing scores to update, by account id (new ones are in new_scores).
        self.dirty_scores: dict[int, AccountScore | _StoredScore] = {}
        self.changed_scores = 0  # dirty ones whose values changed (not just got a digest)
        self.history: list[ScoreHistory] = []
        self.changes: list[RouteChange] = []
        self.new_items: list[tuple[QueueItem, RouteChange]] = []
        self.changed_items: dict[int, QueueItem] = {}
        self.buyers_for: dict[int, QueueItem] = {}

    def account(
        self,
        fact: AccountFacts,
        values: dict,
        score: ScoreResult,
        decision: RouteDecision,
        row: AccountScore | _StoredScore | None,
        item: QueueItem | None,
        cooldown: tuple[datetime, str] | None = None,
    ) -> None:
        run, now = self.run, self.run.now
        old_route = row.route if row else ""
        if row is None:
            row = AccountScore(account_id=fact.id, scored_at=now, changed_at=now)
            self.new_scores.append(row)
        is_new = not old_route
        # History (and scored_at) follow the score and the route, not the sub-scores.
        scored = (score.score, decision.route)
        before = (row.score, row.route) if old_route else None
        # Contributions and signals are compared by digest; a row written before digests
        # existed compares them as read (and gets its digest without counting as changed).
        digest = scores_digest(score.contributions, values)
        if not is_new and row.digest is None:
            changed = row.contributions != score.contributions or row.signals != values
        else:
            changed = row.digest != digest
        dirty = changed or row.digest != digest
        row.contributions, row.signals, row.digest = score.contributions, values, digest
        updates = {
            "rule_set_id": run.rule_set.pk,
            "score": score.score,
            "value": score.value,
            "engagement": score.engagement,
            "route": decision.route,
            "route_reason": decision.reason,
        }
        if decision.baseline is not None:
            updates["expansion_baseline"] = decision.baseline
        if cooldown is not None:
            updates["cooldown_until"], updates["cooldown_reason"] = cooldown
        elif row.cooldown_until and row.cooldown_until <= now:
            updates["cooldown_until"], updates["cooldown_reason"] = None, ""
        for name, value in updates.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = dirty = True
        if before != scored:
            row.scored_at = now
            self.history.append(
                ScoreHistory(
                    account_id=fact.id,
                    rule_set_id=run.rule_set.pk,
                    at=now,
                    score=score.score,
                    value=score.value,
                    engagement=score.engagement,
                    route=decision.route,
                )
            )
        logged = self._item(fact, score, decision, row, item, old_route)
        if changed and not is_new:
            row.changed_at = now
            self.changed_scores += 1
        if dirty and not is_new:
            self.dirty_scores[fact.id] = row
        if old_route != decision.route and not logged:
            self.changes.append(
                RouteChange(
                    account_id=fact.id,
                    item=item,
                    from_route=old_route,
                    to_route=decision.route,
                    from_state=item.state if item else "",
                    to_state=item.state if item else "",
                    reason=decision.reason[:300],
                    at=now,
                )
            )

    def _item(
        self,
        fact: AccountFacts,
        score: ScoreResult,
        decision: RouteDecision,
        row: AccountScore | _StoredScore,
        item: QueueItem | None,
        old_route: str,
    ) -> bool:
        """Keep the account's active item in step; True when the RouteChange written
        also records the account's route change."""
        run, now = self.run, self.run.now
        reasons = score.reasons[:TOP_REASONS]
        if item is not None:
            checked_out = (
                fact.checkout_completed_at is not None
                and fact.checkout_completed_at > item.created_at
            )
            if checked_out:  # the caller started the cool-down: the route is held
                self._close(
                    item,
                    QueueItem.State.SELF_SERVED,
                    "self-served: the account bought by itself",
                    old_route,
                    decision.route,
                )
                return True
            logged = False
            if decision.route not in QUEUE_ROUTES:
                if item.state not in REP_STATES:
                    self._close(
                        item,
                        QueueItem.State.NOT_QUALIFIED,
                        f"no longer qualified: {decision.reason}",
                        old_route,
                        decision.route,
                    )
                    return True
            elif decision.route != item.route and item.state == QueueItem.State.OPEN:
                self.changes.append(
                    RouteChange(
                        account_id=item.account_id,
                        item=item,
                        from_route=item.route,
                        to_route=decision.route,
                        from_state=item.state,
                        to_state=item.state,
                        reason=f"moved to the {Route(decision.route).label} pool: "
                        f"{decision.reason}"[:300],
                        at=now,
                    )
                )
                item.route = decision.route
                item.routed_at = now
                item.due_at = now + timedelta(hours=run.settings.sla_hours(decision.route))
                item.owner_id = fact.owner_id if decision.route == Route.EXPANSION else None
                self.changed_items[item.pk] = item
                logged = True
            refreshed = {
                "score": score.score,
                "reasons": reasons,
                "route_reason": decision.reason[:300]
                if decision.route in QUEUE_ROUTES
                else item.route_reason,
            }
            for name, value in refreshed.items():
                if getattr(item, name) != value:
                    setattr(item, name, value)
                    self.changed_items[item.pk] = item
            self.buyers_for[fact.id] = item
            return logged
        if decision.route not in QUEUE_ROUTES:
            return False
        new = QueueItem(
            account_id=fact.id,
            route=decision.route,
            state=QueueItem.State.OPEN,
            score=score.score,
            reasons=reasons,
            route_reason=decision.reason[:300],
            owner_id=fact.owner_id if decision.route == Route.EXPANSION else None,
            created_at=now,
            routed_at=now,
            due_at=now + timedelta(hours=run.settings.sla_hours(decision.route)),
        )
        change = RouteChange(
            account_id=fact.id,
            from_route=old_route,
            to_route=decision.route,
            from_state="",
            to_state=QueueItem.State.OPEN,
            reason=f"queue item opened: {decision.reason}"[:300],
            at=now,
        )
        self.new_items.append((new, change))
        self.buyers_for[fact.id] = new
        return True

    def _close(
        self, item: QueueItem, state: str, reason: str, from_route: str, to_route: str
    ) -> None:
        now = self.run.now
        self.changes.append(
            RouteChange(
                account_id=item.account_id,
                item=item,
                from_route=from_route or item.route,
                to_route=to_route,
                from_state=item.state,
                to_state=state,
                reason=reason[:300],
                at=now,
            )
        )
        item.state = state
        item.closed_at = now
        item.close_reason = reason[:300]
        self.changed_items[item.pk] = item

    def write(self) -> None:
        result = self.run.result
        if self.buyers_for:
            found = likely_buyers_many(account_ids=list(self.buyers_for))
            for account_id, item in self.buyers_for.items():
                buyers = [b.as_dict() for b in found.get(account_id, [])]
                if item.buyers != buyers or item.missing_buyer != (not buyers):
                    item.buyers = buyers
                    item.missing_buyer = not buyers
                    if item.pk:
                        self.changed_items[item.pk] = item
        _insert_rows(AccountScore, self.new_scores)
        _update_rows(
            AccountScore,
            [row.model() if isinstance(row, _StoredScore) else row
             for row in self.dirty_scores.values()],
            self.SCORE_FIELDS,
        )  # fmt: skip
        _insert_rows(ScoreHistory, self.history)
        if self.new_items:
            created = QueueItem.objects.bulk_create([item for item, _ in self.new_items])
            for item, (_, change) in zip(created, self.new_items, strict=True):
                change.item = item
            self.changes += [change for _, change in self.new_items]
        QueueItem.objects.bulk_update(list(self.changed_items.values()), self.ITEM_FIELDS)
        _insert_rows(RouteChange, self.changes)
        result.scores_written += len(self.new_scores) + self.changed_scores
        result.route_changes += len(self.changes)
        result.items_created += len(self.new_items)
        closed = sum(1 for i in self.changed_items.values() if not i.is_active)
        result.items_closed += closed
        result.items_updated += len(self.changed_items) - closed


# --- Bulk writes: COPY on PostgreSQL -------------------------------------------------------
#
# A full rescore may write every row: Django's bulk_update sends one CASE WHEN per field
# with a branch per row (quadratic: seconds per chunk of 2,000), and bulk_create renders
# every value. On PostgreSQL rows go through COPY instead (into the table, or into a
# temporary table that one UPDATE … FROM reads); values are prepared by the fields
# exactly as Django prepares them. Other databases keep Django's bulk operations.


def _copy_ready() -> bool:
    return connection.vendor == "postgresql" and connection.in_atomic_block


def _db_values(obj, fields, db, *, add: bool) -> tuple:
    return tuple(field.get_db_prep_save(field.pre_save(obj, add), db) for field in fields)


def _insert_rows(model, objs: list) -> None:
    """Insert new rows whose generated ids nobody reads afterwards."""
    if not objs:
        return
    if not _copy_ready():
        model.objects.bulk_create(objs)
        return
    meta, db = model._meta, connections[DEFAULT_DB_ALIAS]
    fields = [f for f in meta.local_concrete_fields if not (f.primary_key and f.db_returning)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        copy_sql = f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for obj in objs:
                copy.write_row(_db_values(obj, fields, db, add=True))
    for obj in objs:
        obj._state.adding = False


def _update_rows(model, objs: list, names: list[str]) -> None:
    """Write ``names`` of existing rows (by primary key)."""
    if not objs:
        return
    if not _copy_ready():
        model.objects.bulk_update(objs, names)
        return
    meta, quote, db = model._meta, connection.ops.quote_name, connections[DEFAULT_DB_ALIAS]
    fields = [meta.pk, *(meta.get_field(name) for name in names)]
    columns = [quote(f.column) for f in fields]
    temp = quote(f"_update_{meta.db_table}")
    pk = quote(meta.pk.column)
    # Table and column names only; every value goes through COPY.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {', '.join(columns)} FROM {quote(meta.db_table)} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {temp} ({', '.join(columns)}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(_db_values(obj, fields, db, add=False))
        assignments = ", ".join(f"{c} = u.{c}" for c in columns[1:])
        table = quote(meta.db_table)
        update = f"UPDATE {table} t SET {assignments} FROM {temp} u WHERE t.{pk} = u.{pk}"  # noqa: S608
        cursor.execute(update)
        cursor.execute(f"DROP TABLE {temp}")


# --- Rescore as a Job (after activation, from the command line) ---------------------------

RESCORE_KIND = "rescore"
RESCORE_WAIT = timedelta(minutes=10)


class ScoringBusy(Exception):
    """Another scoring run held the lock for longer than the wait."""


def rescore_start(*, user: User | None, full: bool = True, reason: str = "") -> Job:
    """Queue a rescore Job; the worker runs it after the commit."""
    from scoring.tasks import rescore_job_run

    job = job_create(
        kind=RESCORE_KIND,
        created_by=user,
        params={"full": full, "reason": reason},
        message=reason or "Waiting for a worker…",
    )
    transaction.on_commit(lambda: rescore_job_run.delay(job.pk))
    return job


def rescore_job(
    *,
    job_id: int,
    full: bool = True,
    bar: ProgressBar | None = None,
    wait: timedelta = RESCORE_WAIT,
) -> ScoringResult:
    """Roll up what is pending, then score (all accounts, or the changed ones) as the
    given Job, waiting up to ``wait`` for a periodic run to let go of the lock."""
    deadline = time.monotonic() + wait.total_seconds()
    with job_running(job_id=job_id, bar=bar) as progress:
        rollup_run_now()
        while True:
            result = scoring_run(full=full, progress=progress)
            if not result.skipped:
                break
            if time.monotonic() > deadline:
                raise ScoringBusy(f"another scoring run held the lock for {wait}")
            time.sleep(1)
        progress.result = result.as_dict()
        progress.message = result.summary
    return result
