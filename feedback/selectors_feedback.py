"""Reads for post-deal feedback: a rep's "my work", the feedback form's reads and one
feedback entry as its author and the PMs read it.

"My work" (DESIGN.md "Decisions") is the rep's claimed items and their closed (won or
lost) items without feedback. A won or lost item's feedback is owed by the rep who held
it, or by whoever closed it when nobody held it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import Account, TrackingPlanEntry
from playbooks.models import Play
from playbooks.selectors import best_plays
from pls_portal.models import Role, User
from scoring.models import QueueItem

from .models import Feedback, FeedbackCategory, FeedbackTag

State = QueueItem.State
CLOSED_WITH_FEEDBACK = (State.WON, State.LOST)
EDIT_DAYS = 14


# --- my work ------------------------------------------------------------------------------


def owed_q(user: User) -> Q:
    """Won or lost items whose feedback the user owes (whether given or not)."""
    return Q(state__in=CLOSED_WITH_FEEDBACK) & (
        Q(claimed_by=user) | Q(claimed_by__isnull=True, closed_by=user)
    )


@dataclass(frozen=True)
class MyWork:
    claimed: int = 0
    due: list[dict] = field(default_factory=list)

    @property
    def due_count(self) -> int:
        return len(self.due)


def my_work(*, user: User) -> MyWork:
    """The rep's claimed items (counted) and closed items waiting for feedback, oldest
    close first, in one query. PMs work no items."""
    if user.role not in (Role.REP, Role.ADMIN):
        return MyWork()
    # A plain superset (the user's items, active or closed without feedback), narrowed
    # below, as one plain query: the ORM took longer to build it than the database to
    # run it, and the exact condition as one OR of ANDs, or a join, costs PostgreSQL
    # more to plan than to run. The item's fields pass through the model's converters.
    active, closed = list(QueueItem.ACTIVE_STATES), list(CLOSED_WITH_FEEDBACK)
    states = ", ".join(["%s"] * len(active + closed))
    closed_marks = ", ".join(["%s"] * len(closed))
    tables = {
        "item": QueueItem._meta.db_table,
        "account": Account._meta.db_table,
        "feedback": Feedback._meta.db_table,
    }
    sql = (
        "SELECT q.id, q.state, q.closed_at, q.close_reason, q.claimed_by_id, "  # noqa: S608
        "q.closed_by_id, (SELECT a.name FROM {account} a WHERE a.id = q.account_id) "
        "AS account_name FROM {item} q "
        f"WHERE (q.claimed_by_id = %s OR q.closed_by_id = %s) AND q.state IN ({states}) "
        f"AND NOT (q.state IN ({closed_marks}) "
        "AND EXISTS (SELECT 1 FROM {feedback} f WHERE f.item_id = q.id)) "
        "ORDER BY q.closed_at, q.id"
    ).format(**tables)
    rows = QueueItem.objects.raw(sql, [user.pk, user.pk, *active, *closed, *closed])
    claimed, due = 0, []
    for row in rows:
        if row.state in QueueItem.ACTIVE_STATES:
            if row.claimed_by_id == user.pk:
                claimed += 1
        elif row.claimed_by_id == user.pk or (
            row.claimed_by_id is None and row.closed_by_id == user.pk
        ):  # owed_q: the claimant owes it, else whoever closed it
            due.append(
                {
                    "item_id": row.pk,
                    "account_name": row.account_name,
                    "outcome": row.state,
                    "outcome_label": State(row.state).label,
                    "closed_at": row.closed_at,
                    "close_reason": row.close_reason,
                }
            )
    return MyWork(claimed=claimed, due=due)


# --- one item's feedback ------------------------------------------------------------------


def feedback_items(*, user: User) -> QuerySet[QueueItem]:
    """Won and lost items the user may give (or read their own) feedback on: the ones
    they owe; admins any."""
    items = QueueItem.objects.filter(state__in=CLOSED_WITH_FEEDBACK)
    if user.role == Role.ADMIN:
        return items
    if user.role != Role.REP:
        return items.none()
    return items.filter(owed_q(user))


def feedback_item(*, user: User, item_id: int) -> QueueItem | None:
    return (
        feedback_items(user=user)
        .select_related("account", "deal", "claimed_by", "closed_by")
        .filter(pk=item_id)
        .first()
    )


def existing_feedback(*, item_id: int) -> Feedback | None:
    return (
        feedback_with_details(Feedback.objects.filter(item_id=item_id))
        .select_related("author", "trigger_play")
        .first()
    )


def editable_until(feedback: Feedback) -> datetime:
    return feedback.created_at + timedelta(days=EDIT_DAYS)


def can_edit(feedback: Feedback, *, user: User, now: datetime) -> bool:
    return feedback.author_id == user.pk and now < editable_until(feedback)


def days_to_close(item: QueueItem) -> float | None:
    """From the PQL (the item's creation) to the deal's close, in days."""
    closed = (item.deal.closed_at if item.deal_id and item.deal else None) or item.closed_at
    if closed is None:
        return None
    return max((closed - item.created_at).total_seconds() / 86400, 0.0)


def deal_facts(item: QueueItem) -> dict:
    """What the form shows read-only: the Deal's size and motion, and the time to close."""
    deal = item.deal
    days = days_to_close(item)
    return {
        "outcome": item.state,
        "outcome_label": item.get_state_display(),
        # A lost deal has no ARR to show.
        "arr": deal.arr if deal and (deal.arr or item.state == State.WON) else None,
        "currency": deal.currency if deal else settings.PLS_CURRENCY,
        "other_currency": bool(deal and deal.currency != settings.PLS_CURRENCY),
        "motion": deal.get_motion_display() if deal else "",
        "source": deal.get_source_display() if deal else "",
        "pql_at": item.created_at,
        "closed_at": (deal.closed_at if deal else None) or item.closed_at,
        "days_to_close": None if days is None else round(days),
        "close_reason": item.close_reason,
        "reasons": list(item.reasons or []),
    }


def feedback_prefill(*, item: QueueItem) -> dict:
    """The form's first values: the item's top reason and the account's matched play."""
    match = best_plays(account_ids=[item.account_id]).get(item.account_id)
    reasons = list(item.reasons or [])
    return {
        "trigger_signal": reasons[0] if reasons else "",
        "trigger_play": match.play_id if match else None,
    }


def category_choices(kind: str, *, keep: list[int] | None = None) -> list[FeedbackCategory]:
    """The active categories of a kind, plus the inactive ones a feedback already has."""
    return list(
        FeedbackCategory.objects.filter(Q(is_active=True) | Q(pk__in=keep or []), kind=kind)
    )


def feature_labels() -> dict[str, str]:
    """Tracking-plan feature keys and their names, in plan order."""
    labels: dict[str, str] = {}
    for key, name in (
        TrackingPlanEntry.objects.filter(category=TrackingPlanEntry.Category.FEATURE)
        .exclude(key="")
        .order_by("key", "name")
        .values_list("key", "name")
    ):
        words = key.replace("-", " ").replace("_", " ")
        # Short keys are acronyms (api, sso); longer ones words.
        labels.setdefault(key, f"{words.upper() if len(key) <= 3 else words.capitalize()} ({name})")
    return labels


def play_choices(*, keep: int | None = None) -> list[Play]:
    return list(Play.objects.filter(Q(is_active=True) | Q(pk=keep)).order_by("name"))


# --- reading feedback (PMs, authors) ------------------------------------------------------


def feedback_with_details(feedback: QuerySet[Feedback]) -> QuerySet[Feedback]:
    """The feedback with its categories, features and tags (sorted), prefetched."""
    return feedback.prefetch_related(
        "objections",
        "blockers",
        "features",
        Prefetch("tags", queryset=FeedbackTag.objects.order_by("name")),
    )


def feedback_visible(*, user: User) -> QuerySet[Feedback]:
    """PMs and admins read every feedback; reps their own (given or owed)."""
    feedback = Feedback.objects.all()
    if user.role in (Role.PM, Role.ADMIN):
        return feedback
    if user.role != Role.REP:
        return feedback.none()
    return feedback.filter(Q(author=user) | Q(item__in=QueueItem.objects.filter(owed_q(user))))


def feedback_detail(*, user: User, feedback_id: int) -> Feedback | None:
    return (
        feedback_with_details(feedback_visible(user=user).filter(pk=feedback_id))
        .select_related("author", "item__account", "item__deal", "trigger_play")
        .prefetch_related("comments__author")
        .first()
    )


def feedback_given(*, user: User, limit: int = 50) -> list[Feedback]:
    """The feedback the user gave, newest first."""
    return list(
        Feedback.objects.filter(author=user)
        .select_related("item__account", "item__deal")
        .order_by("-created_at", "-pk")[:limit]
    )


def entry_row(feedback: Feedback, *, features: dict[str, str]) -> dict:
    """A feedback entry as the drill-down list, the detail page and the CSV read it."""
    item = feedback.item
    facts = deal_facts(item)
    return {
        "id": feedback.pk,
        "item_id": item.pk,
        "account_name": item.account.name,
        "domain": item.account.domain,
        "author": feedback.author.display_name,
        "outcome": feedback.outcome,
        "outcome_label": feedback.get_outcome_display(),
        "closed_at": facts["closed_at"],
        "pql_at": facts["pql_at"],
        "days_to_close": facts["days_to_close"],
        "arr": facts["arr"],
        "currency": facts["currency"],
        "other_currency": facts["other_currency"],
        "motion": facts["motion"],
        "trigger_signal": feedback.trigger_signal,
        "trigger_play": feedback.trigger_play_name,
        "trigger_note": feedback.trigger_note,
        "objections": [c.label for c in feedback.objections.all()],
        "objection_keys": [c.key for c in feedback.objections.all()],
        "objection_note": feedback.objection_note,
        "features": [features.get(f.key, f.key) for f in feedback.features.all()],
        "feature_keys": [f.key for f in feedback.features.all()],
        "feature_note": feedback.feature_note,
        "blockers": [c.label for c in feedback.blockers.all()],
        "blocker_keys": [c.key for c in feedback.blockers.all()],
        "self_serve_note": feedback.self_serve_note,
        "tags": [t.name for t in feedback.tags.all()],
        "created_at": feedback.created_at,
        "updated_at": feedback.updated_at,
    }
