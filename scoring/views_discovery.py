"""Signal discovery and weight suggestions: PM pages (admins too)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pls_portal.permissions import pm_required
from scoring.services.discovery import (
    LEAKY_SIGNALS,
    NEVER_DAYS,
    outcome_dataset_cached,
    signal_histogram,
    signals_ranked,
)
from scoring.services.run import NoActiveRuleSet
from scoring.services.suggestions import (
    FACTOR_MAX,
    FACTOR_MIN,
    MIN_OUTCOMES,
    MIN_WINS,
    TEST_SHARE,
    SuggestionsNotReady,
    suggestions_apply,
    suggestions_for,
)
from scoring.signals import SIGNALS_BY_NAME

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


@require_GET
@pm_required
def discovery(request: HttpRequest) -> HttpResponse:
    """Which behaviour predicts buying: each signal for converted accounts against the
    others, and all signals ranked by how well they separate the two."""
    dataset = outcome_dataset_cached()
    ranked = signals_ranked(dataset)
    by_name = {s.signal.name: s for s in ranked}
    wanted = request.GET.get("signal", "")
    unknown = wanted if wanted and wanted not in by_name else ""
    selected = by_name.get(wanted) or (ranked[0] if ranked else None)
    figure = ""
    if selected is not None and dataset.outcomes:
        figure = signal_histogram(dataset, selected.signal).to_html(
            full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG
        )
    context = {
        "dataset": dataset,
        "ranked": ranked,
        "selected": selected,
        "unknown": unknown,
        "figure": figure,
        "never_days": int(NEVER_DAYS),
        "leaky": [(SIGNALS_BY_NAME[n].label, why) for n, why in LEAKY_SIGNALS.items()],
    }
    template = "scoring/discovery.html#chart" if request.htmx else "scoring/discovery.html"
    return render(request, template, context)


def _suggestions_context() -> dict:
    context = {
        "min_outcomes": MIN_OUTCOMES,
        "min_wins": MIN_WINS,
        "test_pct": round(TEST_SHARE * 100),
        "factor_min": FACTOR_MIN,
        "factor_max": FACTOR_MAX,
        "leaky": [(SIGNALS_BY_NAME[n].label, why) for n, why in LEAKY_SIGNALS.items()],
    }
    try:
        context["result"] = suggestions_for()
    except NoActiveRuleSet as exc:
        context["error"] = str(exc)
    return context


@require_GET
@pm_required
def suggestions(request: HttpRequest) -> HttpResponse:
    """Points for the active rule set's rules, suggested from won deals vs no deal."""
    return render(request, "scoring/suggestions.html", _suggestions_context())


@require_POST
@pm_required
def suggestions_apply_view(request: HttpRequest) -> HttpResponse:
    """Copy the suggested points into a new draft and open it in the rule editor."""
    try:
        draft = suggestions_apply(user=request.user)
    except (SuggestionsNotReady, NoActiveRuleSet) as exc:
        messages.error(request, str(exc))
        return redirect("scoring:suggestions")
    messages.success(
        request,
        f"Draft v{draft.version} made from the suggestions: review it, backtest it and propose it.",
    )
    return redirect(reverse("scoring:rule_set", args=[draft.pk]))
