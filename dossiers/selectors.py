"""Reads for the PQL queue: the user's pool of active queue items, filtered and ordered
(overdue first, then due time, then score), shaped as plain dicts for the templates.

A page runs a fixed number of queries whatever its size: the items (with the score
before today and the account's name and domain as subqueries), their stored play
matches, the play list for the filter, the active rule set's cool-down and the
pagination count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from accounts.models import Account, AccountDomain
from playbooks.models import Play, PlayMatch
from playbooks.selectors import best_plays
from pls_portal.models import RepType, Role, User
from scoring.engine import Settings
from scoring.models import QueueItem, Route, RuleSet, ScoreHistory
from scoring.services.queue import pool_q

PER_PAGE = 25
TOP_REASONS = 3
CLAIMED_CHOICES = (("me", "Claimed by me"), ("unclaimed", "Unclaimed"))
# Routes a queue item can be on, by who works them.
POOL_ROUTES = {
    RepType.AE: (Route.AE, Route.INBOUND, Route.EXPANSION),
    RepType.SDR: (Route.SDR,),
}
ALL_QUEUE_ROUTES = (Route.AE, Route.SDR, Route.INBOUND, Route.EXPANSION)
# Routes the row labels: they are not PQLs and reps handle them differently.
LABELLED_ROUTES = (Route.INBOUND, Route.EXPANSION)
ROW_FIELDS = (
    "account_id",
    "route",
    "state",
    "score",
    "reasons",
    "route_reason",
    "missing_buyer",
    "due_at",
    "first_touch_at",
    "claimed_by_id",
    "claimed_by__username",
    "claimed_by__first_name",
    "claimed_by__last_name",
)
# The row actions and their views. Each URL is reversed once per page with a placeholder
# id, then filled in for every row: reversing each row's URLs in the template (25 rows,
# up to 7 URLs, each written twice) took a tenth of the page's time.
ACTION_VIEWS = {
    "claim": "dossiers:item_claim",
    "release": "dossiers:item_release",
    "won": "dossiers:item_won",
    "lost": "dossiers:item_lost",
    "disqualify": "dossiers:item_disqualify",
    "marketing": "dossiers:item_hand_to_marketing",
    "hand_to_ae": "dossiers:item_hand_to_ae",
}
_ID = 2_147_483_647  # the placeholder: no URL prefix holds it as a path segment


@dataclass(frozen=True)
class QueueFilters:
    route: str = ""
    play: str = ""
    claimed: str = ""  # "me", "unclaimed" or "" (anyone)
    overdue: bool = False
    missing_buyer: bool = False
    q: str = ""

    @property
    def any(self) -> bool:
        return any((self.route, self.play, self.claimed, self.overdue, self.missing_buyer, self.q))


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict]
    page: Page
    cooldown_days: int
    filtered_out: bool  # empty only because of the filters


def dossier_url(account_id: int) -> str:
    return reverse("dossiers:dossier", args=[account_id])


def read_only(user: User) -> bool:
    """PMs see every pool but act on none."""
    return user.role == Role.PM


def queue_scope(user: User) -> Q:
    """Reps: their pool and the items they hold; PMs (read-only) and admins: every pool."""
    if user.role in (Role.PM, Role.ADMIN):
        return Q()
    return pool_q(user) | Q(claimed_by=user)


def route_choices(user: User) -> list[tuple[str, str]]:
    routes = POOL_ROUTES.get(user.rep_type) if user.role == Role.REP else ALL_QUEUE_ROUTES
    return [(route, Route(route).label) for route in routes or ()]


def play_choices() -> list[tuple[str, str]]:
    return list(Play.objects.filter(is_active=True).values_list("key", "name"))


def cooldown_days() -> int:
    """The active rule set's cool-down (what losing, disqualifying or handing over starts)."""
    days = (
        RuleSet.objects.filter(state=RuleSet.State.ACTIVE)
        .values_list("cooldown_days", flat=True)
        .first()
    )
    return days if days is not None else Settings().cooldown_days


def _overdue_q(now: datetime) -> Q:
    """Past due and not touched yet (the SLA is met by the first touch, not the claim)."""
    return Q(first_touch_at__isnull=True, due_at__lt=now)


def queue_items(*, user: User, filters: QueueFilters, now: datetime) -> QuerySet[QueueItem]:
    """The active items the user may see, filtered, most urgent first."""
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    before_today = (
        ScoreHistory.objects.filter(account_id=OuterRef("account_id"), at__lt=midnight)
        .order_by("-at", "-id")
        .values("score")[:1]
    )
    # The account's name and domain as subqueries, not a join: the database reads them
    # for the page's rows only, after sorting the pool's items (a join reads every
    # account of the pool first).
    account = Account.objects.filter(pk=OuterRef("account_id")).order_by()
    items = (
        QueueItem.objects.filter(queue_scope(user), state__in=QueueItem.ACTIVE_STATES)
        .select_related("claimed_by")
        # What a row shows, not the stored buyers (kilobytes of JSON an item).
        .only(*ROW_FIELDS)
        .annotate(
            account_name=Subquery(account.values("name")[:1]),
            account_domain=Subquery(account.values("domain")[:1]),
            is_overdue=Case(
                When(_overdue_q(now), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            score_before_today=Subquery(before_today),
        )
        .order_by("-is_overdue", "due_at", "-score", "pk")
    )
    if filters.route:
        items = items.filter(route=filters.route)
    if filters.play:
        # By the match's account id: no join through every matched account's row.
        matched = PlayMatch.objects.filter(play__key=filters.play).values("account_id")
        items = items.filter(account_id__in=matched)
    if filters.claimed == "me":
        items = items.filter(claimed_by=user)
    elif filters.claimed == "unclaimed":
        items = items.filter(claimed_by__isnull=True)
    if filters.overdue:
        items = items.filter(_overdue_q(now))
    if filters.missing_buyer:
        items = items.filter(missing_buyer=True)
    if filters.q:
        # Two EXISTS, not a join: PostgreSQL answers each from the trigram indexes
        # (accounts migration 0015) for the matching accounts only, where a join made it
        # read and hash every account for each search.
        named = Account.objects.filter(pk=OuterRef("account_id")).filter(
            Q(name__icontains=filters.q) | Q(domain__icontains=filters.q)
        )
        other_domain = AccountDomain.objects.filter(
            account_id=OuterRef("account_id"), domain__icontains=filters.q
        )
        items = items.filter(Exists(named) | Exists(other_domain))
    return items


def queue_page(
    *, user: User, filters: QueueFilters, page_number: int | str = 1, now: datetime | None = None
) -> QueuePage:
    now = now or timezone.now()
    paginator = Paginator(queue_items(user=user, filters=filters, now=now), PER_PAGE)
    page = paginator.get_page(page_number)
    items = list(page.object_list)
    # With nothing shown, say whether the filters hide items or the queue is empty.
    filtered_out = bool(
        not items
        and filters.any
        and queue_items(user=user, filters=QueueFilters(), now=now).exists()
    )
    return QueuePage(
        rows=_rows(items, user=user, now=now),
        page=page,
        cooldown_days=cooldown_days(),
        filtered_out=filtered_out,
    )


def queue_row(*, user: User, item_id: int, now: datetime | None = None) -> dict | None:
    """One row as the list shows it, or None when the item left the user's queue."""
    now = now or timezone.now()
    item = queue_items(user=user, filters=QueueFilters(), now=now).filter(pk=item_id).first()
    return _rows([item], user=user, now=now)[0] if item else None


def item_in_scope(*, user: User, item_id: int) -> bool:
    """Whether the item (in any state) is one the user may see: others' ids are 404."""
    return QueueItem.objects.filter(queue_scope(user), pk=item_id).exists()


def _rows(items: list[QueueItem], *, user: User, now: datetime) -> list[dict]:
    if not items:
        return []
    plays = best_plays(account_ids=[item.account_id for item in items])
    urls = {name: reverse(view, args=[_ID]) for name, view in ACTION_VIEWS.items()}
    dossier = dossier_url(_ID)
    return [
        _row(item, user=user, match=plays.get(item.account_id), now=now, urls=urls, dossier=dossier)
        for item in items
    ]


def _with_id(url: str, item_id: int) -> str:
    return url.replace(f"/{_ID}/", f"/{item_id}/")


def _row(
    item: QueueItem, *, user: User, match, now: datetime, urls: dict[str, str], dossier: str
) -> dict:
    before = item.score_before_today
    claimed_by = item.claimed_by
    actions = {name: _with_id(urls[name], item.pk) for name in _actions(item, user)}
    return {
        "id": item.pk,
        "account_id": item.account_id,
        "account_name": item.account_name,
        "domain": item.account_domain,
        "dossier_url": _with_id(dossier, item.account_id),
        "score": item.score,
        "score_change": None if before is None else item.score - before,
        "score_change_text": _change_text(None if before is None else item.score - before),
        "route": item.route,
        "route_label": Route(item.route).label,
        "route_labelled": item.route in LABELLED_ROUTES,
        "route_reason": item.route_reason,
        "reasons": list(item.reasons[:TOP_REASONS]),
        "state": item.state,
        "state_label": item.get_state_display(),
        "due_at": item.due_at,
        "overdue": item.is_overdue,
        "due_text": _due_text(item, now),
        "first_touch_at": item.first_touch_at,
        "play": {"key": match.play.key, "name": match.play.name, "matched": list(match.matched)}
        if match
        else None,
        "missing_buyer": item.missing_buyer,
        "claimed_by": (claimed_by.get_full_name() or claimed_by.username) if claimed_by else "",
        "claimed_by_me": claimed_by is not None and claimed_by.pk == user.pk,
        # Each action the user may take, with its URL.
        "actions": actions,
        # The ones beyond claim and release, in the row's "More" menu.
        "menu": bool(actions.keys() - {"claim", "release"}),
    }


def _change_text(change: int | None) -> str:
    if change is None:
        return "new today"
    if change == 0:
        return "±0"
    return f"+{change}" if change > 0 else f"−{-change}"


def _due_text(item: QueueItem, now: datetime) -> str:
    if item.first_touch_at is not None:
        return "SLA met" if item.first_touch_at <= item.due_at else "SLA missed"
    if item.due_at < now:
        return f"overdue by {timesince(item.due_at, now)}"
    return f"due in {timeuntil(item.due_at, now)}"


def _actions(item: QueueItem, user: User) -> list[str]:
    """What the user may do to the row (the services check again when it is done)."""
    if user.role not in (Role.REP, Role.ADMIN):
        return []
    free = item.claimed_by_id is None
    works_it = free or item.claimed_by_id == user.pk or user.role == Role.ADMIN
    held = not free and works_it
    actions = {
        "claim": free and item.state == QueueItem.State.OPEN,
        "release": held and item.state == QueueItem.State.CLAIMED,
        "won": held,
        "lost": held,
        "disqualify": works_it,
        "marketing": works_it,
        "hand_to_ae": works_it and item.route == Route.SDR,
    }
    return [name for name, allowed in actions.items() if allowed]
