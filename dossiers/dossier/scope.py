"""Who may open which dossier, and what they may do there: reps the accounts with an item
in their pool (active, or claimed or closed by them), PMs and admins any account; PMs read
only."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.models import Account, Contact
from pls_portal.models import Role, User
from scoring.engine import Settings
from scoring.models import AccountScore, QueueItem, Touch
from scoring.selectors import active_settings
from scoring.services.queue import in_pool


class DossierNotFound(Exception):
    """No such account, or not one the user may open (views answer 404)."""


@dataclass
class DossierScope:
    """The account, the queue item the page works on and what the user may do."""

    account: Account
    items: list[QueueItem]
    item: QueueItem | None
    read_only: bool
    can_act: bool  # may log touches and responses, hand over
    blocked_by: str = ""  # who holds the item when someone else does
    settings: Settings = field(default_factory=Settings)


def display_name(user: User | None) -> str:
    """A user as the page names them: full name, else username; nobody: empty."""
    return (user.get_full_name() or user.username) if user else ""


def dossier_scope(*, user: User, account_id: int) -> DossierScope:
    """The account if the user may open its dossier, else DossierNotFound. Two queries
    (the active rule set's settings are kept per data generation)."""
    # The plan, owner and merged-into account are read by the overview only when it is
    # built, not on every view of a cached dossier.
    account = accounts_read([account_id]).get(account_id)
    if account is None or user.role not in (Role.REP, Role.PM, Role.ADMIN):
        raise DossierNotFound(account_id)
    items = QueueItem.objects.filter(account_id=account_id).select_related(
        "claimed_by", "closed_by"
    )
    items = list(items.order_by("-created_at", "-pk"))
    active = next((i for i in items if i.is_active), None)
    if user.role == Role.REP:
        # A rep sees an active item of their pool, and any they claimed or closed; works
        # an active one of their pool or claimed by them (pool_q's rule, in_pool).
        for i in items:
            mine = user.pk in (i.claimed_by_id, i.closed_by_id)
            i.workable = i.is_active and (in_pool(user, i) or i.claimed_by_id == user.pk)
            i.visible = (i.is_active and in_pool(user, i)) or mine
        visible = [i for i in items if i.visible]
        if not visible:
            raise DossierNotFound(account_id)
        item = next((i for i in visible if i.workable), None) or visible[0]
        workable = item.workable
    else:
        item = active or (items[0] if items else None)
        workable = user.role == Role.ADMIN and item is not None and item.is_active
    read_only = user.role == Role.PM
    blocked_by = ""
    if (
        workable
        and item.claimed_by_id
        and item.claimed_by_id != user.pk
        and user.role != Role.ADMIN
    ):
        blocked_by = display_name(item.claimed_by)
    return DossierScope(
        account=account,
        items=items,
        item=item,
        read_only=read_only,
        can_act=workable and not read_only and not blocked_by,
        blocked_by=blocked_by,
        settings=active_settings(),
    )


def accounts_read(account_ids: list[int]) -> dict[int, Account]:
    """The accounts by id, each with its score's change stamps and its contacts' count and
    newest id, for the keys of the dossier's cached parts (dossiers.dossier.cache): one
    plain query, for the page (one account) and the warm-up (a chunk) alike, so the
    stamps have the same types in both."""
    if not account_ids:
        return {}
    account, score, contact = (
        Account._meta.db_table,
        AccountScore._meta.db_table,
        Contact._meta.db_table,
    )
    marks = ", ".join(["%s"] * len(account_ids))
    rows = Account.objects.raw(
        "SELECT a.*, "  # noqa: S608 (table names from the models; the ids are parameters)
        f"(SELECT changed_at FROM {score} s WHERE s.account_id = a.id) AS score_changed_at, "
        f"(SELECT scored_at FROM {score} s WHERE s.account_id = a.id) AS score_scored_at, "
        f"(SELECT count(*) FROM {contact} c WHERE c.account_id = a.id) AS contacts_count, "
        f"(SELECT max(id) FROM {contact} c WHERE c.account_id = a.id) AS contacts_newest "
        f"FROM {account} a WHERE a.id IN ({marks})",
        list(account_ids),
    )
    return {row.pk: row for row in rows}


def item_in_scope(scope: DossierScope, item_id: int) -> QueueItem | None:
    """One of the account's items, as the scope read it."""
    return next((i for i in scope.items if i.pk == item_id), None)


def touch_in_scope(scope: DossierScope, touch_id: int) -> Touch | None:
    """A touch of the account's current item."""
    if scope.item is None:
        return None
    return Touch.objects.filter(pk=touch_id, item=scope.item).first()


def item_dict(item: QueueItem) -> dict:
    """One of the account's queue items as the page shows it."""
    return {
        "id": item.pk,
        "route": item.route,
        "route_label": item.get_route_display(),
        "state": item.state,
        "state_label": item.get_state_display(),
        "active": item.is_active,
        "score": item.score,
        "reasons": item.reasons,
        "route_reason": item.route_reason,
        "created_at": item.created_at,
        "due_at": item.due_at,
        "claimed_by": display_name(item.claimed_by),
        "claimed_at": item.claimed_at,
        "first_touch_at": item.first_touch_at,
        "responded_at": item.responded_at,
        "closed_at": item.closed_at,
        "close_reason": item.close_reason,
        "closed_by": display_name(item.closed_by),
        "missing_buyer": item.missing_buyer,
        "note": item.note,
    }
