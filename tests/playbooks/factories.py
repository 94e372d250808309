"""Scored accounts as the scoring run leaves them, for play matching and messages."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import Plan
from scoring.models import Route
from scoring.signals import SIGNALS
from tests.factories import AccountFactory
from tests.scoring.factories import AccountDayFactory, AccountScoreFactory, QueueItemFactory


def quiet_signals(**values) -> dict:
    """Every registry signal at rest (0, no sales request), with ``values`` on top."""
    signals = {s.name: 0 for s in SIGNALS}
    signals["sales_request_days"] = None
    signals["idle_days"] = 31
    signals.update(values)
    return signals


def scored_account(
    *,
    plan: str | None = "team",
    route: str = Route.SDR,
    age_days: int = 120,
    baseline: dict | None = None,
    changed_at=None,
    name: str | None = None,
    **signals,
):
    """An account with a stored score whose signals are ``signals`` (the rest at rest)."""
    fields = {"created_at": timezone.now() - timedelta(days=age_days)}
    if name:
        fields["name"] = name
    if plan:
        fields["plan"] = Plan.objects.get(key=plan)
    account = AccountFactory(**fields)
    AccountScoreFactory(
        account=account,
        signals=quiet_signals(**signals),
        route=route,
        expansion_baseline=baseline or {},
        changed_at=changed_at,
    )
    return account


def limit_hits(account, *, days_ago: int, **hits) -> None:
    """Limit hits on one UTC day of the account's rollups: ``exports=2``."""
    AccountDayFactory(
        account=account, day=timezone.now().date() - timedelta(days=days_ago), limit_hits=hits
    )


def open_item(account, *, buyers: list[dict] | None = None):
    return QueueItemFactory(account=account, buyers=buyers or [], missing_buyer=not buyers)
