"""The backtest pages: start one for a rule set, then follow it and read its result."""

from __future__ import annotations

import plotly.graph_objects as go
from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from pls_portal.models import Job
from pls_portal.permissions import pm_required
from scoring.models import RuleSet
from scoring.services import backtest as service


class BacktestForm(forms.Form):
    weeks = forms.IntegerField(
        label="Weeks of history",
        min_value=1,
        max_value=service.WEEKS_MAX,
        required=False,
        help_text=f"Routes as of the end of each of the last 1–{service.WEEKS_MAX} weeks.",
        widget=forms.NumberInput(attrs={"placeholder": service.WEEKS_DEFAULT}),
    )

    def clean_weeks(self) -> int:
        return self.cleaned_data["weeks"] or service.WEEKS_DEFAULT


@require_POST
@pm_required
def backtest_start(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    """Queue a backtest of the rule set (from the rule editor or a backtest page) and go
    to its page; bad input re-renders the form with the message (400)."""
    rule_set = get_object_or_404(RuleSet, pk=rule_set_id)
    form = BacktestForm(request.POST)
    if form.is_valid():
        try:
            job = service.backtest_start(
                rule_set_id=rule_set.pk, user=request.user, weeks=form.cleaned_data["weeks"]
            )
        except service.BacktestError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Backtest started. This page follows its progress.")
            url = reverse("scoring:backtest", kwargs={"job_id": job.pk})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return render(
        request,
        "scoring/backtest.html",
        {"rule_set": rule_set, "form": form, "start_id": rule_set.pk},
        status=400,
    )


@require_GET
@pm_required
def backtest(request: HttpRequest, job_id: int) -> HttpResponse:
    """The backtest Job: its progress bar while it runs (htmx polls the status partial),
    then its result."""
    try:
        job = service.backtest_job_get(user=request.user, job_id=job_id)
    except Job.DoesNotExist:
        raise Http404("No such backtest.") from None
    result = job.result if job.state == Job.State.DONE and job.result else None
    context = {
        "job": job,
        "params": job.params,
        "result": result,
        "chart": _chart(result) if result else "",
        "form": BacktestForm(initial={"weeks": job.params.get("weeks")}),
        "start_id": job.params.get("rule_set_id"),
    }
    template = "scoring/backtest.html#status" if request.htmx else "scoring/backtest.html"
    return render(request, template, context)


def _chart(result: dict) -> str:
    """New PQLs per week of both sets against AE capacity: a server-side Plotly figure
    (plotly.js is served from static/)."""
    weeks = [row["week_ending"] for row in result["weekly"]]
    sets, capacity = result["sets"], result["capacity"]
    fig = go.Figure()
    for key, colour in (("draft", "#2563eb"), ("active", "#9ca3af")):
        fig.add_bar(
            x=weeks,
            y=[row[key] for row in result["weekly"]],
            name=f"v{sets[key]['version']} ({key})",
            marker_color=colour,
        )
    lines = [("draft", "solid")]
    if capacity["active"]["total"] != capacity["draft"]["total"]:
        lines.append(("active", "dot"))
    for key, dash in lines:
        cap = capacity[key]
        fig.add_scatter(
            x=weeks,
            y=[cap["total"]] * len(weeks),
            mode="lines",
            name=f"AE capacity, v{sets[key]['version']} "
            f"({result['ae_users']} AEs × {cap['per_ae']})",
            line={"color": "#dc2626", "dash": dash},
        )
    fig.update_layout(
        barmode="group",
        height=360,
        margin={"l": 50, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": {"text": "Week ending (UTC)"}, "type": "category"},
        yaxis={"title": {"text": "New PQLs"}, "rangemode": "tozero"},
        template="none",
        plot_bgcolor="white",
    )
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id="backtest-pqls-chart",
        config={"displayModeBar": False, "responsive": True},
    )
