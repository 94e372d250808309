"""Reads of scoring/ for pages, exports and other apps."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from pls_portal.cache import shared
from scoring.engine import Settings
from scoring.models import AccountScore, QueueItem, Rule, RuleSet, RuleSetAudit

# CRM-import-friendly names (no spaces, one meaning each); ``route`` is the routing decision.
SCORE_EXPORT_COLUMNS = (
    "account_id", "account_name", "domain", "pql_score", "value_score", "engagement_score",
    "route", "queue_state", "top_reasons", "scored_at",
)  # fmt: skip


def active_settings_read() -> Settings:
    """The active rule set's settings (defaults without one), read now: what services that
    act on them use, in their own transaction."""
    rule_set = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    return Settings.of(rule_set) if rule_set else Settings()


def active_settings() -> Settings:
    """``active_settings_read`` for pages: kept per data generation (rule sets are
    watched, ``pls_portal.cache``)."""
    return shared("scoring:active-settings", active_settings_read)


def score_export_rows(*, routes: list[str] | None = None) -> Iterator[list]:
    """One row per scored account (merged-away accounts left out), streamed."""
    latest_state = (
        QueueItem.objects.filter(account_id=OuterRef("account_id"))
        .order_by("-created_at", "-id")
        .values("state")[:1]
    )
    scores = (
        AccountScore.objects.filter(account__merged_into__isnull=True)
        .annotate(queue_state=Subquery(latest_state))
        .values_list(
            "account_id",
            "account__name",
            "account__domain",
            "score",
            "value",
            "engagement",
            "route",
            "queue_state",
            "contributions",
            "scored_at",
        )
        .order_by("account_id")
    )
    if routes:
        scores = scores.filter(route__in=routes)
    for row in scores.iterator(chunk_size=2000):
        *head, contributions, scored_at = row
        positive = [c["reason"] for c in contributions if c.get("points", 0) > 0]
        reasons = "; ".join(positive[:3])
        yield [*head[:7], head[7] or "", reasons, scored_at.isoformat()]


def rule_sets() -> QuerySet[RuleSet]:
    return RuleSet.objects.select_related("created_by", "based_on").order_by("-version")


def rule_set_detail(*, rule_set_id: int) -> RuleSet:
    return (
        RuleSet.objects.select_related("created_by", "based_on")
        .prefetch_related(
            Prefetch("rules", queryset=Rule.objects.order_by("position", "id")),
            Prefetch("audit", queryset=RuleSetAudit.objects.select_related("user")),
        )
        .get(pk=rule_set_id)
    )
