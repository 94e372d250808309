"""The dossier's usage trend (verdict and figure) and score history figure.

Figures are built server-side as plain plotly figure dicts (what ``plotly.graph_objects``
would build, without its validation of every property: 10–12 ms a figure, a third of a
dossier's time) and rendered without plotly.js (the template loads the vendored copy
from static/).

Trend verdict (seed 003: "usage trend (growing, stable, declining)"). A least-squares line
is fitted to the account's daily active users over the last 90 days — from its signup
day when that is later, so the empty days before it do not read as growth. The slope is
taken relative to the mean daily active users of those days:

    slope ≥ +0.5 % of the mean per day  → growing   (≈ +45 % of the mean over 90 days)
    slope ≤ −0.5 % of the mean per day  → declining
    otherwise                           → stable

With fewer than 14 days of history the verdict is "too early to tell" (two weeks cover
the weekday/weekend swing of a B2B product), and with no active user at all "no
activity".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import plotly.io as pio

TREND_DAYS = 90
TREND_MIN_DAYS = 14
TREND_THRESHOLD_PCT_PER_DAY = 0.5

GROWING, STABLE, DECLINING = "growing", "stable", "declining"
TOO_EARLY, NO_ACTIVITY = "too early to tell", "no activity"

PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}
# What ``template="none"`` stands for, read once.
TEMPLATE = pio.templates["none"].to_plotly_json()


@dataclass(frozen=True)
class Trend:
    verdict: str
    days: int  # days the line was fitted over
    mean: float  # mean daily active users over them
    slope: float  # active users per day
    pct_per_day: float  # slope as a percentage of the mean

    @property
    def explanation(self) -> str:
        if self.verdict == TOO_EARLY:
            return (
                f"Only {self.days} day{'s' if self.days != 1 else ''} of history: "
                f"the verdict needs {TREND_MIN_DAYS}."
            )
        if self.verdict == NO_ACTIVITY:
            return f"No active user in the last {self.days} days."
        sign = "+" if self.slope >= 0 else "−"
        return (
            f"Fitted slope {sign}{abs(self.slope):.2f} active users a day, "
            f"{sign}{abs(self.pct_per_day):.2f} % of the mean ({self.mean:.1f}) a day over "
            f"{self.days} days; growing from +{TREND_THRESHOLD_PCT_PER_DAY} %, declining from "
            f"−{TREND_THRESHOLD_PCT_PER_DAY} %."
        )


def usage_trend(active_users: list[float]) -> Trend:
    """The verdict for daily active users, oldest day first (see the module docstring)."""
    n = len(active_users)
    mean = sum(active_users) / n if n else 0.0
    if n < TREND_MIN_DAYS:
        return Trend(TOO_EARLY, n, mean, 0.0, 0.0)
    if mean == 0:
        return Trend(NO_ACTIVITY, n, 0.0, 0.0, 0.0)
    x_mean = (n - 1) / 2
    sxx = sum((x - x_mean) ** 2 for x in range(n))
    sxy = sum((x - x_mean) * (y - mean) for x, y in enumerate(active_users))
    slope = sxy / sxx
    pct = slope * 100.0 / mean
    if pct >= TREND_THRESHOLD_PCT_PER_DAY:
        verdict = GROWING
    elif pct <= -TREND_THRESHOLD_PCT_PER_DAY:
        verdict = DECLINING
    else:
        verdict = STABLE
    return Trend(verdict, n, mean, slope, pct)


def _layout(**extra) -> dict:
    return {
        "template": TEMPLATE,
        "height": 320,
        "margin": {"l": 50, "r": 50, "t": 10, "b": 40},
        "legend": {"orientation": "h", "y": -0.18},
        "plot_bgcolor": "white",
        "hovermode": "x unified",
        **extra,
    }


def _html(figure: dict, div_id: str) -> str:
    return pio.to_html(
        figure,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=PLOTLY_CONFIG,
    )


def usage_figure(
    *, days: list[date], active_users: list[int], events: list[int], trend: Trend
) -> str:
    """Daily active users (line, left axis) and events (bars, right axis), with the
    fitted trend line over the days the verdict read."""
    # Events on the first axis (right) and users overlaid on the second (left), so the
    # user lines are drawn over the bars.
    data = [
        {
            "type": "bar",
            "x": days,
            "y": events,
            "name": "Events",
            "marker": {"color": "#cbd5e1"},
            "opacity": 0.8,
        },
        {
            "type": "scatter",
            "x": days,
            "y": active_users,
            "name": "Daily active users",
            "mode": "lines+markers",
            "line": {"color": "#2563eb", "width": 2},
            "marker": {"size": 4},
            "yaxis": "y2",
        },
    ]
    if trend.verdict in (GROWING, STABLE, DECLINING):
        start = trend.mean - trend.slope * (trend.days - 1) / 2
        data.append(
            {
                "type": "scatter",
                "x": days[-trend.days :],
                "y": [round(start + trend.slope * i, 2) for i in range(trend.days)],
                "name": f"Trend ({trend.verdict})",
                "mode": "lines",
                "line": {"color": "#dc2626", "dash": "dash"},
                "hoverinfo": "skip",
                "yaxis": "y2",
            }
        )
    layout = _layout(
        xaxis={"type": "date"},
        # Both axes from 0 (not padded below it), so their zero lines coincide.
        yaxis={
            "title": {"text": "Events"},
            "side": "right",
            "range": [0, max(max(events, default=0), 1) * 1.1],
            "showgrid": False,
        },
        yaxis2={
            "title": {"text": "Active users"},
            "overlaying": "y",
            "side": "left",
            "range": [0, max(max(active_users, default=0), 1) * 1.1],
            "tickmode": "auto",
        },
    )
    return _html({"data": data, "layout": layout}, "dossier-usage-chart")


SCORE_WINDOW_DAYS = 30


def score_figure(
    *, history: list[dict], ae_threshold: int, sdr_threshold: int, now: datetime
) -> str:
    """Score, value and engagement at each change (a row is written only when the score
    or route changes, so each value holds until the next: a step line, carried on to
    now), over at least the last 30 days, with the AE and SDR thresholds."""
    history = [*history, {**history[-1], "at": now}]
    at = [row["at"] for row in history]
    # No marker on the carried-on point: nothing changed then.
    sizes = [7] * (len(history) - 1) + [0]
    data = []
    for key, name, colour, width in (
        ("score", "Score", "#111827", 3),
        ("value", "Value", "#7c3aed", 1.5),
        ("engagement", "Engagement", "#059669", 1.5),
    ):
        trace = {
            "type": "scatter",
            "x": at,
            "y": [row[key] for row in history],
            "name": name,
            "mode": "lines+markers",
            "line": {"color": colour, "width": width, "shape": "hv"},
            "marker": {"size": sizes},
        }
        if key == "score":
            trace["text"] = [row["route_label"] for row in history]
            trace["hovertemplate"] = "%{y} (%{text})<extra>Score</extra>"
        data.append(trace)
    # Each threshold as plotly's add_hline(annotation_position="top left") draws it: a
    # line across the plot and its label above the line's left end.
    thresholds = (
        (ae_threshold, f"AE above {ae_threshold}", "#dc2626"),
        (sdr_threshold, f"SDR from {sdr_threshold}", "#d97706"),
    )
    layout = _layout(
        shapes=[
            {
                "type": "line",
                "xref": "x domain",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": threshold,
                "y1": threshold,
                "line": {"color": colour, "dash": "dot", "width": 1},
            }
            for threshold, _label, colour in thresholds
        ],
        annotations=[
            {
                "text": label,
                "showarrow": False,
                "xref": "x domain",
                "x": 0,
                "xanchor": "left",
                "yref": "y",
                "y": threshold,
                "yanchor": "bottom",
            }
            for threshold, label, _colour in thresholds
        ],
        xaxis={
            "type": "date",
            "range": [min(at[0], now - timedelta(days=SCORE_WINDOW_DAYS)), now + timedelta(days=1)],
        },
        yaxis={"title": {"text": "Points"}, "range": [0, 105]},
    )
    return _html({"data": data, "layout": layout}, "dossier-score-chart")
