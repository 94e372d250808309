"""PLS metrics and PM KPIs over a window, each with the seeds' band and reading.

Every number comes from a fixed set of aggregate queries (one or two per metric family,
about a dozen in all) whatever the data size; Python only sums the grouped rows into
months and computes medians over the won PQLs of the window. All revenue reads
``accounts.Deal`` in ``settings.PLS_CURRENCY``; deals in another currency are counted and
left out (DESIGN.md "Decisions"). Definitions are documented on the page from
``Metric.definition``.

By use case:

- ``window``: the window the PM picks (presets, custom span, months it touches).
- ``page``: ``metrics_for``, the whole page's numbers in one call.
- ``pql``: PQL-to-close, time to close, PQL volume against AE capacity.
- ``revenue``: sales-assisted share of new revenue, deal size by motion, pipeline.
- ``cannibalisation``: sales-closed accounts that fit self-serve.
- ``kpis``: the PM KPIs (free-to-paid, package mix, self-serve ceiling, activation).
- ``verdicts``: the seeds' bands, pure functions of a value.
- ``base``: result types, verdict levels, rounding and formatting, deal vocabulary.
"""

from feedback.metrics.base import (
    BAD,
    GOOD,
    INFO,
    NONE,
    NOT_ENOUGH,
    WARN,
    Chart,
    Metric,
    Part,
    Series,
    Verdict,
    pct,
    ratio,
)
from feedback.metrics.page import Metrics, metrics_for
from feedback.metrics.verdicts import (
    activation_verdict,
    cannibalisation_verdict,
    ceiling_verdict,
    deal_size_verdict,
    freemium_verdict,
    pipeline_verdict,
    pql_to_close_verdict,
    pql_volume_verdict,
    sales_share_verdict,
    time_to_close_verdict,
    trial_verdict,
)
from feedback.metrics.window import DEFAULT_DAYS, MAX_DAYS, PRESET_DAYS, Window, window_last

__all__ = [
    "BAD",
    "DEFAULT_DAYS",
    "GOOD",
    "INFO",
    "MAX_DAYS",
    "NONE",
    "NOT_ENOUGH",
    "PRESET_DAYS",
    "WARN",
    "Chart",
    "Metric",
    "Metrics",
    "Part",
    "Series",
    "Verdict",
    "Window",
    "activation_verdict",
    "cannibalisation_verdict",
    "ceiling_verdict",
    "deal_size_verdict",
    "freemium_verdict",
    "metrics_for",
    "pct",
    "pipeline_verdict",
    "pql_to_close_verdict",
    "pql_volume_verdict",
    "ratio",
    "sales_share_verdict",
    "time_to_close_verdict",
    "trial_verdict",
    "window_last",
]
