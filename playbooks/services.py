"""Writes of playbooks: plays (create, edit, activate), the stored play matches, and the
filled first message for the dossier.

Play matches are stored in bulk (DESIGN.md "Settled after review"): accounts whose
stored score changed since the last run (``AccountScore.changed_at``, NULL counting as
changed) are read in chunks of 2,000 with a fixed number of queries each
(``playbooks.facts``), matched in Python (``playbooks.conditions``), and only the
PlayMatch rows that change are written. A play edit that can change matches asks for a
full re-match, run after the commit (and by the next run if that one finds the lock
taken).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from playbooks.conditions import ConditionError, PlaySpec, best_play, conditions_clean
from playbooks.facts import FactsContext, account_facts, facts_context
from playbooks.messages import message_context, plain, rep_context, sample_context
from playbooks.models import Play, PlayMatch, PlayMatchState
from playbooks.rendering import play_message_render, play_template_check
from pls_portal.models import User
from pls_portal.services import JobProgress, task_lock, task_lock_held
from scoring.models import AccountScore
from scoring.services.run import SCORING_LOCK
from scoring.signals import Scope

__all__ = [
    "FilledMessage",
    "PlayMatchResult",
    "play_matches_refresh",
    "play_message_fill",
    "play_message_for",
    "play_message_render",
    "play_save",
    "play_set_active",
]

logger = logging.getLogger(__name__)

MATCH_LOCK = "play-matches"
MATCH_LOCK_TTL = timedelta(minutes=10)
FULL_LOCK_TTL = timedelta(hours=1)
CHUNK = 2000
# Scoring stamps changed_at before its chunk commits; re-reading this much before the
# newest stamp seen never misses a late commit (matching is idempotent).
CURSOR_OVERLAP = timedelta(seconds=30)
# What matching reads from a play: an edit of anything else leaves the matches as they are.
MATCH_FIELDS = ("name", "conditions", "priority", "is_active")
PLAY_FIELDS = ("name", "situation", "approach", "message_template", "priority", "is_active")


# --- Stored matches -------------------------------------------------------------------------


@dataclass
class PlayMatchResult:
    accounts: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    full: bool = False
    skipped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.skipped:
            return "skipped: another play matching run holds the lock"
        kind = "all" if self.full else "changed"
        return (
            f"{self.accounts} {kind} accounts matched: {self.created} new matches, "
            f"{self.updated} changed, {self.deleted} removed"
        )


@dataclass
class _Run:
    now: datetime
    plays: list[PlaySpec]
    context: FactsContext
    result: PlayMatchResult
    conditions: list[list[dict]] = field(default_factory=list)


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def play_specs() -> list[PlaySpec]:
    return [
        PlaySpec(id=pk, priority=priority, name=name, conditions=tuple(conditions or ()))
        for pk, priority, name, conditions in Play.objects.filter(is_active=True).values_list(
            "pk", "priority", "name", "conditions"
        )
    ]


def play_matches_refresh(
    *, full: bool = False, chunk_size: int = CHUNK, progress: JobProgress | None = None
) -> PlayMatchResult:
    """Store the best play of every account whose score changed since the last run (or
    of every account), one run at a time: a run that cannot take the lock skips."""
    ttl = FULL_LOCK_TTL if full else MATCH_LOCK_TTL
    with task_lock(name=MATCH_LOCK, ttl=ttl) as acquired:
        if not acquired:
            return PlayMatchResult(full=full, skipped=True)
        return _refresh(full=full, size=chunk_size, progress=progress)


def _refresh(*, full: bool, size: int, progress: JobProgress | None) -> PlayMatchResult:
    now = timezone.now()
    state, _ = PlayMatchState.objects.get_or_create(pk=1)
    # A first run, or a play edit whose own run found the lock taken, matches everything.
    full = full or state.full_owed or state.changed_seen_until is None
    plays = play_specs()
    run = _Run(
        now=now,
        plays=plays,
        context=facts_context(),
        result=PlayMatchResult(full=full),
        conditions=[list(p.conditions) for p in plays],
    )
    # Read before the scores: with no scoring run under way now, every row stamped up to
    # the cursor set below is committed, so rows at the cursor need no second reading.
    scoring_quiet = not task_lock_held(SCORING_LOCK)
    scores = AccountScore.objects.order_by("account_id")
    if not full:
        since = (
            Q(changed_at__gt=state.changed_seen_until)
            if state.changed_settled
            # Rows stamped with the cursor are read again: a scoring run may still have
            # been committing chunks stamped with the same time.
            else Q(changed_at__gte=state.changed_seen_until)
        )
        scores = scores.filter(since | Q(changed_at__isnull=True))
    rows = list(scores.values_list("account_id", "changed_at"))
    ids = [account_id for account_id, _ in rows]
    newest = max((at for _, at in rows if at is not None), default=None)
    if progress is not None:
        progress.set_total(len(ids))
    for chunk in _chunks(ids, size):
        _match_chunk(run, chunk, as_range=full)
        run.result.accounts += len(chunk)
        if progress is not None:
            progress.advance(len(chunk), message="Matching accounts to plays")
    if full:
        # Accounts without a stored score (between chunk ranges, or never scored) keep
        # no match.
        run.result.deleted += PlayMatch.objects.filter(account__score__isnull=True).delete()[0]
        state.last_full_run_at = now
    cursor = min(newest, now - CURSOR_OVERLAP) if newest else now - CURSOR_OVERLAP
    if state.changed_seen_until is None or cursor > state.changed_seen_until:
        state.changed_seen_until = cursor
        # Settled only when the stamp is the newest read (not the overlap's bound, which
        # later commits may still share) and no scoring run was writing.
        state.changed_settled = scoring_quiet and cursor == newest
    elif cursor == state.changed_seen_until and scoring_quiet:
        state.changed_settled = True
    state.last_run_at = now
    state.save()
    logger.info("play matching: %s", run.result.summary)
    return run.result


def _match_chunk(run: _Run, ids: list[int], *, as_range: bool) -> None:
    scope = Scope(tuple(ids), as_range=as_range)
    facts = account_facts(
        scope=scope, today=run.now.date(), conditions=run.conditions, context=run.context
    )
    best = {}
    for account_id, account in facts.items():
        found = best_play(run.plays, account, plan_names=run.context.plan_names)
        if found is not None:
            best[account_id] = (found[0].id, found[1])
    with transaction.atomic():
        stored = {
            account_id: (play_id, matched)
            for account_id, play_id, matched in PlayMatch.objects.filter(
                scope.q("account_id")
            ).values_list("account_id", "play_id", "matched")
        }
        new, changed = [], []
        for account_id, (play_id, matched) in best.items():
            row = PlayMatch(
                account_id=account_id, play_id=play_id, matched=matched, matched_at=run.now
            )
            before = stored.pop(account_id, None)
            if before is None:
                new.append(row)
            elif before != (play_id, matched):
                changed.append(row)
        # What is left matched before and matches nothing now (or is merged away).
        gone = list(stored)
        PlayMatch.objects.bulk_create(new, batch_size=CHUNK)
        PlayMatch.objects.bulk_update(changed, ["play", "matched", "matched_at"], batch_size=CHUNK)
        if gone:
            PlayMatch.objects.filter(account_id__in=gone).delete()
    run.result.created += len(new)
    run.result.updated += len(changed)
    run.result.deleted += len(gone)


def play_matches_rematch_all() -> None:
    """Ask for a full re-match after the commit. Recorded on the state row too, so a run
    that finds the lock taken is made up by the next one."""
    from playbooks.tasks import play_matches_run

    PlayMatchState.objects.get_or_create(pk=1)
    PlayMatchState.objects.filter(pk=1).update(full_requested_at=timezone.now())
    transaction.on_commit(lambda: play_matches_run.delay(full=True))


# --- Plays ----------------------------------------------------------------------------------


def _unique_key(name: str) -> str:
    base = (slugify(name) or "play")[:50]
    taken = set(Play.objects.filter(key__startswith=base).values_list("key", flat=True))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


def play_validate(*, conditions, message_template: str) -> list[dict]:
    """The play's conditions, cleaned; a ValidationError naming the field (and the
    condition) when a condition or the template is wrong."""
    errors: dict[str, str] = {}
    cleaned: list[dict] = []
    try:
        cleaned = conditions_clean(conditions)
    except ConditionError as exc:
        errors["conditions"] = str(exc)
    template_error = play_template_check(message_template)
    if not template_error:
        # Every key a real context has is in the sample, so a typo shows up here.
        _, sample_error = play_message_render(template=message_template, context=sample_context())
        if sample_error:
            template_error = f"{sample_error} (with sample values)"
    if template_error:
        errors["message_template"] = template_error
    if errors:
        raise ValidationError(errors)
    return cleaned


def play_save(
    *,
    user: User | None,
    play_id: int | None = None,
    name: str,
    situation: str,
    approach: str,
    message_template: str,
    priority: int,
    is_active: bool = True,
    conditions: list[dict],
) -> Play:
    """Create or edit a play (admins). Conditions and template are checked first; a
    change to what matching reads re-matches every account after the commit."""
    cleaned = play_validate(conditions=conditions, message_template=message_template)
    values = {
        "name": name.strip(),
        "situation": situation.strip(),
        "approach": approach.strip(),
        "message_template": message_template.strip(),
        "priority": priority,
        "is_active": is_active,
        "conditions": cleaned,
    }
    with transaction.atomic():
        if play_id is None:
            play = Play(key=_unique_key(name))
            before = None
        else:
            play = Play.objects.select_for_update().get(pk=play_id)
            before = {f: getattr(play, f) for f in MATCH_FIELDS}
        for attr, value in values.items():
            setattr(play, attr, value)
        play.updated_by = user
        play.full_clean()
        play.save()
        if before != {f: getattr(play, f) for f in MATCH_FIELDS}:
            play_matches_rematch_all()
    logger.info("play saved play_id=%s by=%s", play.pk, getattr(user, "pk", None))
    return play


def play_set_active(*, play_id: int, active: bool, user: User | None) -> Play:
    """Activate or deactivate a play; every account is re-matched after the commit."""
    with transaction.atomic():
        play = Play.objects.select_for_update().get(pk=play_id)
        if play.is_active != active:
            play.is_active = active
            play.updated_by = user
            play.save(update_fields=["is_active", "updated_by", "updated_at"])
            play_matches_rematch_all()
    return play


# --- The dossier's first message ------------------------------------------------------------


@dataclass(frozen=True)
class FilledMessage:
    play: Play
    matched: list[str]
    text: str
    error: str  # "" when the template rendered


def play_match_for(*, account_id: int) -> PlayMatch | None:
    """The account's stored best play among the active ones, play joined (one query)."""
    return (
        PlayMatch.objects.filter(account_id=account_id, play__is_active=True)
        .select_related("play")
        .first()
    )


def play_message_for(*, account_id: int, rep: User | None) -> FilledMessage | None:
    """The account's stored best play and its first message filled with the account's
    own numbers; None when no active play matches. A bad template never raises: the
    error is in ``error``. A constant number of queries."""
    match = play_match_for(account_id=account_id)
    if match is None:
        return None
    context = message_context(account_id=account_id, rep=None)
    if context is None:
        return None
    return play_message_fill(match=match, context=context, rep=rep)


def play_message_fill(*, match: PlayMatch, context: dict, rep: User | None) -> FilledMessage:
    """The match's play with its first message filled from ``context`` (``message_context``
    of any rep, which callers may keep) and the reading ``rep``'s name."""
    context = {**context, "rep": plain(rep_context(rep))}
    text, error = play_message_render(template=match.play.message_template, context=context)
    return FilledMessage(play=match.play, matched=list(match.matched), text=text, error=error)
