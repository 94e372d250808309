"""PLS metrics and PM KPIs over a window, each with the seeds' band and reading.

Every number comes from a fixed set of aggregate queries (one or two per metric family,
about a dozen in all) whatever the data size; Python only sums the grouped rows into
months and computes medians over the won PQLs of the window. All revenue reads
``accounts.Deal`` in ``settings.PLS_CURRENCY``; deals in another currency are counted and
left out (DESIGN.md "Decisions"). Definitions are documented on the page from
``Metric.definition``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Account, Deal, Event, TrackingPlanEntry
from pls_portal.models import RepType, Role, User
from scoring.models import PQL_ROUTES, QueueItem, Route, RouteChange, RuleSet

PRESET_DAYS = (30, 90, 180, 365)
DEFAULT_DAYS = 90
MAX_DAYS = 731  # two years: enough for a year-on-year look, bounded for the charts
PQL_HORIZONS = (30, 60, 90)
MONTH_DAYS = 30  # "a month" of PQL volume, so partial months compare
TRIAL_KEY = "trial_started"  # the default tracking plan's "Trial Started" milestone

Category = TrackingPlanEntry.Category
WON = Deal.Stage.WON
SALES = Deal.Motion.SALES_ASSISTED
SELF_SERVE = Deal.Motion.SELF_SERVE
# A purchase that makes or grows an account's contract (refunds and downgrades do not).
WIN_CHANGES = (Deal.Change.NEW, Deal.Change.UPGRADE)
# New business: first purchases, not expansion of an account sales already won.
NEW_BUSINESS = Q(change=Deal.Change.NEW) & ~Q(source=Deal.Source.EXPANSION)
# The routes the product gives on its own; the one before a sales cycle tells whether the
# account fitted self-serve when sales took it.
PRODUCT_ROUTES = (Route.AE, Route.SDR, Route.NURTURE, Route.SELF_SERVE, Route.SELF_SERVE_HERO)
# Self-serve hero, or self-serve because ARR potential was below the floor (scoring's
# reason says "below the $X floor").
FITS_SELF_SERVE = Q(to_route=Route.SELF_SERVE_HERO) | Q(
    to_route=Route.SELF_SERVE, reason__contains="floor"
)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)

# Verdict levels: the seeds' band is met (good), outside the band with no warning in the
# seeds (info), heading for a danger zone (warn), in the seeds' danger zone (bad), or no
# denominator (none).
GOOD, INFO, WARN, BAD, NONE = "good", "info", "warn", "bad", "none"


# --- window -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Whole UTC days, ``start`` to ``end`` inclusive."""

    start: date
    end: date
    preset: int | None = None

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.preset:
            return f"last {self.preset} days ({self.start:%d %b %Y} – {self.end:%d %b %Y})"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    @property
    def months(self) -> list[date]:
        """First day of every calendar month the window touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def days_in(self, month: date) -> int:
        """Days of ``month`` inside the window."""
        next_month = (month + timedelta(days=32)).replace(day=1)
        first, last = max(month, self.start), min(next_month - timedelta(days=1), self.end)
        return max((last - first).days + 1, 0)


def window_last(days: int, *, today: date) -> Window:
    return Window(start=today - timedelta(days=days - 1), end=today, preset=days)


# --- results ----------------------------------------------------------------------------


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


@dataclass
class Metrics:
    window: Window
    months: list[date]
    currency: str
    other_currency: list[tuple[str, int]]
    items: list[Metric]

    @property
    def other_currency_count(self) -> int:
        return sum(n for _c, n in self.other_currency)


# --- numbers ----------------------------------------------------------------------------


def _round1(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def pct(num, den) -> float | None:
    """num ÷ den in percent, rounded to one decimal (verdicts read the rounded number,
    so a shown 70.0 % never reads as above 70 %); None when den is 0."""
    if not den:
        return None
    return _round1(Decimal(100) * Decimal(num) / Decimal(den))


def ratio(num, den) -> float | None:
    if not den:
        return None
    return _round1(Decimal(num) / Decimal(den))


def _fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def _fmt_money(value) -> str:
    return "–" if value is None else f"${Decimal(value):,.0f}"


def _fmt_days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _mean(total, count) -> Decimal | None:
    return (Decimal(total) / count).quantize(Decimal("1")) if count else None


def _month(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date().replace(day=1) if isinstance(value, datetime) else value.replace(day=1)


# --- verdicts (pure; the seeds' bands) ----------------------------------------------------


def pql_to_close_verdict(rate: float | None) -> Verdict:
    """Seed 003: 15–30 % is strong; below 10 % the definition is too loose, above 40 %
    too tight."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No PQL items were created in this window.")
    if rate < 10:
        return Verdict(
            BAD,
            "Rules too loose: tighten the PQL definition",
            "Below 10 %, your PQL definition is too broad: reps spend time on accounts that "
            "are not ready. Raise the threshold or require more usage before an account "
            "becomes a PQL.",
        )
    if rate > 40:
        return Verdict(
            BAD,
            "Too tight: loosen it",
            "When sales closes 40 %+ of PQLs, the bar is likely set too high and you are "
            "missing PQLs: loosen the definition.",
        )
    if rate < 15:
        return Verdict(WARN, "Below the 15–30 % band", "Close to too loose (below 10 %).")
    if rate > 30:
        return Verdict(WARN, "Above the 15–30 % band", "Close to too tight (above 40 %).")
    return Verdict(GOOD, "Strong (15–30 %)")


def sales_share_verdict(share: float | None) -> Verdict:
    """Seed 003: mature PLS companies target 40–60 % sales-assisted revenue; above 70 %
    self-serve is being cannibalised."""
    if share is None:
        return Verdict(NONE, NOT_ENOUGH, "No new revenue was won in this window.")
    if share > 70:
        return Verdict(
            BAD,
            "Sales may be cannibalising self-serve",
            "Above 70 % sales-assisted, self-serve is being cannibalised: sales may be "
            "claiming credit for accounts that would have self-served, and you pay "
            "commissions on revenue you would have got for free.",
        )
    if share > 60:
        return Verdict(
            WARN, "Above the 40–60 % target", "Close to cannibalising self-serve (above 70 %)."
        )
    if share < 40:
        return Verdict(
            INFO,
            "Below the 40–60 % target",
            "Most mature PLS companies take 40–60 % of new revenue through sales.",
        )
    return Verdict(GOOD, "In the 40–60 % target")


def deal_size_verdict(multiple: float | None) -> Verdict:
    """Seed 003: sales-assisted deals should be 3–5× self-serve ones."""
    if multiple is None:
        return Verdict(NONE, NOT_ENOUGH, "It needs won new deals of both motions in this window.")
    if multiple < 3:
        return Verdict(
            BAD,
            "Sales-assisted deals are less than 3× self-serve",
            "If deal sizes are similar, the sales team is working deals that do not need sales.",
        )
    if multiple > 5:
        return Verdict(INFO, "Above the 3–5× band")
    return Verdict(GOOD, "In the 3–5× band")


def time_to_close_verdict(median_days: float | None) -> Verdict:
    """Seed 003: PQL trigger to close in 14–30 days; 60–90 days means the PQLs are not
    ready or the sales process adds friction."""
    if median_days is None:
        return Verdict(NONE, NOT_ENOUGH, "No PQL was won in this window.")
    if median_days >= 60:
        return Verdict(
            BAD,
            "Stretching to 60+ days",
            "The PQLs are not ready, or the sales process is adding friction.",
        )
    if median_days > 30:
        return Verdict(
            WARN,
            "Slower than 14–30 days",
            "If it stretches to 60–90 days, the PQLs are not ready or the sales process "
            "adds friction.",
        )
    if median_days < 14:
        return Verdict(INFO, "Faster than the 14–30 day band")
    return Verdict(GOOD, "In the 14–30 day band")


def pipeline_verdict(share: float | None) -> Verdict:
    """Seed 003: 60–80 % of pipeline should be product-sourced."""
    if share is None:
        return Verdict(NONE, NOT_ENOUGH, "No sales pipeline was opened in this window.")
    if share < 60:
        return Verdict(
            BAD,
            "Less than 60 % from product",
            "If the sales team spends most of its time on outbound, you are running "
            "traditional sales with a PLG label.",
        )
    if share > 80:
        return Verdict(INFO, "Above the 60–80 % band")
    return Verdict(GOOD, "In the 60–80 % band")


def cannibalisation_verdict(rate: float | None) -> Verdict:
    """Seed 003: as low as possible; protect self-serve with policy."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "Sales closed no new account in this window.")
    if rate > 0:
        return Verdict(
            WARN,
            "Sales closed accounts that fit self-serve",
            "Protect self-serve with policy: accounts below the ARR floor do not get a sales "
            "touch. Period. Never interrupt a converting account.",
        )
    return Verdict(GOOD, "None: self-serve is protected")


def freemium_verdict(rate: float | None) -> Verdict:
    """Seed 004: freemium converts at about 5 %."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No free account in this window.")
    if rate < 5:
        return Verdict(WARN, "Below the ≈5 % freemium benchmark")
    return Verdict(GOOD, "At or above the ≈5 % freemium benchmark")


def trial_verdict(rate: float | None) -> Verdict:
    """Seed 004: trials convert at 10–15 %."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No trial account in this window.")
    if rate < 10:
        return Verdict(WARN, "Below the 10–15 % trial benchmark")
    if rate > 15:
        return Verdict(GOOD, "Above the 10–15 % trial benchmark")
    return Verdict(GOOD, "In the 10–15 % trial benchmark")


def pql_volume_verdict(per_ae_month: float | None) -> Verdict:
    """Seed 003: 30–50 PQLs a month fill one AE; about 10 good PQLs a week."""
    if per_ae_month is None:
        return Verdict(NONE, NOT_ENOUGH, "There is no active AE to compare with.")
    if per_ae_month < 30:
        return Verdict(
            BAD,
            "Not enough PQLs to fill an AE",
            "An AE without enough PQLs to fill the pipeline starts doing outbound. Wait "
            "until there are 30–50 PQLs a month per AE before adding AEs.",
        )
    if per_ae_month > 50:
        return Verdict(
            WARN,
            "More PQLs than an AE can work",
            "It is better to have 10 high-quality PQLs per week than 100 weak ones: "
            "start conservative.",
        )
    return Verdict(GOOD, "Fills an AE (30–50 a month)")


def ceiling_verdict(monthly: Decimal | None) -> Verdict:
    """Seed 003: self-serve deal size commonly plateaus at $500–2,000 a month."""
    if monthly is None:
        return Verdict(NONE, NOT_ENOUGH, "No self-serve purchase in this window.")
    if 500 <= monthly <= 2000:
        return Verdict(
            INFO,
            "In the common ceiling range ($500–2,000 a month)",
            "If the monthly line is flat, that is your self-serve ceiling: PLS is how you "
            "break through it.",
        )
    return Verdict(
        INFO,
        "Trend, no band",
        "Watch the line: where it plateaus is your self-serve ceiling.",
    )


def activation_verdict(rate: float | None, *, has_milestone: bool = True) -> Verdict:
    """Seed 000 gives no number, only why it matters."""
    if not has_milestone:
        return Verdict(
            NONE,
            NOT_ENOUGH,
            "The tracking plan flags no milestone as activation (Tracking plan → flag "
            "“Activation milestone”).",
        )
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No new account in this window.")
    return Verdict(
        INFO,
        "Trend, no band",
        "Users who don't reach the aha moment never become PQLs worth pursuing.",
    )


# --- queries ----------------------------------------------------------------------------


def _pql_items_with_win(currency: str):
    """PQL items (routes ae/sdr) with the first winning Deal of their account inside the
    cycle: on or after the item's creation and before the account's next item, so one
    win is credited to one cycle."""
    next_item = (
        QueueItem.objects.filter(account=OuterRef("account"), created_at__gt=OuterRef("created_at"))
        .order_by("created_at")
        .values("created_at")[:1]
    )
    first_win = (
        Deal.objects.filter(
            account=OuterRef("account"),
            stage=WON,
            currency=currency,
            change__in=WIN_CHANGES,
            closed_at__gte=OuterRef("created_at"),
            closed_at__lt=OuterRef("cycle_end"),
        )
        .order_by("closed_at")
        .values("closed_at")[:1]
    )
    return (
        QueueItem.objects.filter(route__in=PQL_ROUTES)
        .annotate(
            cycle_end=Coalesce(Subquery(next_item), Value(FAR_FUTURE, output_field=DateTimeField()))
        )
        .annotate(first_win=Subquery(first_win))
    )


def _by_month(rows: Iterable[dict], key: str = "month") -> dict[date, list[dict]]:
    grouped: dict[date, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[_month(row[key])].append(row)
    return grouped


# --- the metrics --------------------------------------------------------------------------


def metrics_for(*, window: Window, now: datetime) -> Metrics:
    """Every metric of DESIGN.md's table and the PM KPIs over ``window``."""
    currency = settings.PLS_CURRENCY
    months = window.months
    start, end = window.start_at, window.end_at
    in_window = {"closed_at__gte": start, "closed_at__lt": end}

    other_currency = list(
        Deal.objects.exclude(currency=currency)
        .filter(Q(opened_at__gte=start, opened_at__lt=end) | Q(**in_window))
        .values_list("currency")
        .annotate(n=Count("pk"))
        .order_by("currency")
    )

    # Won purchases of the window (refunds left out): share, deal size, ceiling.
    won_rows = list(
        Deal.objects.filter(stage=WON, currency=currency, **in_window)
        .exclude(change=Deal.Change.REFUND)
        .annotate(month=TruncMonth("closed_at", tzinfo=UTC))
        .values("month", "motion", "source", "change")
        .annotate(n=Count("pk"), arr=Sum("arr"))
        .order_by()
    )
    pql = _pql_to_close(window, now, currency)
    items = [
        pql["metric"],
        _sales_share(months, won_rows),
        _deal_size(months, won_rows),
        _time_to_close(window, currency),
        _pipeline(window, currency),
        _cannibalisation(window, currency),
        _pql_volume(window, pql["per_month"], pql["total"]),
        _free_to_paid(window, currency),
        _package_mix(window, currency),
        _ceiling(months, won_rows),
        _activation(window),
    ]
    return Metrics(
        window=window,
        months=months,
        currency=currency,
        other_currency=other_currency,
        items=items,
    )


def _pql_to_close(window: Window, now: datetime, currency: str) -> dict:
    counts = {
        f"won{d}": Count("pk", filter=Q(first_win__lte=F("created_at") + timedelta(days=d)))
        for d in PQL_HORIZONS
    }
    young = {
        f"young{d}": Count("pk", filter=Q(created_at__gt=now - timedelta(days=d)))
        for d in PQL_HORIZONS
    }
    rows = list(
        _pql_items_with_win(currency)
        .filter(created_at__gte=window.start_at, created_at__lt=window.end_at)
        .annotate(month=TruncMonth("created_at", tzinfo=UTC))
        .values("month")
        .annotate(n=Count("pk"), **counts, **young)
        .order_by()
    )
    per_month = {_month(r["month"]): r for r in rows}
    total = sum(r["n"] for r in rows)
    parts, rates = [], {}
    for d in PQL_HORIZONS:
        won = sum(r[f"won{d}"] for r in rows)
        younger = sum(r[f"young{d}"] for r in rows)
        rates[d] = pct(won, total)
        detail = f"{won} of {total} PQL{'s' if total != 1 else ''}"
        if younger:
            detail += f"; {younger} younger than {d} days may still close"
        parts.append(Part(f"{d} days", _fmt_pct(rates[d]), detail, pql_to_close_verdict(rates[d])))
    verdict = pql_to_close_verdict(rates[90])
    chart = Chart(
        "Closed won, % of the month's PQLs",
        [
            Series(
                f"within {d} days",
                [
                    pct(per_month[m][f"won{d}"], per_month[m]["n"]) if m in per_month else None
                    for m in window.months
                ],
            )
            for d in PQL_HORIZONS
        ],
        band=(15, 30),
        unit="%",
    )
    metric = Metric(
        key="pql_to_close",
        title="PQL-to-close",
        band="15–30 %; below 10 % rules too loose, above 40 % too tight",
        definition=(
            "Queue items routed to a rep as PQLs (routes AE and SDR) created in the window "
            "whose account won a deal (new business or upgrade) within 30, 60 and 90 days of "
            "the item's creation, ÷ those items. A win counts for the latest item before it "
            "(one cycle), never twice. Inbound and expansion items are left out. By month "
            "of the item's creation. The verdict reads the 90-day rate."
        ),
        source="seed 003",
        value=rates[90],
        display=_fmt_pct(rates[90]),
        detail=parts[-1].detail,
        verdict=verdict,
        chart=chart,
        parts=parts,
        rules_lever=True,
    )
    return {"metric": metric, "per_month": per_month, "total": total}


def _new_business(row: dict) -> bool:
    return row["change"] == Deal.Change.NEW and row["source"] != Deal.Source.EXPANSION


def _sales_share(months: list[date], won_rows: list[dict]) -> Metric:
    new = [r for r in won_rows if _new_business(r)]
    by_month = _by_month(new)

    def share(rows: list[dict]) -> tuple[float | None, Decimal, Decimal]:
        total = sum((r["arr"] for r in rows), Decimal(0))
        sales = sum((r["arr"] for r in rows if r["motion"] == SALES), Decimal(0))
        return pct(sales, total), sales, total

    value, sales, total = share(new)
    return Metric(
        key="sales_share",
        title="Sales-assisted share of new revenue",
        band="40–60 %; above 70 % sales may be cannibalising self-serve",
        definition=(
            "New ARR of won sales-assisted deals ÷ new ARR of all won deals, both motions, "
            "closed in the window. New business only: first purchases (deal change “new”); "
            "upgrades, downgrades, refunds and expansion deals are left out."
        ),
        source="seed 003",
        value=value,
        display=_fmt_pct(value),
        detail=f"{_fmt_money(sales)} sales-assisted of {_fmt_money(total)} new ARR",
        verdict=sales_share_verdict(value),
        chart=Chart(
            "Sales-assisted, % of new ARR",
            [Series("sales-assisted share", [share(by_month.get(m, []))[0] for m in months])],
            band=(40, 60),
            unit="%",
        ),
        rules_lever=True,
    )


def _deal_size(months: list[date], won_rows: list[dict]) -> Metric:
    new = [r for r in won_rows if _new_business(r)]
    by_month = _by_month(new)

    def means(rows: list[dict]) -> dict[str, Decimal | None]:
        out = {}
        for motion in (SALES, SELF_SERVE):
            mine = [r for r in rows if r["motion"] == motion]
            out[motion] = _mean(
                sum((r["arr"] for r in mine), Decimal(0)), sum(r["n"] for r in mine)
            )
        return out

    overall = means(new)
    counts = {m: sum(r["n"] for r in new if r["motion"] == m) for m in (SALES, SELF_SERVE)}
    multiple = (
        ratio(overall[SALES], overall[SELF_SERVE])
        if overall[SALES] is not None and overall[SELF_SERVE]
        else None
    )
    monthly = {m: means(by_month.get(m, [])) for m in months}
    return Metric(
        key="deal_size",
        title="Deal size by motion",
        band="sales-assisted 3–5× self-serve",
        definition=(
            "Mean ARR of won new-business deals closed in the window, sales-assisted against "
            "self-serve, and how many times larger the sales-assisted mean is."
        ),
        source="seed 003",
        value=multiple,
        display="–" if multiple is None else f"{multiple:.1f}×",
        detail="",
        verdict=deal_size_verdict(multiple),
        chart=Chart(
            "Mean ARR of won new deals",
            [
                Series(
                    "sales-assisted",
                    [None if (v := monthly[m][SALES]) is None else float(v) for m in months],
                ),
                Series(
                    "self-serve",
                    [None if (v := monthly[m][SELF_SERVE]) is None else float(v) for m in months],
                ),
            ],
            unit="$",
        ),
        parts=[
            Part(
                "Sales-assisted",
                _fmt_money(overall[SALES]),
                _plural(counts[SALES], "deal"),
            ),
            Part(
                "Self-serve",
                _fmt_money(overall[SELF_SERVE]),
                _plural(counts[SELF_SERVE], "deal"),
            ),
        ],
        rules_lever=True,
    )


def _time_to_close(window: Window, currency: str) -> Metric:
    rows = list(
        _pql_items_with_win(currency)
        .filter(
            created_at__lt=window.end_at,
            first_win__gte=window.start_at,
            first_win__lt=window.end_at,
        )
        .values_list("created_at", "first_win")
    )
    days = [(won - created).total_seconds() / 86400 for created, won in rows]
    by_month: dict[date, list[float]] = defaultdict(list)
    for (_created, won), d in zip(rows, days, strict=True):
        by_month[_month(won)].append(d)
    median = _round1(Decimal(statistics.median(days))) if days else None
    mean = _round1(Decimal(statistics.fmean(days))) if days else None
    return Metric(
        key="time_to_close",
        title="Time to close",
        band="14–30 days",
        definition=(
            "Days from the PQL trigger (the AE or SDR queue item's creation) to the won deal "
            "of that cycle, for PQLs won in the window; the verdict reads the median."
        ),
        source="seed 003",
        value=median,
        display=_fmt_days(median),
        detail=f"median of {len(days)} won PQL{'s' if len(days) != 1 else ''}"
        + (f"; mean {_fmt_days(mean)}" if mean is not None else ""),
        verdict=time_to_close_verdict(median),
        chart=Chart(
            "Median days, PQL to won",
            [
                Series(
                    "median days",
                    [
                        _round1(Decimal(statistics.median(by_month[m])))
                        if by_month.get(m)
                        else None
                        for m in window.months
                    ],
                )
            ],
            band=(14, 30),
            unit="days",
        ),
        parts=[Part("Median", _fmt_days(median)), Part("Mean", _fmt_days(mean))],
        rules_lever=True,
    )


def _pipeline(window: Window, currency: str) -> Metric:
    # An open PQL deal has no amount until it closes: count it at the account's ARR
    # potential, as a CRM counts an opportunity at its expected amount.
    amount = Case(
        When(
            stage=Deal.Stage.OPEN,
            arr=0,
            then=Coalesce(
                F("account__arr_potential"),
                Value(Decimal(0), output_field=DecimalField(max_digits=14, decimal_places=2)),
            ),
        ),
        default=F("arr"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    rows = list(
        Deal.objects.filter(
            motion=SALES,
            stage__in=(Deal.Stage.OPEN, WON),
            currency=currency,
            opened_at__gte=window.start_at,
            opened_at__lt=window.end_at,
        )
        .annotate(month=TruncMonth("opened_at", tzinfo=UTC))
        .values("month", "source")
        .annotate(n=Count("pk"), amount=Sum(amount))
        .order_by()
    )
    by_month = _by_month(rows)

    def share(rows: list[dict]) -> float | None:
        total = sum((r["amount"] or Decimal(0) for r in rows), Decimal(0))
        pqls = sum(
            (r["amount"] or Decimal(0) for r in rows if r["source"] == Deal.Source.PQL),
            Decimal(0),
        )
        return pct(pqls, total)

    value = share(rows)
    by_source: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for r in rows:
        by_source[r["source"]][0] += r["n"]
        by_source[r["source"]][1] += r["amount"] or Decimal(0)
    labels = dict(Deal.Source.choices)
    parts = [
        Part(labels[s], _fmt_money(by_source[s][1]), _plural(by_source[s][0], "deal"))
        for s in (
            Deal.Source.PQL,
            Deal.Source.OUTBOUND,
            Deal.Source.INBOUND,
            Deal.Source.EXPANSION,
        )
        if s in by_source
    ]
    return Metric(
        key="pipeline",
        title="Pipeline from product",
        band="60–80 % product-sourced",
        definition=(
            "ARR of sales deals opened in the window that came from PQLs (source PQL), open "
            "or won, ÷ ARR of all sales deals opened in the window, open or won, whatever "
            "their source: PQL, inbound, outbound (CRM imports included) and expansion. An "
            "open deal without an amount yet counts at its account's ARR potential. Lost "
            "deals and self-serve purchases are not pipeline."
        ),
        source="seed 003",
        value=value,
        display=_fmt_pct(value),
        detail=f"{sum(r['n'] for r in rows)} sales deals opened",
        verdict=pipeline_verdict(value),
        chart=Chart(
            "PQL-sourced, % of pipeline ARR",
            [Series("from product", [share(by_month.get(m, [])) for m in window.months])],
            band=(60, 80),
            unit="%",
        ),
        parts=parts,
        rules_lever=True,
    )


def _cannibalisation(window: Window, currency: str) -> Metric:
    item = QueueItem.objects.filter(deal=OuterRef("pk")).order_by("-created_at")
    checkout = Event.objects.filter(account=OuterRef("account"), timestamp__lt=OuterRef("touch"))
    fits = RouteChange.objects.filter(FITS_SELF_SERVE, account=OuterRef("account"))
    last_product_route = (
        RouteChange.objects.filter(
            account=OuterRef("account"),
            at__lte=OuterRef("cycle_start"),
            to_route__in=PRODUCT_ROUTES,
        )
        .annotate(
            fits=Case(When(FITS_SELF_SERVE, then=Value(True)), default=Value(False)),
        )
        .order_by("-at", "-id")
        .values("fits")[:1]
    )
    rows = list(
        Deal.objects.filter(NEW_BUSINESS, stage=WON, motion=SALES, currency=currency)
        .filter(closed_at__gte=window.start_at, closed_at__lt=window.end_at)
        .annotate(
            item_route=Subquery(item.values("route")[:1]),
            cycle_start=Coalesce(Subquery(item.values("created_at")[:1]), F("opened_at")),
            touch=Coalesce(Subquery(item.values("first_touch_at")[:1]), F("opened_at")),
        )
        .annotate(
            started=Subquery(
                checkout.filter(category=Category.CHECKOUT_STARTED)
                .order_by("-timestamp")
                .values("timestamp")[:1]
            ),
            completed=Subquery(
                checkout.filter(category=Category.CHECKOUT_COMPLETED)
                .order_by("-timestamp")
                .values("timestamp")[:1]
            ),
            hero_in_cycle=Exists(
                fits.filter(at__gte=OuterRef("cycle_start"), at__lte=OuterRef("closed_at"))
            ),
            fit_when_routed=Subquery(last_product_route, output_field=BooleanField()),
        )
        .values(
            "pk",
            "account_id",
            "account__name",
            "closed_at",
            "arr",
            "source",
            "item_route",
            "touch",
            "started",
            "completed",
            "account__checkout_started_at",
            "account__checkout_completed_at",
            "hero_in_cycle",
            "fit_when_routed",
        )
        .order_by("-closed_at", "-pk")
    )
    flagged: dict[int, dict] = {}
    accounts: set[int] = set()
    month_accounts: dict[date, set[int]] = defaultdict(set)
    month_flagged: dict[date, set[int]] = defaultdict(set)
    for r in rows:
        month = _month(r["closed_at"])
        accounts.add(r["account_id"])
        month_accounts[month].add(r["account_id"])
        why = _cannibalised_why(r)
        if why:
            month_flagged[month].add(r["account_id"])
            if r["account_id"] not in flagged:
                flagged[r["account_id"]] = {
                    "account_id": r["account_id"],
                    "account": r["account__name"],
                    "closed_at": r["closed_at"],
                    "arr": r["arr"],
                    "source": Deal.Source(r["source"]).label,
                    "why": "; ".join(why),
                }
    value = pct(len(flagged), len(accounts))
    rows_out = list(flagged.values())
    return Metric(
        key="cannibalisation",
        title="Cannibalisation",
        band="as low as possible",
        definition=(
            "Accounts sales closed (won new-business sales-assisted deals closed in the "
            "window) that fit the self-serve profile, ÷ all accounts sales closed. An account "
            "fits when a self-serve checkout was open at the first touch (started before it, "
            "not completed in between), when scoring routed it self-serve hero or below the "
            "ARR floor while sales worked it, or — for inbound and outbound deals, which the "
            "PQL rules did not route — when that was its route before the sales cycle began."
        ),
        source="seed 003",
        value=value,
        display=_fmt_pct(value),
        detail=f"{len(flagged)} of {len(accounts)} accounts closed by sales",
        verdict=cannibalisation_verdict(value),
        chart=Chart(
            "Fit self-serve, % of accounts closed by sales",
            [
                Series(
                    "cannibalised",
                    [pct(len(month_flagged[m]), len(month_accounts[m])) for m in window.months],
                )
            ],
            unit="%",
        ),
        rows=rows_out[:20],
        rows_total=len(rows_out),
        rules_lever=True,
    )


def _cannibalised_why(r: dict) -> list[str]:
    """Why one sales-closed deal's account fitted the self-serve profile (none: [])."""
    why = []
    touch = r["touch"]
    started, completed = r["started"], r["completed"]
    open_checkout = started is not None and (completed is None or completed < started)
    acc_started, acc_completed = (
        r["account__checkout_started_at"],
        r["account__checkout_completed_at"],
    )
    if not open_checkout and acc_started is not None and acc_started < touch:
        # The account's latest checkout fields, for history without stored events.
        open_checkout = acc_completed is None or not (acc_started <= acc_completed < touch)
    if open_checkout:
        why.append("checkout started before the first touch")
    if r["hero_in_cycle"]:
        why.append("routed self-serve hero or below the ARR floor during the sales cycle")
    elif r["item_route"] not in PQL_ROUTES and r["fit_when_routed"]:
        why.append("self-serve hero or below the ARR floor when sales took it")
    return why


def _pql_volume(window: Window, per_month: dict[date, dict], total: int) -> Metric:
    aes = User.objects.filter(role=Role.REP, rep_type=RepType.AE, is_active=True).count()
    capacity = (
        RuleSet.objects.filter(state=RuleSet.State.ACTIVE)
        .values_list("ae_weekly_capacity", flat=True)
        .first()
    ) or RuleSet._meta.get_field("ae_weekly_capacity").default
    per_ae_month = ratio(Decimal(total) * MONTH_DAYS, Decimal(aes) * window.days) if aes else None
    per_week = ratio(Decimal(total) * 7, window.days)
    per_ae_week = ratio(Decimal(total) * 7, Decimal(aes) * window.days) if aes else None
    series = [
        ratio(Decimal(per_month[m]["n"]) * MONTH_DAYS, Decimal(aes) * window.days_in(m))
        if aes and m in per_month
        else (0.0 if aes else None)
        for m in window.months
    ]
    return Metric(
        key="pql_volume",
        title="PQL volume against AE capacity",
        band="≈10 good PQLs a week; 30–50 a month fill one AE",
        definition=(
            "New PQL queue items (routes AE and SDR; inbound and expansion left out) created "
            "in the window, per week and per active AE per 30 days. The weekly capacity per "
            f"AE is the active rule set's setting (now {capacity}). Partial months are "
            "scaled to 30 days."
        ),
        source="seed 003",
        value=per_ae_month,
        display="–" if per_ae_month is None else f"{per_ae_month:.1f} a month per AE",
        detail=f"{total} new PQLs, {aes} active AE{'s' if aes != 1 else ''}",
        verdict=pql_volume_verdict(per_ae_month),
        chart=Chart(
            "New PQLs per AE per 30 days", [Series("per AE", series, "bar")], band=(30, 50)
        ),
        parts=[
            Part("Per week", "–" if per_week is None else f"{per_week:.1f}", "all AEs"),
            Part(
                "Per week per AE",
                "–" if per_ae_week is None else f"{per_ae_week:.1f}",
                f"capacity {capacity} a week",
            ),
        ],
        rules_lever=True,
    )


def _free_to_paid(window: Window, currency: str) -> Metric:
    start, end = window.start_at, window.end_at
    first_win = Deal.objects.filter(
        account=OuterRef("pk"), stage=WON, change=Deal.Change.NEW, arr__gt=0
    ).order_by("closed_at", "pk")
    trial = (
        Q(status=Account.Status.TRIAL)
        | Q(plan__is_trial=True)
        | Exists(
            Event.objects.filter(
                account=OuterRef("pk"),
                category=Category.MILESTONE,
                key=TRIAL_KEY,
                timestamp__lt=end,
            )
        )
    )
    rows = list(
        Account.objects.filter(merged_into__isnull=True, created_at__lt=end)
        .annotate(
            converted_at=Subquery(first_win.values("closed_at")[:1]),
            converted_currency=Subquery(first_win.values("currency")[:1]),
        )
        .filter(
            Q(converted_at__isnull=True, status__in=(Account.Status.FREE, Account.Status.TRIAL))
            | Q(converted_at__gte=start, converted_currency=currency)
        )
        .annotate(
            trial=Case(When(trial, then=Value(True)), default=Value(False)),
            converted=Case(When(converted_at__lt=end, then=Value(True)), default=Value(False)),
            created_month=TruncMonth("created_at", tzinfo=UTC),
            converted_month=TruncMonth("converted_at", tzinfo=UTC),
        )
        .values("trial", "converted", "created_month", "converted_month")
        .annotate(n=Count("pk"))
        .order_by()
    )
    first_month = window.months[0]

    def rate(is_trial: bool, month: date | None = None) -> tuple[float | None, int, int]:
        pool = converted = 0
        for r in rows:
            if r["trial"] != is_trial:
                continue
            conv = _month(r["converted_month"]) if r["converted"] else None
            if month is not None:
                if max(_month(r["created_month"]), first_month) > month:
                    continue
                if conv is not None and conv < month:
                    continue
            pool += r["n"]
            if conv is not None and (month is None or conv == month):
                converted += r["n"]
        return pct(converted, pool), converted, pool

    free_rate, free_conv, free_pool = rate(False)
    trial_rate, trial_conv, trial_pool = rate(True)
    return Metric(
        key="free_to_paid",
        title="Free-to-paid",
        band="freemium ≈5 %, trial 10–15 %",
        definition=(
            "Accounts that were free or on a trial during the window (not paying before it "
            "began) that won their first paid deal (either motion) in the window, ÷ those "
            "accounts; trial accounts (a “Trial Started” milestone or a trial plan) apart "
            "from freemium ones; an account whose first purchase is in another currency is "
            "left out. A month of the chart is that month's conversions ÷ the accounts still "
            "free then, so longer windows compare better with the benchmarks."
        ),
        source="seed 004",
        value=free_rate,
        display=_fmt_pct(free_rate),
        detail=f"freemium: {free_conv} of {free_pool} accounts",
        verdict=freemium_verdict(free_rate),
        chart=Chart(
            "Converted to paid, % of free or trial accounts",
            [
                Series("freemium", [rate(False, m)[0] for m in window.months]),
                Series("trial", [rate(True, m)[0] for m in window.months]),
            ],
            unit="%",
        ),
        parts=[
            Part(
                "Freemium",
                _fmt_pct(free_rate),
                f"{free_conv} of {free_pool} accounts",
                freemium_verdict(free_rate),
            ),
            Part(
                "Trial",
                _fmt_pct(trial_rate),
                f"{trial_conv} of {trial_pool} accounts",
                trial_verdict(trial_rate),
            ),
        ],
        kpi=True,
    )


def _package_mix(window: Window, currency: str) -> Metric:
    rows = list(
        Deal.objects.filter(NEW_BUSINESS, stage=WON, currency=currency)
        .filter(closed_at__gte=window.start_at, closed_at__lt=window.end_at)
        .annotate(month=TruncMonth("closed_at", tzinfo=UTC))
        .values("month", "plan_id", "plan__name", "plan__position")
        .annotate(accounts=Count("account", distinct=True), arr=Sum("arr"))
        .order_by("plan__position", "plan__name")
    )
    plans: dict[int | None, dict] = {}
    for r in rows:
        plan = plans.setdefault(
            r["plan_id"],
            {"plan": r["plan__name"] or "No plan", "accounts": 0, "arr": Decimal(0), "by": {}},
        )
        # An account buys one new contract: summing monthly distinct counts is exact.
        plan["accounts"] += r["accounts"]
        plan["arr"] += r["arr"] or Decimal(0)
        month = _month(r["month"])
        plan["by"][month] = plan["by"].get(month, Decimal(0)) + (r["arr"] or Decimal(0))
    total_arr = sum((p["arr"] for p in plans.values()), Decimal(0))
    total_accounts = sum(p["accounts"] for p in plans.values())
    table = [
        {
            "plan": p["plan"],
            "accounts": p["accounts"],
            "arr": _fmt_money(p["arr"]),
            "share": _fmt_pct(pct(p["arr"], total_arr)),
        }
        for p in plans.values()
    ]
    return Metric(
        key="package_mix",
        title="Package mix",
        band="trend, no band",
        definition=(
            "New paid accounts and their new ARR per plan: won new-business deals (either "
            "motion) closed in the window, by the deal's plan."
        ),
        source="seed 004",
        value=float(total_arr) if plans else None,
        display=f"{_fmt_money(total_arr)} new ARR" if plans else "–",
        detail=f"{_plural(total_accounts, 'new paid account')} on {_plural(len(plans), 'plan')}",
        verdict=Verdict(INFO, "Trend, no band")
        if plans
        else Verdict(NONE, NOT_ENOUGH, "No new paid account in this window."),
        chart=Chart(
            "New ARR by plan",
            [
                Series(p["plan"], [float(p["by"].get(m, 0)) for m in window.months], "bar")
                for p in plans.values()
            ],
            stacked=True,
            unit="$",
        ),
        rows=table,
        rows_total=len(table),
        kpi=True,
    )


def _ceiling(months: list[date], won_rows: list[dict]) -> Metric:
    mine = [r for r in won_rows if r["motion"] == SELF_SERVE]
    by_month = _by_month(mine)

    def monthly_mean(rows: list[dict]) -> Decimal | None:
        mean = _mean(sum((r["arr"] for r in rows), Decimal(0)), sum(r["n"] for r in rows))
        return None if mean is None else (mean / 12).quantize(Decimal("1"))

    value = monthly_mean(mine)
    count = sum(r["n"] for r in mine)
    return Metric(
        key="ceiling",
        title="Self-serve ceiling",
        band="trend; commonly plateaus at $500–2,000 a month",
        definition=(
            "Mean self-serve deal size (new purchases, upgrades and downgrades from "
            "checkout; refunds left out) closed in the window, as a monthly price (ARR ÷ 12), "
            "by month. Where it plateaus is the self-serve ceiling."
        ),
        source="seed 003",
        value=None if value is None else float(value),
        display="–" if value is None else f"{_fmt_money(value)} a month",
        detail=f"{count} self-serve purchase{'s' if count != 1 else ''}",
        verdict=ceiling_verdict(value),
        chart=Chart(
            "Mean self-serve deal, $ a month",
            [
                Series(
                    "mean a month",
                    [
                        None if (v := monthly_mean(by_month.get(m, []))) is None else float(v)
                        for m in months
                    ],
                )
            ],
            band=(500, 2000),
            unit="$",
            band_label="common ceiling",
        ),
        kpi=True,
    )


def _activation(window: Window) -> Metric:
    keys = list(
        TrackingPlanEntry.objects.filter(
            category=Category.MILESTONE,
            flag=TrackingPlanEntry.Flag.ACTIVATION,
        )
        .exclude(key="")
        .values_list("key", flat=True)
        .distinct()
    )
    rows = []
    if keys:
        rows = list(
            Account.objects.filter(
                merged_into__isnull=True,
                created_at__gte=window.start_at,
                created_at__lt=window.end_at,
            )
            .annotate(
                activated=Exists(
                    Event.objects.filter(
                        account=OuterRef("pk"), category=Category.MILESTONE, key__in=keys
                    )
                ),
                month=TruncMonth("created_at", tzinfo=UTC),
            )
            .values("month")
            .annotate(n=Count("pk"), activated_n=Count("pk", filter=Q(activated=True)))
            .order_by()
        )
    per_month = {_month(r["month"]): r for r in rows}
    total = sum(r["n"] for r in rows)
    activated = sum(r["activated_n"] for r in rows)
    value = pct(activated, total)
    return Metric(
        key="activation",
        title="Activation rate",
        band="trend, no band",
        definition=(
            "New accounts (created in the window) that reached an activation milestone "
            "(tracking-plan milestones flagged “Activation milestone”"
            + (f": {', '.join(sorted(keys))}" if keys else "")
            + ") by now, ÷ new accounts; by month of creation."
        ),
        source="seed 000",
        value=value,
        display=_fmt_pct(value),
        detail=f"{activated} of {total} new accounts",
        verdict=activation_verdict(value, has_milestone=bool(keys)),
        chart=Chart(
            "Activated, % of new accounts",
            [
                Series(
                    "activated",
                    [
                        pct(per_month[m]["activated_n"], per_month[m]["n"])
                        if m in per_month
                        else None
                        for m in window.months
                    ],
                )
            ],
            unit="%",
        ),
        kpi=True,
    )
