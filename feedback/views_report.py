"""The monthly PM report (the PM's landing page) with its drill-down and CSV export."""

from __future__ import annotations

import csv
from datetime import date
from urllib.parse import urlencode

import plotly.graph_objects as go
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from pls_portal.permissions import pm_required

from . import selectors_report
from .forms import EntryFilterForm
from .models import FeedbackCategory
from .selectors_feedback import entry_row, feature_labels
from .selectors_report import (
    MonthError,
    last_complete_month,
    month_add,
    month_label,
    month_parse,
    month_start,
    report_for,
    tag_names,
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
    paginator = Paginator(
        selectors_report.report_entries(month=month, filters=filters), ENTRIES_PER_PAGE
    )
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
    entries = selectors_report.report_entries(month=month, filters=form.filters())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pls-feedback-{month:%Y-%m}.csv"'
    writer = csv.writer(response)
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for feedback in entries:
        row = entry_row(feedback, features=features)
        writer.writerow([_csv_cell(row[key]) for _, key in CSV_COLUMNS])
    return response
