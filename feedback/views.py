"""Post-deal feedback pages (reps give it, PMs tag and comment) and the monthly PM report
with its drill-down and CSV export. PLS metrics have their own page."""

from __future__ import annotations

import csv
from datetime import date
from urllib.parse import urlencode

import plotly.graph_objects as go
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pls_portal.models import Role
from pls_portal.permissions import pm_required, rep_required, role_required

from . import selectors
from .forms import CommentForm, EntryFilterForm, FeedbackForm, TagsForm, form_error
from .models import FeedbackCategory
from .selectors import (
    EDIT_DAYS,
    MonthError,
    can_edit,
    category_choices,
    deal_facts,
    editable_until,
    entry_row,
    existing_feedback,
    feature_labels,
    feedback_given,
    feedback_item,
    feedback_prefill,
    last_complete_month,
    month_add,
    month_label,
    month_parse,
    month_start,
    my_work,
    play_choices,
    report_for,
    tag_names,
)
from .services import (
    FeedbackError,
    FeedbackLocked,
    NotYours,
    feedback_comment_add,
    feedback_submit,
    feedback_tags_set,
    feedback_update,
    tags_parse,
)

REPORT = "feedback/report.html"
ENTRIES_PER_PAGE = 50
CHART_ROWS = 8
PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}
EXIT_COLOURS = {
    "won": "#16a34a",
    "lost": "#dc2626",
    "disqualified": "#6b7280",
    "backed_off": "#f59e0b",
    "marketing": "#8b5cf6",
    "expired": "#94a3b8",
    "not_qualified": "#0ea5e9",
    "self_served": "#2563eb",
}


# --- the monthly report -------------------------------------------------------------------


def _month(request: HttpRequest) -> tuple[date | None, str]:
    """(month, error) from ``?month=YYYY-MM``; the last complete month by default."""
    today = timezone.now().date()
    raw = request.GET.get("month", "").strip()
    if not raw:
        return last_complete_month(today), ""
    try:
        return month_parse(raw, today=today), ""
    except MonthError as exc:
        return None, str(exc)


def _month_nav(month) -> dict:
    today = timezone.now().date()
    newer = month_add(month, 1)
    return {
        "value": f"{month:%Y-%m}",
        "label": month_label(month),
        "older": f"{month_add(month, -1):%Y-%m}",
        "newer": f"{newer:%Y-%m}" if newer <= month_start(today) else "",
        "max": f"{month_start(today):%Y-%m}",
    }


@require_GET
@pm_required
def report(request: HttpRequest) -> HttpResponse:
    """The PM's landing page: the monthly feedback report."""
    month, error = _month(request)
    if error:
        context = {"error": error, "raw_month": request.GET.get("month", "")[:20]}
        context["nav"] = _month_nav(last_complete_month(timezone.now().date()))
        return render(request, REPORT, context, status=400)
    result = report_for(month=month, today=timezone.now().date())
    figures = result.figures
    context = {
        "nav": _month_nav(month),
        "report": result,
        "figures": figures,
        "display": _display(figures),
        "charts": _charts(figures),
        "query": f"month={month:%Y-%m}",
    }
    return render(request, REPORT, context)


def _number(value, fmt: str, currency: str, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = ""
    if signed:
        if value == 0:
            return "±0"
        sign, value = ("+", value) if value > 0 else ("−", -value)
    if fmt == "money":
        text = f"${value:,.0f}" if currency == "USD" else f"{value:,.0f} {currency}"
    elif fmt == "pct":
        text = f"{value:.0f} %" if not signed else f"{value:.1f} pts"
    elif fmt == "days":
        text = f"{value:.1f} days"
    else:
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return sign + text


def _direction(change) -> str:
    if not change:
        return "flat"
    return "up" if change > 0 else "down"


def _display(figures: dict) -> dict:
    """The figures as the page writes them: formatted cells and the change in words."""
    currency = figures["currency"]
    summary = [
        {
            "key": row["key"],
            "label": row["label"],
            "cells": [_number(v, row["format"], currency) for v in row["values"]],
            "change": _number(row["change"], row["format"], currency, signed=True),
            "direction": _direction(row["change"]),
        }
        for row in figures["summary"]
    ]

    def ranked(rows: list[dict]) -> list[dict]:
        out = []
        for row in rows:
            new = row["previous_mean"] == 0 and row["counts"][0] > 0
            out.append(
                {
                    **row,
                    "change_text": "new"
                    if new
                    else _number(row["change"], "int", currency, signed=True),
                    "direction": "up" if new else _direction(row["change"]),
                }
            )
        return out

    return {
        "summary": summary,
        **{key: ranked(figures[key]) for key in ("objections", "features", "blockers", "exits")},
    }


def _versus_chart(rows: list[dict], *, div_id: str, labels: list[str]) -> str:
    """This month against the mean of the three before, most frequent on top."""
    rows = rows[:CHART_ROWS][::-1]
    largest = max([r["counts"][0] for r in rows] + [r["previous_mean"] for r in rows], default=0)
    fig = go.Figure()
    fig.add_bar(
        y=[r["label"] for r in rows],
        x=[r["previous_mean"] for r in rows],
        name=f"Mean of {labels[-1]} – {labels[1]}",
        orientation="h",
        marker_color="#cbd5e1",
    )
    fig.add_bar(
        y=[r["label"] for r in rows],
        x=[r["counts"][0] for r in rows],
        name=labels[0],
        orientation="h",
        marker_color="#2563eb",
    )
    fig.update_layout(
        barmode="group",
        height=90 + 46 * len(rows),
        margin={"l": 10, "r": 20, "t": 10, "b": 30},
        legend={"orientation": "h", "y": -0.12, "traceorder": "reversed"},
        # Whole counts: small ones get a tick per unit, not 0.5 steps.
        xaxis={"rangemode": "tozero", "dtick": 1 if largest <= 10 else None},
        yaxis={"automargin": True},
        template="none",
        plot_bgcolor="white",
    )
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG)


def _exits_chart(figures: dict) -> str:
    """Why items left the queue, month by month (oldest left), one bar per reason."""
    months = figures["month_labels"][::-1]
    fig = go.Figure()
    for row in figures["exits"]:
        fig.add_bar(
            x=months,
            y=row["counts"][::-1],
            name=row["label"],
            marker_color=EXIT_COLOURS.get(row["key"], "#9ca3af"),
        )
    fig.update_layout(
        barmode="stack",
        height=340,
        margin={"l": 50, "r": 20, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        xaxis={"type": "category"},
        yaxis={"title": {"text": "Queue items closed"}, "rangemode": "tozero"},
        template="none",
        plot_bgcolor="white",
    )
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id="report-exits-chart", config=PLOTLY_CONFIG
    )


def _charts(figures: dict) -> dict[str, str]:
    labels = figures["month_labels"]
    charts = {
        key: _versus_chart(figures[key], div_id=f"report-{key}-chart", labels=labels)
        for key in ("objections", "features", "blockers")
        if figures[key]
    }
    if figures["exits"]:
        charts["exits"] = _exits_chart(figures)
    return charts


def _entries_filters(request: HttpRequest) -> tuple[EntryFilterForm, dict[str, str]]:
    features = feature_labels()
    categories = list(FeedbackCategory.objects.all())
    return EntryFilterForm(request.GET, categories=categories, features=features), features


@require_GET
@pm_required
def report_entries(request: HttpRequest) -> HttpResponse:
    """Drill-down: the month's feedback entries, filtered by what the report counted."""
    month, error = _month(request)
    form, features = _entries_filters(request)
    if error:
        context = {"error": error, "form": form, "tags": tag_names()}
        return render(request, "feedback/entries.html", context, status=400)
    filters = form.filters()
    paginator = Paginator(selectors.report_entries(month=month, filters=filters), ENTRIES_PER_PAGE)
    page = paginator.get_page(request.GET.get("page", 1))
    query = {"month": f"{month:%Y-%m}", **filters.as_query()}
    context = {
        "form": form,
        "filters": filters,
        "nav": _month_nav(month),
        "rows": [entry_row(f, features=features) for f in page.object_list],
        "page": page,
        "query": urlencode(query),
        "tags": tag_names(),
    }
    return render(request, "feedback/entries.html", context)


CSV_COLUMNS = [
    ("feedback_id", "id"),
    ("queue_item_id", "item_id"),
    ("account", "account_name"),
    ("domain", "domain"),
    ("rep", "author"),
    ("outcome", "outcome"),
    ("pql_at", "pql_at"),
    ("closed_at", "closed_at"),
    ("days_to_close", "days_to_close"),
    ("deal_arr", "arr"),
    ("currency", "currency"),
    ("motion", "motion"),
    ("trigger_signal", "trigger_signal"),
    ("trigger_play", "trigger_play"),
    ("trigger_notes", "trigger_note"),
    ("objections", "objection_keys"),
    ("objection_notes", "objection_note"),
    ("features_requested", "feature_keys"),
    ("feature_notes", "feature_note"),
    ("self_serve_blockers", "blocker_keys"),
    ("self_serve_needs", "self_serve_note"),
    ("tags", "tags"),
    ("given_at", "created_at"),
    ("updated_at", "updated_at"),
]


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    text = str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@pm_required
def report_export(request: HttpRequest) -> HttpResponse:
    """The month's feedback (with the drill-down's filters) as CSV."""
    month, error = _month(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    form, features = _entries_filters(request)
    entries = selectors.report_entries(month=month, filters=form.filters())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pls-feedback-{month:%Y-%m}.csv"'
    writer = csv.writer(response)
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for feedback in entries:
        row = entry_row(feedback, features=features)
        writer.writerow([_csv_cell(row[key]) for _, key in CSV_COLUMNS])
    return response


# --- a rep's feedback ---------------------------------------------------------------------


@require_GET
@rep_required
def feedback_mine(request: HttpRequest) -> HttpResponse:
    """The rep's closed deals waiting for feedback, and the feedback they gave."""
    now = timezone.now()
    given = [
        {
            "feedback": f,
            "editable": can_edit(f, user=request.user, now=now),
            "until": editable_until(f),
        }
        for f in feedback_given(user=request.user)
    ]
    context = {"work": my_work(user=request.user), "given": given, "edit_days": EDIT_DAYS}
    return render(request, "feedback/mine.html", context)


def _form(item, feedback, data=None) -> FeedbackForm:
    keep_categories = (
        [c.pk for c in feedback.objections.all()] + [c.pk for c in feedback.blockers.all()]
        if feedback
        else []
    )
    features = feature_labels()
    for f in feedback.features.all() if feedback else []:
        features.setdefault(f.key, f.key)
    return FeedbackForm(
        data,
        initial=FeedbackForm.initial_of(feedback) if feedback else feedback_prefill(item=item),
        plays=play_choices(keep=feedback.trigger_play_id if feedback else None),
        objections=category_choices(FeedbackCategory.Kind.OBJECTION, keep=keep_categories),
        blockers=category_choices(FeedbackCategory.Kind.BLOCKER, keep=keep_categories),
        features=features,
        reasons=list(item.reasons or []),
    )


@require_http_methods(["GET", "POST"])
@rep_required
def feedback_give(request: HttpRequest, item_id: int) -> HttpResponse:
    """The feedback form of a won or lost item: given once, then edited by its author
    for 14 days; read-only after that (or for anyone else)."""
    item = feedback_item(user=request.user, item_id=item_id)
    if item is None:
        raise Http404("No such closed deal of yours.")
    now = timezone.now()
    feedback = existing_feedback(item_id=item.pk)
    context = {
        "item": item,
        "facts": deal_facts(item),
        "feedback": feedback,
        "edit_days": EDIT_DAYS,
    }
    if feedback is not None and not can_edit(feedback, user=request.user, now=now):
        return _read_only(
            request, context, feedback, status=403 if request.method == "POST" else 200
        )
    if request.method == "GET":
        context["form"] = _form(item, feedback)
        return render(request, "feedback/form.html", context)

    form = _form(item, feedback, request.POST)
    context["form"] = form
    if not form.is_valid():
        context["error"] = form_error(form)
        return render(request, "feedback/form.html", context, status=400)
    try:
        if feedback is None:
            saved = feedback_submit(
                item_id=item.pk, author=request.user, data=form.to_input(), now=now
            )
        else:
            saved = feedback_update(
                feedback_id=feedback.pk, author=request.user, data=form.to_input(), now=now
            )
    except NotYours:
        raise Http404("No such closed deal of yours.") from None
    except FeedbackLocked:
        return _read_only(request, context, feedback, status=403)
    except FeedbackError as exc:
        context["error"] = str(exc)
        return render(request, "feedback/form.html", context, status=400)
    until = editable_until(saved)
    messages.success(
        request,
        f"Feedback on {item.account.name} saved. You can edit it until {until:%Y-%m-%d %H:%M} UTC.",
    )
    return redirect(reverse("feedback:feedback_mine"))


def _read_only(request, context: dict, feedback, *, status: int) -> HttpResponse:
    context["entry"] = entry_row(feedback, features=feature_labels())
    if feedback.author_id == request.user.pk:
        context["locked"] = (
            f"You can no longer edit this feedback: the {EDIT_DAYS}-day editing window closed "
            f"on {editable_until(feedback):%Y-%m-%d %H:%M} UTC. A PM can still comment on it."
        )
    else:
        context["locked"] = (
            f"{feedback.author.display_name} gave the feedback on this deal; only they can edit it."
        )
    return render(request, "feedback/form.html", context, status=status)


# --- one feedback entry (authors read it, PMs tag and comment) ----------------------------


def _detail_context(request: HttpRequest, feedback, **extra) -> dict:
    is_pm = request.user.role in (Role.PM, Role.ADMIN)
    tags = [t.name for t in feedback.tags.all()]
    return {
        "entry": entry_row(feedback, features=feature_labels()),
        "feedback": feedback,
        "comments": list(feedback.comments.all()),
        "is_pm": is_pm,
        "editable": can_edit(feedback, user=request.user, now=timezone.now()),
        "until": editable_until(feedback),
        "tags_form": TagsForm(initial={"tags": ", ".join(tags)}) if is_pm else None,
        "comment_form": CommentForm() if is_pm else None,
        **extra,
    }


@require_GET
@role_required(Role.REP, Role.PM, Role.ADMIN)
def feedback_detail(request: HttpRequest, feedback_id: int) -> HttpResponse:
    feedback = selectors.feedback_detail(user=request.user, feedback_id=feedback_id)
    if feedback is None:
        raise Http404("No such feedback.")
    return render(request, "feedback/detail.html", _detail_context(request, feedback))


def _pm_answer(request: HttpRequest, feedback_id: int, part: str, error: str = "", **forms):
    """After a tag or comment: the part again (htmx), else back to the entry."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("feedback:feedback_detail", args=[feedback_id]))
    feedback = selectors.feedback_detail(user=request.user, feedback_id=feedback_id)
    context = _detail_context(request, feedback, error=error, part=part)
    context.update(forms)
    return render(request, f"feedback/detail.html#{part}", context, status=400 if error else 200)


@require_POST
@pm_required
def feedback_tags(request: HttpRequest, feedback_id: int) -> HttpResponse:
    form = TagsForm(request.POST)
    if not form.is_valid():
        return _pm_answer(request, feedback_id, "tags", form_error(form), tags_form=form)
    try:
        feedback_tags_set(
            feedback_id=feedback_id,
            user=request.user,
            tags=tags_parse(form.cleaned_data["tags"]),
            now=timezone.now(),
        )
    except NotYours:
        raise Http404("No such feedback.") from None
    except FeedbackError as exc:
        return _pm_answer(request, feedback_id, "tags", str(exc), tags_form=form)
    return _pm_answer(request, feedback_id, "tags")


@require_POST
@pm_required
def feedback_comment(request: HttpRequest, feedback_id: int) -> HttpResponse:
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _pm_answer(request, feedback_id, "comments", form_error(form), comment_form=form)
    try:
        feedback_comment_add(
            feedback_id=feedback_id,
            user=request.user,
            text=form.cleaned_data["text"],
            now=timezone.now(),
        )
    except NotYours:
        raise Http404("No such feedback.") from None
    except FeedbackError as exc:
        return _pm_answer(request, feedback_id, "comments", str(exc), comment_form=form)
    return _pm_answer(request, feedback_id, "comments")
