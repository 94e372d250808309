"""What every metric shares: the result types the page renders (Verdict, Chart, Part,
Metric), the verdict levels, rounding and formatting, and the deal vocabulary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from accounts.models import Deal, TrackingPlanEntry

Category = TrackingPlanEntry.Category
WON = Deal.Stage.WON
SALES = Deal.Motion.SALES_ASSISTED
SELF_SERVE = Deal.Motion.SELF_SERVE
# New business: first purchases, not expansion of an account sales already won.
NEW_BUSINESS = Q(change=Deal.Change.NEW) & ~Q(source=Deal.Source.EXPANSION)

# Verdict levels: the seeds' band is met (good), outside the band with no warning in the
# seeds (info), heading for a danger zone (warn), in the seeds' danger zone (bad), or no
# denominator (none).
GOOD, INFO, WARN, BAD, NONE = "good", "info", "warn", "bad", "none"


@dataclass(frozen=True)
class Verdict:
    level: str
    label: str
    reading: str = ""


NOT_ENOUGH = "Not enough data"


@dataclass
class Series:
    name: str
    values: list[float | None]
    kind: str = "line"  # line | bar


@dataclass
class Chart:
    y_title: str
    series: list[Series]
    band: tuple[float, float] | None = None
    stacked: bool = False
    unit: str = ""  # "%", "$", "days"
    band_label: str = "healthy band"


@dataclass
class Part:
    """One of several values a metric shows (PQL-to-close at 30, 60 and 90 days…)."""

    label: str
    display: str
    detail: str = ""
    verdict: Verdict | None = None


@dataclass
class Metric:
    key: str
    title: str
    band: str
    definition: str
    source: str
    value: float | None
    display: str
    detail: str
    verdict: Verdict
    chart: Chart
    parts: list[Part] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    rows_total: int = 0
    kpi: bool = False  # a PM KPI rather than a sales-motion metric
    rules_lever: bool = False  # the PQL rules are what a PM changes to move it

    @property
    def rules_link(self) -> bool:
        return self.rules_lever and self.verdict.level in (WARN, BAD)


def round1(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def pct(num, den) -> float | None:
    """num ÷ den in percent, rounded to one decimal (verdicts read the rounded number,
    so a shown 70.0 % never reads as above 70 %); None when den is 0."""
    if not den:
        return None
    return round1(Decimal(100) * Decimal(num) / Decimal(den))


def ratio(num, den) -> float | None:
    if not den:
        return None
    return round1(Decimal(num) / Decimal(den))


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def fmt_money(value) -> str:
    return "–" if value is None else f"${Decimal(value):,.0f}"


def fmt_days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def whole_mean(total, count) -> Decimal | None:
    return (Decimal(total) / count).quantize(Decimal("1")) if count else None


def month_of(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date().replace(day=1) if isinstance(value, datetime) else value.replace(day=1)


def group_by_month(rows: Iterable[dict], key: str = "month") -> dict[date, list[dict]]:
    grouped: dict[date, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[month_of(row[key])].append(row)
    return grouped


def is_new_business(row: dict) -> bool:
    """NEW_BUSINESS, read on a grouped ``values()`` row."""
    return row["change"] == Deal.Change.NEW and row["source"] != Deal.Source.EXPANSION
