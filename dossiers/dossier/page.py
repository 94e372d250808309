"""The whole dossier page: every section, each read once and shared where two need it."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from accounts.models import AccountDay
from dossiers.charts import TREND_DAYS
from dossiers.dossier.overview import overview_get
from dossiers.dossier.people import people_get
from dossiers.dossier.play import play_get
from dossiers.dossier.scope import dossier_scope, item_dict
from dossiers.dossier.score import score_get
from dossiers.dossier.timeline import timeline_get
from dossiers.dossier.touch_log import touch_log_get, touches_for
from dossiers.dossier.usage import milestones_get, trend_get, usage_get
from pls_portal.models import User


def dossier_get(*, user: User, account_id: int, today: date | None = None) -> dict:
    """Every section of the dossier (DossierNotFound when the user may not open it)."""
    scope = dossier_scope(user=user, account_id=account_id)
    account = scope.account
    today = today or timezone.now().date()
    days = list(
        AccountDay.objects.filter(
            account=account, day__gt=today - timedelta(days=TREND_DAYS), day__lte=today
        ).order_by("day")
    )
    usage = usage_get(account=account, today=today, days=days)
    milestones = milestones_get(account=account, entries=usage.pop("milestone_entries"))
    touches = touches_for(items=scope.items)
    return {
        "scope": scope,
        "overview": overview_get(account=account),
        "usage": usage,
        "milestones": milestones,
        "trend": trend_get(account=account, today=today, days=days),
        "score": score_get(account=account),
        "timeline": timeline_get(scope=scope, touches=touches, milestones=milestones),
        "people": people_get(scope=scope, users_total=usage["seats"]),
        "play": play_get(account=account, user=user),
        "touch_log": touch_log_get(scope=scope, touches=touches),
        "items": [item_dict(i) for i in scope.items],
    }
