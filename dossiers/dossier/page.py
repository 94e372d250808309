"""The whole dossier page: every section, each read once and shared where two need it.

Two halves: the account sections (``account_sections_get``: overview, usage, milestones,
trend, score), a function of the account's data that the page caches
(``dossiers.dossier.cache``), and the rest (``dossier_rest_get``: the item, touch log,
timeline and play), read on every request. ``dossiers.dossier.parts.page_get`` puts
them together with the people (``people_get``), which are cached too."""

from __future__ import annotations

from datetime import date, timedelta

from accounts.models import Account, AccountDay
from dossiers.charts import TREND_DAYS
from dossiers.dossier.overview import overview_get
from dossiers.dossier.play import play_get
from dossiers.dossier.scope import DossierScope, item_dict
from dossiers.dossier.score import score_get
from dossiers.dossier.timeline import timeline_get
from dossiers.dossier.touch_log import touch_log_get, touches_for
from dossiers.dossier.usage import milestones_get, trend_get, usage_get
from playbooks.models import PlayMatch
from pls_portal.models import User


def account_sections_get(*, account: Account, today: date) -> dict:
    """Overview, usage, milestones, trend and score of the account as of ``today``."""
    days = list(
        AccountDay.objects.filter(
            account=account, day__gt=today - timedelta(days=TREND_DAYS), day__lte=today
        ).order_by("day")
    )
    usage = usage_get(account=account, today=today, days=days)
    milestones = milestones_get(account=account, entries=usage.pop("milestone_entries"))
    return {
        "overview": overview_get(account=account),
        "usage": usage,
        "milestones": milestones,
        "trend": trend_get(account=account, today=today, days=days),
        "score": score_get(account=account),
    }


def dossier_rest_get(
    *,
    scope: DossierScope,
    user: User,
    milestones: dict,
    hits: dict | None = None,
    match: PlayMatch | None,
) -> dict:
    """The item, touch log, timeline and play (``milestones`` from the account sections,
    which the timeline shows too). The people are ``people_get``'s, read apart: the
    page caches them (dossiers.dossier.cache)."""
    touches = touches_for(items=scope.items)
    active = next((i for i in scope.items if i.is_active), None)
    return {
        "scope": scope,
        "timeline": timeline_get(scope=scope, touches=touches, milestones=milestones),
        "play": play_get(
            account=scope.account,
            user=user,
            buyers=active.buyers if active else None,
            hits=hits,
            match=match,
        ),
        "touch_log": touch_log_get(scope=scope, touches=touches),
        "items": [item_dict(i) for i in scope.items],
    }
