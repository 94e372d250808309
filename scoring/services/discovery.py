"""Signal discovery (seeds 002 and 004: "histogram analysis"): how each signal is
distributed for accounts that converted against those that did not, and the conversion
rate by signal bucket, so a PM sees which behaviour predicts buying.

Outcomes: an account **converted** when it has a won Deal of either motion; it **did
not** when it has no Deal at all (accounts with only open or lost deals are left out,
and so are merged-away accounts). Signals are taken *before* the outcome, so the data
never leaks the answer: for a converted account as of the end of the week before its
first win (the Sunday on or before the day before the close), for the others as of
today. Converted accounts whose win came before their first week of product history
(a CRM deal older than the account) have no signals then and are counted as left out.

The dataset (``outcome_dataset``) is built set-based: accounts are grouped by as-of day
and each group is read with ``signals_compute`` in chunks, so the number of queries
grows with the number of weeks that had a win, never with the number of accounts.
``outcome_dataset_cached`` keeps it a few minutes, keyed by the newest Deal and usage.
The rest of this module is pure functions over that dataset (no queries).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import plotly.graph_objects as go
from django.core.cache import cache
from django.db.models import Count, Exists, Max, Min, OuterRef
from django.utils import timezone

from accounts.models import Account, Deal
from scoring.signals import SIGNALS, Scope, Signal, signals_compute, signals_context

# Signals that read today's account fields instead of the as-of day's, so a converted
# account would show what its purchase changed: left out of discovery and suggestions.
LEAKY_SIGNALS = {
    "paid_plan": "reads the account's current plan, so a converted account shows the plan "
    "it bought",
    "usage_pct": "measures usage against the limits of the account's current plan, so a "
    "converted account is measured against the bigger plan it bought",
}
ANALYSED_SIGNALS: tuple[Signal, ...] = tuple(s for s in SIGNALS if s.name not in LEAKY_SIGNALS)
# A blank "days since a sales request" means never; it counts as this many days.
NEVER_DAYS = 365.0
CHUNK = 2000
CACHE_SECONDS = 300
# Signals with at most this many distinct values get a bucket per value.
MAX_VALUE_BUCKETS = 6
# Otherwise buckets start at the minimum and at the quintiles.
BUCKET_QUANTILES = (0.2, 0.4, 0.6, 0.8)
# A skewed signal whose quintiles collapse has its tail split at these quantiles.
MIN_BUCKETS = 3
TAIL_QUANTILES = (1 / 3, 2 / 3)
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class OutcomeDataset:
    """Signals (as of before the outcome) and outcome of every account with one."""

    today: date
    signals: tuple[str, ...]
    account_ids: list[int] = field(default_factory=list)
    as_of: list[date] = field(default_factory=list)
    converted: list[int] = field(default_factory=list)  # 1 won, 0 no deal
    values: dict[str, list[float]] = field(default_factory=dict)
    left_out: int = 0  # converted accounts with no product history before the win
    as_of_days: int = 0  # distinct as-of days read

    @property
    def outcomes(self) -> int:
        return len(self.converted)

    @property
    def wins(self) -> int:
        return sum(self.converted)

    @property
    def no_deal(self) -> int:
        return self.outcomes - self.wins

    @property
    def base_rate(self) -> float | None:
        return self.wins / self.outcomes if self.outcomes else None

    @property
    def base_pct(self) -> float | None:
        return None if self.base_rate is None else self.base_rate * 100

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.values[name], dtype=float)

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        if not self.outcomes:
            return np.zeros((0, len(names)))
        return np.column_stack([self.column(n) for n in names])

    def labels(self) -> np.ndarray:
        return np.asarray(self.converted, dtype=int)


def as_of_for_win(closed: date) -> date:
    """The end of the week before a win: the Sunday on or before the day before it."""
    before = closed - timedelta(days=1)
    return before - timedelta(days=(before.weekday() + 1) % 7)


def _utc_day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def outcome_dataset(*, today: date | None = None) -> OutcomeDataset:
    """Every account with an outcome and its signals as of before that outcome."""
    today = today or timezone.now().date()
    accounts = Account.objects.filter(merged_into__isnull=True)
    first_wins = (
        Deal.objects.filter(stage=Deal.Stage.WON, account__merged_into__isnull=True)
        .values("account_id")
        .annotate(first=Min("closed_at"))
        .order_by()
        .values_list("account_id", "first")
    )
    groups: dict[date, list[int]] = defaultdict(list)
    converted: set[int] = set()
    for account_id, closed in first_wins:
        groups[min(as_of_for_win(_utc_day(closed)), today)].append(account_id)
        converted.add(account_id)
    no_deal = accounts.filter(~Exists(Deal.objects.filter(account_id=OuterRef("pk"))))
    groups[today].extend(no_deal.values_list("id", flat=True))

    names = tuple(s.name for s in ANALYSED_SIGNALS)
    data = OutcomeDataset(today=today, signals=names, values={n: [] for n in names})
    context = signals_context()
    read = 0
    for as_of, ids in sorted(groups.items()):
        if not ids:
            continue
        read += 1
        ids.sort()
        for start in range(0, len(ids), CHUNK):
            chunk = tuple(ids[start : start + CHUNK])
            _, signals = signals_compute(
                scope=Scope(chunk, as_range=False), as_of=as_of, context=context
            )
            for account_id in chunk:
                values = signals.get(account_id)
                if values is None:
                    continue  # not created yet on the as-of day
                data.account_ids.append(account_id)
                data.as_of.append(as_of)
                data.converted.append(int(account_id in converted))
                for name in names:
                    value = values.get(name)
                    data.values[name].append(NEVER_DAYS if value is None else float(value))
    return replace(data, left_out=len(converted - set(data.account_ids)), as_of_days=read)


def _dataset_key(today: date) -> str:
    deals = Deal.objects.aggregate(newest=Max("id"), updated=Max("updated_at"), n=Count("id"))
    usage = Account.objects.aggregate(changed=Max("usage_changed_at"), n=Count("id"))
    parts = (
        today,
        deals["newest"],
        deals["updated"] and deals["updated"].timestamp(),
        deals["n"],
        usage["changed"] and usage["changed"].timestamp(),
        usage["n"],
    )
    return "scoring:outcomes:v1:" + ":".join(str(p) for p in parts)


def outcome_dataset_cached() -> OutcomeDataset:
    """``outcome_dataset`` kept a few minutes; a new or changed Deal or new usage makes
    a new key, so the pages never wait for the cache to notice an outcome."""
    today = timezone.now().date()
    key = _dataset_key(today)
    data = cache.get(key)
    if data is None:
        data = outcome_dataset(today=today)
        cache.set(key, data, CACHE_SECONDS)
    return data


# --- pure functions over the dataset ------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    label: str
    low: float
    high: float | None  # exclusive upper bound; None for the last bucket
    accounts: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.accounts if self.accounts else None

    @property
    def rate_pct(self) -> float | None:
        return None if self.rate is None else self.rate * 100


@dataclass(frozen=True)
class SignalStats:
    signal: Signal
    accounts: int
    auc: float | None  # of the signal alone; 0.5 tells nothing, 1 or 0 separates fully
    buckets: list[Bucket]
    converted_median: float | None
    other_median: float | None

    @property
    def separation(self) -> float:
        """0 (no better than chance) to 1 (separates perfectly), either direction."""
        return 0.0 if self.auc is None else abs(self.auc - 0.5) * 2

    @property
    def direction(self) -> str:
        if self.auc is None or math.isclose(self.auc, 0.5, abs_tol=0.02):
            return "no difference"
        return "higher → more buyers" if self.auc > 0.5 else "lower → more buyers"

    @property
    def bottom_rate(self) -> float | None:
        return self.buckets[0].rate if self.buckets else None

    @property
    def top_rate(self) -> float | None:
        return self.buckets[-1].rate if self.buckets else None

    @property
    def bottom_rate_pct(self) -> float | None:
        return None if self.bottom_rate is None else self.bottom_rate * 100

    @property
    def top_rate_pct(self) -> float | None:
        return None if self.top_rate is None else self.top_rate * 100

    @property
    def rate_gap(self) -> float | None:
        """Conversion rate of the top bucket minus the bottom bucket's."""
        if len(self.buckets) < 2:
            return None
        return self.buckets[-1].rate - self.buckets[0].rate

    @property
    def rate_gap_pts(self) -> float | None:
        """The gap in percentage points."""
        return None if self.rate_gap is None else self.rate_gap * 100


def number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _bucket_label(low: float, high: float | None, *, integral: bool) -> str:
    if high is None:
        return f"≥ {number(low)}"
    if integral:
        last = high - 1
        return number(low) if last == low else f"{number(low)}–{number(last)}"
    return f"{number(low)} to under {number(high)}"


def signal_buckets(
    values: Sequence[float], converted: Sequence[int], *, yes_no: bool = False
) -> list[Bucket]:
    """Accounts and conversions per bucket of the signal's values: one bucket per value
    when there are few, else buckets starting at the minimum and at the quintiles (at
    least three: when most accounts share one value, the rest is split at its terciles)."""
    x = np.asarray(values, dtype=float)
    y = np.asarray(converted, dtype=int)
    if not len(x):
        return []
    distinct = np.unique(x)
    integral = bool(np.all(np.equal(np.mod(x, 1), 0)))
    few = len(distinct) <= MAX_VALUE_BUCKETS
    if few:
        lows = distinct
    else:
        lows = np.unique(
            np.concatenate([[x.min()], np.quantile(x, BUCKET_QUANTILES, method="lower")])
        )
        if len(lows) < MIN_BUCKETS:
            # Most accounts share one value (often 0): split the tail above it instead.
            tail = x[x > lows[-1]]
            if not len(tail):  # … or, when that value is the maximum, the middle
                tail = x[x > lows[0]]
            cuts = np.quantile(tail, TAIL_QUANTILES, method="lower")
            lows = np.unique(np.concatenate([lows, [tail.min()], cuts]))
    buckets = []
    for i, low in enumerate(lows):
        high = float(lows[i + 1]) if i + 1 < len(lows) else None
        if few:
            inside = x == low
            label = (
                ("yes" if low == 1 else "no") if yes_no and low in (0, 1) else number(float(low))
            )
        else:
            inside = (x >= low) & (x < high) if high is not None else x >= low
            label = _bucket_label(float(low), high, integral=integral)
        buckets.append(
            Bucket(
                label=label,
                low=float(low),
                high=high,
                accounts=int(inside.sum()),
                converted=int(y[inside].sum()),
            )
        )
    return buckets


def signal_auc(values: Sequence[float], converted: Sequence[int]) -> float | None:
    """Area under the ROC curve of the signal alone (the Mann–Whitney U over tied-average
    ranks): the chance that a converted account has a higher value than one without a
    deal, ties counting half. None without both outcomes."""
    x = np.asarray(values, dtype=float)
    y = np.asarray(converted, dtype=int)
    wins = int(y.sum())
    others = len(y) - wins
    if not wins or not others:
        return None
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    return float((ranks[y == 1].sum() - wins * (wins + 1) / 2) / (wins * others))


def signal_stats(dataset: OutcomeDataset, signal: Signal) -> SignalStats:
    x = dataset.column(signal.name)
    y = dataset.labels()
    won, other = x[y == 1], x[y == 0]
    buckets = signal_buckets(x, y, yes_no=signal.unit == "yes/no")
    if signal.name == "sales_request_days":
        buckets = [replace(b, label="never") if b.low >= NEVER_DAYS else b for b in buckets]
    return SignalStats(
        signal=signal,
        accounts=len(x),
        auc=signal_auc(x, y),
        buckets=buckets,
        converted_median=float(np.median(won)) if len(won) else None,
        other_median=float(np.median(other)) if len(other) else None,
    )


def signals_ranked(dataset: OutcomeDataset) -> list[SignalStats]:
    """Every analysed signal, the best separating first (ties in registry order)."""
    stats = [signal_stats(dataset, s) for s in ANALYSED_SIGNALS]
    return sorted(stats, key=lambda s: -s.separation)


def _bin_edges(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Shared bin edges for both groups: one bin per integer over a small integer range,
    else equal bins up to the 99th percentile (the tail joins the last bin)."""
    low, high = float(x.min()), float(x.max())
    if np.all(np.equal(np.mod(x, 1), 0)) and high - low <= 40:
        return np.arange(low - 0.5, high + 1.5), False
    top = float(np.quantile(x, 0.99))
    if top <= low:
        top = high if high > low else low + 1
    return np.linspace(low, top, HISTOGRAM_BINS + 1), top < high


def signal_histogram(dataset: OutcomeDataset, signal: Signal) -> go.Figure:
    """Overlaid histograms, in % of each group so the few converted accounts compare
    with the many others. Binned here, so the page's size does not grow with accounts."""
    x = dataset.column(signal.name)
    y = dataset.labels()
    figure = go.Figure()
    if len(x):
        edges, clipped = _bin_edges(x)
        centers = (edges[:-1] + edges[1:]) / 2
        width = float(edges[1] - edges[0])
        groups = (
            ("Converted", x[y == 1], "#2f9e44"),
            ("No deal", x[y == 0], "#868e96"),
        )
        for name, values, colour in groups:
            if not len(values):
                continue
            counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
            share = counts * 100.0 / len(values)
            figure.add_trace(
                go.Bar(
                    x=centers.tolist(),
                    y=share.round(1).tolist(),
                    width=width,
                    name=f"{name} ({len(values)})",
                    marker_color=colour,
                    opacity=0.6,
                    customdata=counts.tolist(),
                    hovertemplate=f"{name}: %{{y}}% (%{{customdata}} accounts)"
                    "<br>around %{x}<extra></extra>",
                )
            )
        if clipped:
            figure.add_annotation(
                text=f"the last bar holds everything from {number(float(edges[-2]))} up",
                xref="paper",
                yref="paper",
                x=1,
                y=1.08,
                showarrow=False,
                font={"size": 11},
            )
    figure.update_layout(
        barmode="overlay",
        template="simple_white",
        margin={"l": 50, "r": 10, "t": 30, "b": 50},
        height=380,
        legend={"orientation": "h", "y": -0.2},
        xaxis_title=f"{signal.label} ({signal.unit})",
        yaxis_title="% of the group's accounts",
    )
    return figure
