"""The PLS metrics page: every metric of DESIGN.md's table and the PM KPIs over a window
the PM picks, each with its band verdict, the seeds' reading and a chart by month."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from feedback import metrics as service
from pls_portal.permissions import pm_required

PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}
CUSTOM = "custom"
COLOURS = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#6b7280")


class WindowForm(forms.Form):
    period = forms.ChoiceField(
        label="Window",
        required=False,
        choices=[(str(d), f"Last {d} days") for d in service.PRESET_DAYS] + [(CUSTOM, "Custom")],
        error_messages={
            "invalid_choice": "Window: pick the last 30, 90, 180 or 365 days, or Custom."
        },
    )
    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "From: enter a date as YYYY-MM-DD."},
    )
    end = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "To: enter a date as YYYY-MM-DD."},
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self) -> dict:
        data = super().clean()
        period = data.get("period") or ""
        start, end = data.get("start"), data.get("end")
        custom = period == CUSTOM or (not period and (start or end))
        if "period" in self.errors:
            return data
        if not custom:
            data["window"] = service.window_last(
                int(period or service.DEFAULT_DAYS), today=self.today
            )
            return data
        if start is None and "start" not in self.errors:
            self.add_error("start", "From: a custom window needs a first day.")
        if end is None and "end" not in self.errors:
            self.add_error("end", "To: a custom window needs a last day.")
        if start is None or end is None:
            return data
        if start > end:
            self.add_error("end", "To must be on or after From.")
        elif end > self.today:
            self.add_error("end", f"To cannot be after today ({self.today:%Y-%m-%d}).")
        elif (days := (end - start).days + 1) > service.MAX_DAYS:
            self.add_error(
                None,
                f"The window can span at most {service.MAX_DAYS} days; "
                f"{start:%Y-%m-%d} to {end:%Y-%m-%d} spans {days}.",
            )
        else:
            data["window"] = service.Window(start=start, end=end)
        return data


@require_GET
@pm_required
def metrics(request: HttpRequest) -> HttpResponse:
    """PLS metrics and PM KPIs with the seeds' healthy bands."""
    now = timezone.now()
    default = service.window_last(service.DEFAULT_DAYS, today=now.date())
    form = WindowForm(
        request.GET or None,
        initial={"period": str(default.preset), "start": default.start, "end": default.end},
        today=now.date(),
    )
    template = "feedback/metrics.html#window" if request.htmx else "feedback/metrics.html"
    if form.is_bound and not form.is_valid():
        return render(request, template, {"form": form, "result": None}, status=400)
    window = form.cleaned_data["window"] if form.is_bound else default
    result = service.metrics_for(window=window, now=now)
    cards = [{"metric": m, "figure": _figure(m, result.months)} for m in result.items]
    context = {
        "form": form,
        "result": result,
        "sales_cards": [c for c in cards if not c["metric"].kpi],
        "kpi_cards": [c for c in cards if c["metric"].kpi],
    }
    return render(request, template, context)


def _figure(metric: service.Metric, months: list[date]) -> str:
    """The metric by month: a server-side Plotly figure (plotly.js is served from
    static/), with the seeds' band shaded."""
    chart = metric.chart
    x = [m.strftime("%b %Y") for m in months]
    fig = go.Figure()
    for i, series in enumerate(chart.series):
        colour = COLOURS[i % len(COLOURS)]
        if series.kind == "bar":
            fig.add_bar(x=x, y=series.values, name=series.name, marker_color=colour)
        else:
            fig.add_scatter(
                x=x,
                y=series.values,
                name=series.name,
                mode="lines+markers",
                line={"color": colour},
                connectgaps=False,
            )
    if chart.band:
        low, high = chart.band
        fig.add_hrect(
            y0=low,
            y1=high,
            fillcolor="#22c55e",
            opacity=0.12,
            line_width=0,
            annotation_text=chart.band_label,
            annotation_position="top left",
        )
    ticks = {"%": {"ticksuffix": " %"}, "$": {"tickprefix": "$"}}.get(chart.unit, {})
    fig.update_layout(
        barmode="stack" if chart.stacked else "group",
        height=260,
        margin={"l": 55, "r": 15, "t": 15, "b": 35},
        showlegend=len(chart.series) > 1,
        legend={"orientation": "h", "y": -0.25},
        xaxis={"type": "category"},
        yaxis={"title": {"text": chart.y_title, "font": {"size": 11}}, "rangemode": "tozero"}
        | ticks,
        template="none",
        plot_bgcolor="white",
    )
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"metric-chart-{metric.key}",
        config=PLOTLY_CONFIG,
    )
