"""Reads for the monthly PM report: the month picker, the month's figures (live or from
its frozen snapshot), and the drill-down list and CSV export of its feedback entries.

The report counts by the month a queue item closed (UTC), against each of the three
months before: a fixed number of aggregate queries whatever the volume.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Lower

from accounts.models import Deal
from scoring.models import QueueItem

from .models import Feedback, FeedbackFeature, FeedbackTag, ReportSnapshot
from .selectors_feedback import feature_labels, feedback_with_details

State = QueueItem.State
PREVIOUS_MONTHS = 3
TOP_REASONS = 5
# Why items left the queue, in the order the report lists them.
EXIT_STATES = (
    State.WON,
    State.LOST,
    State.DISQUALIFIED,
    State.BACKED_OFF,
    State.HANDED_TO_MARKETING,
    State.EXPIRED,
    State.NOT_QUALIFIED,
    State.SELF_SERVED,
)
# States whose close reasons the report lists (the rep's words or the sweep's).
REASON_STATES = (
    State.DISQUALIFIED,
    State.BACKED_OFF,
    State.LOST,
    State.HANDED_TO_MARKETING,
    State.NOT_QUALIFIED,
)


# --- months -------------------------------------------------------------------------------


class MonthError(ValueError):
    """A month that cannot be reported on, in words naming the field."""


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC."""
    return (
        datetime.combine(month, time.min, tzinfo=UTC),
        datetime.combine(month_add(month, 1), time.min, tzinfo=UTC),
    )


def last_complete_month(today: date) -> date:
    return month_add(month_start(today), -1)


def month_parse(text: str, *, today: date) -> date:
    """``YYYY-MM`` → the month's first day; a clear error naming the field otherwise.
    The month in progress may be read; a month that has not started may not."""
    text = (text or "").strip()
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match:
        raise MonthError(f"month: “{text[:20]}” is not a month; write it as YYYY-MM (e.g. 2026-10)")
    year, number = int(match[1]), int(match[2])
    if not 1 <= number <= 12:
        raise MonthError(f"month: {text} has no month {number:02d}; months run from 01 to 12")
    if year < 2000:
        raise MonthError("month: reports start in 2000-01")
    month = date(year, number, 1)
    if month > month_start(today):
        raise MonthError(
            f"month: {text} has not started yet; pick {month_start(today):%Y-%m} or earlier"
        )
    return month


def month_label(month: date) -> str:
    return f"{month:%B %Y}"


# --- the drill-down and CSV export ------------------------------------------------------


@dataclass(frozen=True)
class EntryFilters:
    outcome: str = ""
    objection: str = ""
    blocker: str = ""
    feature: str = ""
    tag: str = ""

    @property
    def any(self) -> bool:
        return any((self.outcome, self.objection, self.blocker, self.feature, self.tag))

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def report_entries(*, month: date, filters: EntryFilters) -> QuerySet[Feedback]:
    """The month's feedback (by the item's close), filtered, newest close first."""
    start, end = month_bounds(month)
    entries = Feedback.objects.filter(item__closed_at__gte=start, item__closed_at__lt=end)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    if filters.objection:
        entries = entries.filter(objections__key=filters.objection)
    if filters.blocker:
        entries = entries.filter(blockers__key=filters.blocker)
    if filters.feature:
        entries = entries.filter(features__key=filters.feature)
    if filters.tag:
        entries = entries.filter(tags__name=filters.tag)
    return feedback_with_details(
        entries.select_related("author", "item__account", "item__deal").order_by(
            "-item__closed_at", "-pk"
        )
    )


def tag_names() -> list[str]:
    return list(FeedbackTag.objects.order_by("name").values_list("name", flat=True).distinct())


# --- the monthly report -------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    month: date
    figures: dict
    frozen_at: datetime | None
    in_progress: bool


def report_for(*, month: date, today: date) -> Report:
    """A frozen month reads its snapshot; any other month is counted live."""
    snapshot = ReportSnapshot.objects.filter(month=month).first()
    if snapshot is not None:
        return Report(month, snapshot.figures, snapshot.frozen_at, False)
    return Report(month, report_figures(month=month), None, month == month_start(today))


def _change(values: list) -> float | None:
    """This month against the mean of the three before (None when it cannot be said)."""
    previous = [v for v in values[1:] if v is not None]
    if values[0] is None or not previous:
        return None
    return round(values[0] - sum(previous) / len(previous), 1)


def _counted(rows: list[dict], key, label, months: int) -> list[dict]:
    """Rows with ``n0``…``n3`` counts → the report's shape, most frequent first."""
    out = []
    for row in rows:
        counts = [row[f"n{i}"] for i in range(months)]
        if not any(counts):
            continue
        previous = counts[1:]
        out.append(
            {
                "key": key(row),
                "label": label(row),
                "counts": counts,
                "previous_mean": round(sum(previous) / len(previous), 1) if previous else 0,
                "change": _change(counts),
            }
        )
    out.sort(key=lambda r: (-r["counts"][0], -r["previous_mean"], r["label"]))
    return out


def _in_month(bounds: tuple[datetime, datetime], path: str = "closed_at") -> Q:
    return Q(**{f"{path}__gte": bounds[0], f"{path}__lt": bounds[1]})


def _money(value) -> float:
    return round(float(value or 0), 2)


def report_figures(*, month: date) -> dict:
    """Every figure of the month's report, JSON-ready (it is what a freeze stores)."""
    months = [month_add(month, -i) for i in range(PREVIOUS_MONTHS + 1)]
    bounds = [month_bounds(m) for m in months]
    span = (bounds[-1][0], bounds[0][1])
    n = len(months)
    currency = settings.PLS_CURRENCY

    # 1. Queue items closed, by state and month, with their feedback and won ARR.
    items = {
        row["state"]: row
        for row in QueueItem.objects.filter(_in_month(span))
        .values("state")
        .annotate(
            **{f"n{i}": Count("pk", filter=_in_month(b)) for i, b in enumerate(bounds)},
            **{f"fb{i}": Count("feedback", filter=_in_month(b)) for i, b in enumerate(bounds)},
            **{
                f"arr{i}": Sum("deal__arr", filter=_in_month(b) & Q(deal__currency=currency))
                for i, b in enumerate(bounds)
            },
        )
        .order_by()
    }

    def per_month(state: str, prefix: str = "n") -> list:
        row = items.get(state)
        return [(row[f"{prefix}{i}"] or 0) if row else 0 for i in range(n)]

    won, lost = per_month(State.WON), per_month(State.LOST)
    feedback = [
        a + b for a, b in zip(per_month(State.WON, "fb"), per_month(State.LOST, "fb"), strict=True)
    ]
    coverage = [
        round(100 * f / (w + lo), 1) if (w + lo) else None
        for f, w, lo in zip(feedback, won, lost, strict=True)
    ]
    won_arr = [_money(v) for v in per_month(State.WON, "arr")]

    # 2. Time to close of the won items: PQL (item created) → deal closed.
    days: list[list[float]] = [[] for _ in range(n)]
    for closed_at, created_at, deal_closed_at in QueueItem.objects.filter(
        _in_month(span), state=State.WON
    ).values_list("closed_at", "created_at", "deal__closed_at"):
        for i, b in enumerate(bounds):
            if b[0] <= closed_at < b[1]:
                end = deal_closed_at or closed_at
                days[i].append(max((end - created_at).total_seconds() / 86400, 0.0))
    median_days = [round(statistics.median(d), 1) if d else None for d in days]

    # 3. Every sales-assisted deal closed (CRM imports included); other currencies apart.
    deals = {
        row["stage"]: row
        for row in Deal.objects.filter(
            _in_month(span),
            motion=Deal.Motion.SALES_ASSISTED,
            stage__in=[Deal.Stage.WON, Deal.Stage.LOST],
        )
        .values("stage")
        .annotate(
            **{
                f"n{i}": Count("pk", filter=_in_month(b) & Q(currency=currency))
                for i, b in enumerate(bounds)
            },
            **{
                f"x{i}": Count("pk", filter=_in_month(b) & ~Q(currency=currency))
                for i, b in enumerate(bounds)
            },
        )
        .order_by()
    }

    def deal_counts(stage: str, prefix: str = "n") -> list[int]:
        row = deals.get(stage)
        return [row[f"{prefix}{i}"] if row else 0 for i in range(n)]

    # This month's deals in another currency: flagged and left out of every figure.
    other_currency = deal_counts(Deal.Stage.WON, "x")[0] + deal_counts(Deal.Stage.LOST, "x")[0]

    def summary(key: str, label: str, values: list, fmt: str = "int") -> dict:
        return {
            "key": key,
            "label": label,
            "values": values,
            "change": _change(values),
            "format": fmt,
        }

    # 4. Objections, blockers and requested features in the feedback of each month.
    feedback_span = _in_month(span, "feedback__item__closed_at")
    month_counts = {
        f"n{i}": Count("pk", filter=_in_month(b, "feedback__item__closed_at"))
        for i, b in enumerate(bounds)
    }
    categories = {}
    for kind, through, column in (
        ("objections", Feedback.objections.through, "feedbackcategory"),
        ("blockers", Feedback.blockers.through, "feedbackcategory"),
    ):
        rows = list(
            through.objects.filter(feedback_span)
            .values(f"{column}__key", f"{column}__label")
            .annotate(**month_counts)
            .order_by()
        )
        categories[kind] = _counted(
            rows,
            key=lambda r, c=column: r[f"{c}__key"],
            label=lambda r, c=column: r[f"{c}__label"],
            months=n,
        )
    labels = feature_labels()
    feature_rows = (
        FeedbackFeature.objects.filter(feedback_span)
        .values("key")
        .annotate(**month_counts)
        .order_by()
    )
    features = _counted(
        list(feature_rows),
        key=lambda r: r["key"],
        label=lambda r: labels.get(r["key"], r["key"]),
        months=n,
    )

    # 5. Why items left the queue: every closing state, then the month's top reasons.
    exits = []
    for state in EXIT_STATES:
        counts = per_month(state)
        if any(counts):
            exits.append(
                {
                    "key": State(state).value,
                    "label": State(state).label,
                    "counts": counts,
                    "previous_mean": round(sum(counts[1:]) / (n - 1), 1),
                    "change": _change(counts),
                }
            )
    reasons: dict[str, list[dict]] = {}
    for row in (
        QueueItem.objects.filter(_in_month(bounds[0]), state__in=REASON_STATES)
        .values("state", reason=Lower("close_reason"))
        .annotate(count=Count("pk"))
        .order_by("-count", "reason")
    ):
        shown = reasons.setdefault(row["state"], [])
        if len(shown) < TOP_REASONS:
            shown.append({"reason": _reason_text(row["reason"]), "count": row["count"]})
    exit_reasons = [
        {"key": State(state).value, "label": State(state).label, "reasons": reasons[state]}
        for state in REASON_STATES
        if state in reasons
    ]

    return {
        "month": f"{month:%Y-%m}",
        "months": [f"{m:%Y-%m}" for m in months],
        "month_labels": [f"{m:%b %Y}" for m in months],
        "currency": currency,
        "closed": won[0] + lost[0],
        "feedback": feedback[0],
        "summary": [
            summary("won", "Closed won from the queue", won),
            summary("lost", "Closed lost from the queue", lost),
            summary("feedback", "Feedback given", feedback),
            summary("coverage", "Closed deals with feedback", coverage, "pct"),
            summary("won_arr", f"Won ARR from the queue ({currency})", won_arr, "money"),
            summary("days_to_close", "Median days from PQL to close (won)", median_days, "days"),
            summary(
                "deals_won", "Sales-assisted deals won (all sources)", deal_counts(Deal.Stage.WON)
            ),
            summary(
                "deals_lost",
                "Sales-assisted deals lost (all sources)",
                deal_counts(Deal.Stage.LOST),
            ),
        ],
        "other_currency_deals": other_currency,
        "objections": categories["objections"],
        "features": features,
        "blockers": categories["blockers"],
        "exits": exits,
        "exit_reasons": exit_reasons,
    }


def _reason_text(reason: str) -> str:
    """``disqualified: agency, no budget`` → ``agency, no budget`` (the state says the rest)."""
    head, sep, rest = reason.partition(": ")
    text = rest if sep and head in {"disqualified", "lost", "handed to marketing"} else reason
    return text[:1].upper() + text[1:]
