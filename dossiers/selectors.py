"""Reads for the PQL queue: the user's pool of active queue items, filtered and ordered
(overdue first, then due time, then score), shaped as plain dicts for the templates.

A page runs a fixed number of queries whatever its size: the page's item ids with the
number of items (one query over the pool's active items) and what the rows show (the
claimant, the account's name and domain, the score before today and the stored best
play, for those ids only). The play list for the filter and the active rule set's
cool-down are kept per data generation (``pls_portal.cache.shared``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from accounts.models import Account, AccountDomain
from dossiers.dossier.scope import display_name
from playbooks.models import Play, PlayMatch
from pls_portal.cache import shared
from pls_portal.models import RepType, Role, User
from scoring.models import QueueItem, Route, ScoreHistory
from scoring.selectors import active_settings
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
    """The active plays, for the filter (kept per data generation: plays are watched)."""
    return shared(
        "queue:play-choices",
        lambda: list(Play.objects.filter(is_active=True).values_list("key", "name")),
    )


def cooldown_days() -> int:
    """The active rule set's cool-down (what losing, disqualifying or handing over starts)."""
    return active_settings().cooldown_days


def _overdue_q(now: datetime) -> Q:
    """Past due and not touched yet (the SLA is met by the first touch, not the claim)."""
    return Q(first_touch_at__isnull=True, due_at__lt=now)


def _pool_items(*, user: User, filters: QueueFilters, now: datetime) -> QuerySet[QueueItem]:
    """The active items the user may see, filtered, most urgent first: what the rows are
    chosen from, without what a row shows."""
    items = (
        QueueItem.objects.filter(queue_scope(user), state__in=QueueItem.ACTIVE_STATES)
        .annotate(
            is_overdue=Case(
                When(_overdue_q(now), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
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


def _row_items(found: list[tuple[int, bool]], *, now: datetime) -> list[QueueItem]:
    """The items of ``found`` ((id, is overdue) as ``_pool_items`` read them), in that
    order, with what their rows show: the claimant's
    name, the account's name and domain, the score before today and the stored best
    play. One plain query (the ORM took longer to build it than the database to run it),
    for these rows only; the item's own fields still pass through the model's
    converters (``raw``)."""
    if not found:
        return []
    overdue = dict(found)
    ids = list(overdue)
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    at = connection.ops.adapt_datetimefield_value(midnight)
    tables = {
        "item": QueueItem._meta.db_table,
        "user": User._meta.db_table,
        "account": Account._meta.db_table,
        "history": ScoreHistory._meta.db_table,
        "match": PlayMatch._meta.db_table,
        "play": Play._meta.db_table,
    }
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        # What a row shows, not the stored buyers (kilobytes of JSON an item). The table
        # names come from the models; the ids are parameters.
        "SELECT q.id, q.account_id, q.route, q.state, q.score, q.reasons, q.route_reason, "  # noqa: S608
        "q.missing_buyer, q.due_at, q.first_touch_at, q.claimed_by_id, "
        "u.username AS claimant_username, u.first_name AS claimant_first_name, "
        "u.last_name AS claimant_last_name, a.name AS account_name, "
        "a.domain AS account_domain, "
        "(SELECT h.score FROM {history} h WHERE h.account_id = q.account_id AND h.at < %s "
        "ORDER BY h.at DESC, h.id DESC LIMIT 1) AS score_before_today, "
        "p.key AS play_key, p.name AS play_name, m.matched AS play_matched "
        "FROM {item} q JOIN {account} a ON a.id = q.account_id "
        "LEFT JOIN {user} u ON u.id = q.claimed_by_id "
        "LEFT JOIN {match} m ON m.account_id = q.account_id "
        "LEFT JOIN {play} p ON p.id = m.play_id AND p.is_active "
        f"WHERE q.id IN ({marks})"
    ).format(**tables)
    by_id = {item.pk: item for item in QueueItem.objects.raw(sql, [at, *ids])}
    ordered = [by_id[pk] for pk in ids if pk in by_id]
    for item in ordered:
        item.is_overdue = overdue[item.pk]
        if isinstance(item.play_matched, str):  # SQLite hands JSON back as text
            item.play_matched = json.loads(item.play_matched)
    return ordered


def _page_number(number: int | str) -> int | None:
    """The page asked for when it is one (a whole number from 1), else None."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None


def _page_found(pool: QuerySet[QueueItem], number: int) -> list[tuple[int, int, bool]]:
    """(id, number of items, is overdue) of the page's items: one query."""
    start = (number - 1) * PER_PAGE
    rows = pool.annotate(total=Window(Count("pk"))).values_list("pk", "total", "is_overdue")
    return list(rows[start : start + PER_PAGE])


def queue_page(
    *, user: User, filters: QueueFilters, page_number: int | str = 1, now: datetime | None = None
) -> QueuePage:
    """One page of the user's queue. The page's item ids and the number of items come in
    one query, from the pool's active items only (an index on PostgreSQL,
    ``queueitem_active_due``); what the rows show in a second, for those ids only."""
    now = now or timezone.now()
    pool = _pool_items(user=user, filters=filters, now=now)
    number = _page_number(page_number)
    found = _page_found(pool, number) if number else []
    paginator = Paginator([], PER_PAGE)
    paginator.count = found[0][1] if found else pool.count()  # a cached_property
    # Not a page, or past the last: the one Paginator.get_page picks (first or last).
    page_number = paginator.get_page(page_number).number
    if not found and paginator.count:
        found = _page_found(pool, page_number)
    items = _row_items([(pk, overdue) for pk, _total, overdue in found], now=now)
    # With nothing shown, say whether the filters hide items or the queue is empty.
    filtered_out = bool(
        not items
        and filters.any
        and _pool_items(user=user, filters=QueueFilters(), now=now).exists()
    )
    return QueuePage(
        rows=_rows(items, user=user, now=now),
        page=Page(items, page_number, paginator),
        cooldown_days=cooldown_days(),
        filtered_out=filtered_out,
    )


def queue_row(*, user: User, item_id: int, now: datetime | None = None) -> dict | None:
    """One row as the list shows it, or None when the item left the user's queue."""
    now = now or timezone.now()
    pool = _pool_items(user=user, filters=QueueFilters(), now=now)
    items = _row_items(list(pool.filter(pk=item_id).values_list("pk", "is_overdue")), now=now)
    return _rows(items, user=user, now=now)[0] if items else None


def item_in_scope(*, user: User, item_id: int) -> bool:
    """Whether the item (in any state) is one the user may see: others' ids are 404."""
    return QueueItem.objects.filter(queue_scope(user), pk=item_id).exists()


def _rows(items: list[QueueItem], *, user: User, now: datetime) -> list[dict]:
    if not items:
        return []
    urls = {name: reverse(view, args=[_ID]) for name, view in ACTION_VIEWS.items()}
    dossier = dossier_url(_ID)
    return [_row(item, user=user, now=now, urls=urls, dossier=dossier) for item in items]


def _with_id(url: str, item_id: int) -> str:
    return url.replace(f"/{_ID}/", f"/{item_id}/")


def _row(item: QueueItem, *, user: User, now: datetime, urls: dict[str, str], dossier: str) -> dict:
    before = item.score_before_today
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
        "play": {"key": item.play_key, "name": item.play_name, "matched": list(item.play_matched)}
        if item.play_key
        else None,
        "missing_buyer": item.missing_buyer,
        "claimed_by": _claimant(item),
        "claimed_by_me": item.claimed_by_id is not None and item.claimed_by_id == user.pk,
        # Each action the user may take, with its URL.
        "actions": actions,
        # The ones beyond claim and release, in the row's "More" menu.
        "menu": bool(actions.keys() - {"claim", "release"}),
    }


def _claimant(item: QueueItem) -> str:
    """Who holds the item, named as everywhere (``display_name``)."""
    if item.claimed_by_id is None:
        return ""
    return display_name(
        User(
            username=item.claimant_username,
            first_name=item.claimant_first_name,
            last_name=item.claimant_last_name,
        )
    )


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
