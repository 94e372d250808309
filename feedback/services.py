"""Writes of the feedback loop: a rep's post-deal feedback (given once per won or lost
item, editable by its author for 14 days), PMs' tags and comments, and the monthly
report's freeze with its email to the PMs.

Times are passed in (``now``) so the editing window and the freeze are testable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import TrackingPlanEntry
from playbooks.models import Play
from pls_portal.models import Role, User

from .models import (
    Feedback,
    FeedbackCategory,
    FeedbackComment,
    FeedbackFeature,
    FeedbackTag,
    ReportSnapshot,
)
from .selectors_feedback import EDIT_DAYS, editable_until, feedback_items
from .selectors_report import last_complete_month, month_label, month_start, report_figures

logger = logging.getLogger(__name__)

MAX_TAGS = 20
TAG_LENGTH = 40
COMMENT_LENGTH = 2000
NOTE_LENGTH = 4000


class FeedbackError(Exception):
    """Feedback that cannot be saved, in words naming the field."""


class NotYours(FeedbackError):
    """The item or feedback is not the user's (views answer 404)."""


class FeedbackLocked(FeedbackError):
    """The author's editing window has closed."""


@dataclass(frozen=True)
class FeedbackInput:
    trigger_signal: str = ""
    trigger_play_id: int | None = None
    trigger_note: str = ""
    objection_ids: tuple[int, ...] = ()
    objection_note: str = ""
    feature_keys: tuple[str, ...] = ()
    feature_note: str = ""
    blocker_ids: tuple[int, ...] = ()
    self_serve_note: str = ""


def _clean(data: FeedbackInput, *, outcome: str, current: Feedback | None) -> dict:
    """The fields to store, or FeedbackError naming the first field that is wrong."""
    keep_categories = (
        {c.pk for c in current.objections.all()} | {c.pk for c in current.blockers.all()}
        if current
        else set()
    )
    keep_features = {f.key for f in current.features.all()} if current else set()
    signal, trigger_note = data.trigger_signal.strip(), data.trigger_note.strip()
    play = None
    if data.trigger_play_id:
        play = Play.objects.filter(pk=data.trigger_play_id).first()
        if play is None:
            raise FeedbackError("play: that play no longer exists; pick another or none")
    if not (signal or play or trigger_note):
        raise FeedbackError("trigger: say what triggered the deal (a signal or a play)")

    def categories(ids: tuple[int, ...], kind: str, field: str) -> list[FeedbackCategory]:
        found = list(FeedbackCategory.objects.filter(pk__in=set(ids), kind=kind))
        if any(not c.is_active and c.pk not in keep_categories for c in found) or len(found) != len(
            set(ids)
        ):
            raise FeedbackError(f"{field}: pick from the listed categories")
        return found

    objections = categories(data.objection_ids, FeedbackCategory.Kind.OBJECTION, "objections")
    blockers = categories(data.blocker_ids, FeedbackCategory.Kind.BLOCKER, "self-serve blockers")
    features = sorted({k.strip() for k in data.feature_keys if k.strip()})
    known = set(
        TrackingPlanEntry.objects.filter(
            category=TrackingPlanEntry.Category.FEATURE, key__in=features
        ).values_list("key", flat=True)
    )
    unknown = [k for k in features if k not in known and k not in keep_features]
    if unknown:
        raise FeedbackError(f"features: {', '.join(unknown)} is not a tracking-plan feature")
    notes = {
        "trigger_note": trigger_note,
        "objection_note": data.objection_note.strip(),
        "feature_note": data.feature_note.strip(),
        "self_serve_note": data.self_serve_note.strip(),
    }
    for name, text in notes.items():
        if len(text) > NOTE_LENGTH:
            label = name.removesuffix("_note").replace("_", "-")
            raise FeedbackError(f"{label} notes: at most {NOTE_LENGTH} characters")
    if outcome == Feedback.Outcome.LOST and not (objections or notes["objection_note"]):
        raise FeedbackError(
            "objections: a lost deal needs at least one objection (a category or in words)"
        )
    if not (blockers or notes["self_serve_note"]):
        raise FeedbackError(
            "self-serve: say what the customer would have needed to buy without sales "
            "(a blocker, or in words)"
        )
    return {
        "trigger_signal": signal[:300],
        "trigger_play": play,
        "trigger_play_name": play.name if play else "",
        **notes,
        "objections": objections,
        "blockers": blockers,
        "features": features,
    }


def _store(feedback: Feedback, values: dict) -> None:
    objections, blockers = values.pop("objections"), values.pop("blockers")
    features = values.pop("features")
    for name, value in values.items():
        setattr(feedback, name, value)
    feedback.save()
    feedback.objections.set(objections)
    feedback.blockers.set(blockers)
    FeedbackFeature.objects.filter(feedback=feedback).exclude(key__in=features).delete()
    FeedbackFeature.objects.bulk_create(
        [FeedbackFeature(feedback=feedback, key=key) for key in features], ignore_conflicts=True
    )


def feedback_submit(*, item_id: int, author: User, data: FeedbackInput, now: datetime) -> Feedback:
    """Give the feedback a won or lost item owes; once per item."""
    try:
        with transaction.atomic():
            item = (
                feedback_items(user=author)
                .select_for_update(of=("self",))
                .filter(pk=item_id)
                .first()
            )
            if item is None:
                raise NotYours(item_id)
            other = Feedback.objects.select_related("author").filter(item=item).first()
            if other is not None:
                raise FeedbackError(
                    f"feedback on this deal was already given by {other.author.display_name}"
                )
            values = _clean(data, outcome=item.state, current=None)
            feedback = Feedback(
                item=item, author=author, outcome=item.state, created_at=now, updated_at=now
            )
            _store(feedback, values)
    except IntegrityError:
        # Two submissions raced; the one-per-item constraint kept the first.
        raise FeedbackError("feedback on this deal was already given") from None
    logger.info("feedback given item_id=%s author=%s", item_id, author.pk)
    return feedback


def feedback_update(
    *, feedback_id: int, author: User, data: FeedbackInput, now: datetime
) -> Feedback:
    """The author corrects their feedback within the editing window."""
    with transaction.atomic():
        feedback = (
            Feedback.objects.select_for_update(of=("self",))
            .filter(pk=feedback_id, author=author)
            .prefetch_related("objections", "blockers", "features")
            .first()
        )
        if feedback is None:
            raise NotYours(feedback_id)
        until = editable_until(feedback)
        if now >= until:
            raise FeedbackLocked(
                f"this feedback can no longer be edited: the {EDIT_DAYS}-day editing window "
                f"closed on {until:%Y-%m-%d %H:%M} UTC. A PM can still comment on it."
            )
        values = _clean(data, outcome=feedback.outcome, current=feedback)
        values["updated_at"] = now
        _store(feedback, values)
    return feedback


def _require_pm(user: User) -> None:
    if user.role not in (Role.PM, Role.ADMIN):
        raise NotYours("only PMs tag and comment on feedback")


def tags_parse(text: str) -> list[str]:
    """``"Pricing, SSO ,pricing"`` → ``["pricing", "sso"]``: free tags, lower case."""
    tags: list[str] = []
    for raw in text.split(","):
        tag = " ".join(raw.split()).lower()
        if not tag:
            continue
        if len(tag) > TAG_LENGTH:
            raise FeedbackError(f"tags: “{tag[:20]}…” is longer than {TAG_LENGTH} characters")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise FeedbackError(f"tags: at most {MAX_TAGS} tags")
    return tags


def feedback_tags_set(*, feedback_id: int, user: User, tags: list[str], now: datetime) -> list[str]:
    """A PM sets the feedback's tags (added ones keep who added them)."""
    _require_pm(user)
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().filter(pk=feedback_id).first()
        if feedback is None:
            raise NotYours(feedback_id)
        FeedbackTag.objects.filter(feedback=feedback).exclude(name__in=tags).delete()
        FeedbackTag.objects.bulk_create(
            [FeedbackTag(feedback=feedback, name=t, added_by=user, added_at=now) for t in tags],
            ignore_conflicts=True,
        )
    return sorted(tags)


def feedback_comment_add(
    *, feedback_id: int, user: User, text: str, now: datetime
) -> FeedbackComment:
    _require_pm(user)
    text = text.strip()
    if not text:
        raise FeedbackError("comment: write something first")
    if len(text) > COMMENT_LENGTH:
        raise FeedbackError(f"comment: at most {COMMENT_LENGTH} characters ({len(text)} given)")
    if not Feedback.objects.filter(pk=feedback_id).exists():
        raise NotYours(feedback_id)
    return FeedbackComment.objects.create(
        feedback_id=feedback_id, author=user, text=text, created_at=now
    )


# --- the monthly freeze -------------------------------------------------------------------


@dataclass(frozen=True)
class FreezeResult:
    month: date
    frozen: bool  # a snapshot was made by this call
    emailed: int  # PMs emailed by this call

    @property
    def summary(self) -> str:
        made = "frozen" if self.frozen else "already frozen"
        return f"report {self.month:%Y-%m} {made}; {self.emailed} PM(s) emailed"


def report_url(month: date) -> str:
    base = getattr(settings, "PLS_BASE_URL", "") or "http://localhost:8000"
    return f"{base.rstrip('/')}{reverse('feedback:report')}?month={month:%Y-%m}"


def _email_text(month: date, figures: dict) -> tuple[str, str]:
    label = month_label(month)
    lines = [
        f"The PM report for {label} is frozen.",
        "",
        f"Deals closed from the queue: {figures['closed']}; with feedback: {figures['feedback']}.",
    ]
    for key, title in (
        ("objections", "Top objection"),
        ("features", "Top requested feature"),
        ("blockers", "Top self-serve blocker"),
    ):
        top = figures[key][0] if figures[key] else None
        if top and top["counts"][0]:
            lines.append(f"{title}: {top['label']} ({top['counts'][0]}).")
    lines += ["", f"Read it: {report_url(month)}"]
    return f"PLS Portal: the {label} PM report", "\n".join(lines)


def report_freeze(*, month: date, now: datetime) -> FreezeResult:
    """Store the month's figures once and email the PMs the link once. Running it again
    changes nothing and sends nothing; a run that failed to email retries the email."""
    if month >= month_start(now.date()):
        raise FeedbackError(f"month: {month:%Y-%m} has not ended; only past months are frozen")
    frozen = False
    if not ReportSnapshot.objects.filter(month=month).exists():
        figures = report_figures(month=month)
        try:
            with transaction.atomic():
                _, frozen = ReportSnapshot.objects.get_or_create(
                    month=month, defaults={"figures": figures, "frozen_at": now}
                )
        except IntegrityError:  # another run froze it first
            frozen = False
    emailed = 0
    with transaction.atomic():
        snapshot = ReportSnapshot.objects.select_for_update().get(month=month)
        if snapshot.emailed_at is None:
            recipients = list(
                User.objects.filter(role=Role.PM, is_active=True)
                .exclude(email="")
                .order_by("email")
                .values_list("email", flat=True)
            )
            if recipients:
                subject, body = _email_text(month, snapshot.figures)
                emailed = send_mail(subject, body, None, recipients) and len(recipients)
            snapshot.emailed_at = now
            snapshot.save(update_fields=["emailed_at"])
    logger.info("report freeze month=%s frozen=%s emailed=%s", f"{month:%Y-%m}", frozen, emailed)
    return FreezeResult(month=month, frozen=frozen, emailed=emailed)


def report_freeze_previous_month(*, now: datetime) -> FreezeResult:
    """The beat's job on the 1st: freeze the month that just ended."""
    return report_freeze(month=last_complete_month(now.date()), now=now)
