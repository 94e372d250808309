"""The queue item's life cycle: claim, release, touch, response, hand over, close — and
the sweeps (back-off, overdue, expiry). Every state or route change writes its
RouteChange in the same transaction (DESIGN.md "Decisions").

open → claimed → touched → won / lost / disqualified / backed off / handed to marketing;
an unclaimed open item past twice its SLA expires. Lost, disqualified, backed off,
handed to marketing and won start the account's cool-down (won: then the expansion
watch). The SLA is met by the first touch, not the claim. One touch, then back off:
no response ``backoff_days`` after the first touch returns the account to self-serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Deal
from accounts.services.deals import deal_close, deal_open
from pls_portal.models import RepType, Role, User
from scoring.engine import Settings
from scoring.models import AccountScore, QueueItem, Route, RouteChange, Touch
from scoring.selectors import active_settings_read

State = QueueItem.State


class QueueError(Exception):
    """An action that cannot be done, in words for the rep."""


class AlreadyClaimed(QueueError):
    def __init__(self, claimed_by: User):
        self.claimed_by = claimed_by
        name = claimed_by.get_full_name() or claimed_by.username
        super().__init__(f"{name} claimed this account first")


class NotInPool(QueueError):
    """The item is not in the user's pool (views answer 404: the id is not theirs)."""


def pool_q(user: User) -> Q:
    """The items a user may see and act on: AEs the AE pool (ae, inbound) and expansion
    items of accounts they own (or nobody owns), SDRs the SDR pool, admins every pool."""
    if user.role == Role.ADMIN:
        return Q()
    if user.role != Role.REP:
        return Q(pk__in=[])
    if user.rep_type == RepType.SDR:
        return Q(route=Route.SDR)
    return Q(route__in=[Route.AE, Route.INBOUND]) | Q(
        Q(owner=user) | Q(owner__isnull=True), route=Route.EXPANSION
    )


def in_pool(user: User, item: QueueItem) -> bool:
    """``pool_q`` for one item already read: the same rule, in Python."""
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.REP:
        return False
    if user.rep_type == RepType.SDR:
        return item.route == Route.SDR
    return item.route in (Route.AE, Route.INBOUND) or (
        item.route == Route.EXPANSION and item.owner_id in (None, user.pk)
    )


def _locked(item_id: int, user: User) -> QueueItem:
    """The item, row-locked, if it is in the user's pool."""
    items = QueueItem.objects.select_for_update().filter(pk=item_id)
    if user.role != Role.ADMIN:  # (an empty Q() would swallow the OR below)
        items = items.filter(pool_q(user) | Q(claimed_by=user))
    item = items.first()
    if item is None:
        raise NotInPool(item_id)
    return item


def _change(item: QueueItem, *, to_state: str, reason: str, by: User | None, now, **route) -> None:
    RouteChange.objects.create(
        account_id=item.account_id,
        item=item,
        from_route=route.get("from_route", item.route),
        to_route=route.get("to_route", item.route),
        from_state=item.state,
        to_state=to_state,
        reason=reason[:300],
        by=by,
        at=now,
    )


def _require_active(item: QueueItem, action: str) -> None:
    if not item.is_active:
        raise QueueError(f"this item is {item.get_state_display().lower()}; it cannot be {action}")


def _require_holder(item: QueueItem, user: User, action: str) -> None:
    """Only the rep who claimed an item works it (admins may act on any)."""
    if item.claimed_by_id and item.claimed_by_id != user.pk and user.role != Role.ADMIN:
        raise AlreadyClaimed(item.claimed_by)


def queue_item_claim(*, item_id: int, rep: User) -> QueueItem:
    """Give an open queue item to a rep; a second claim loses cleanly."""
    with transaction.atomic():
        item = _locked(item_id, rep)
        if item.claimed_by_id == rep.pk:
            return item
        if item.claimed_by_id:
            raise AlreadyClaimed(item.claimed_by)
        _require_active(item, "claimed")
        now = timezone.now()
        _change(item, to_state=State.CLAIMED, reason="claimed", by=rep, now=now)
        item.state, item.claimed_by, item.claimed_at = State.CLAIMED, rep, now
        item.save(update_fields=["state", "claimed_by", "claimed_at"])
    return item


def queue_item_release(*, item_id: int, rep: User) -> QueueItem:
    """Put a claimed, untouched item back in the pool."""
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_holder(item, rep, "released")
        if item.state != State.CLAIMED:
            raise QueueError("only a claimed item that was not touched yet can be released")
        now = timezone.now()
        _change(item, to_state=State.OPEN, reason="released back to the pool", by=rep, now=now)
        item.state, item.claimed_by, item.claimed_at = State.OPEN, None, None
        item.save(update_fields=["state", "claimed_by", "claimed_at"])
    return item


def queue_item_touch(
    *,
    item_id: int,
    rep: User,
    channel: str,
    person: str,
    note: str = "",
    at: datetime | None = None,
) -> Touch:
    """Log a contact. The first touch meets (or misses) the SLA and starts the back-off
    clock; touching an unclaimed item claims it."""
    if channel not in Touch.Channel.values:
        raise QueueError(f"channel must be one of {', '.join(Touch.Channel.values)}")
    if not person.strip():
        raise QueueError("person: say who was contacted")
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_active(item, "touched")
        _require_holder(item, rep, "touched")
        now = timezone.now()
        at = min(at or now, now)
        touch = Touch.objects.create(
            item=item, by=rep, channel=channel, person=person.strip()[:200], note=note, at=at
        )
        fields = []
        if item.claimed_by_id is None:
            item.claimed_by, item.claimed_at = rep, now
            fields += ["claimed_by", "claimed_at"]
        if item.first_touch_at is None:
            sla = "SLA met" if at <= item.due_at else "SLA missed"
            _change(
                item,
                to_state=State.TOUCHED,
                reason=f"first touch by {channel} ({sla})",
                by=rep,
                now=now,
            )
            item.first_touch_at, item.state = at, State.TOUCHED
            fields += ["first_touch_at", "state"]
        if fields:
            item.save(update_fields=fields)
    return touch


def _deal_source(route: str) -> str:
    return {
        Route.INBOUND: Deal.Source.INBOUND,
        Route.EXPANSION: Deal.Source.EXPANSION,
    }.get(route, Deal.Source.PQL)


def touch_response(
    *, touch_id: int, rep: User, note: str = "", at: datetime | None = None
) -> Touch:
    """The account answered: the back-off clock stops and the item's Deal opens (a PQL
    Deal opens at the first response, so pipeline counts it)."""
    with transaction.atomic():
        touch = Touch.objects.select_related("item").get(pk=touch_id)
        item = _locked(touch.item_id, rep)
        _require_active(item, "updated")
        _require_holder(item, rep, "updated")
        if touch.response_at is not None:
            raise QueueError("this touch already has its response")
        now = timezone.now()
        touch.response_at = min(at or now, now)
        touch.response_note = note
        touch.save(update_fields=["response_at", "response_note"])
        if item.responded_at is None:
            item.responded_at = touch.response_at
            fields = ["responded_at"]
            if item.deal_id is None:
                item.deal = deal_open(
                    account_id=item.account_id,
                    source=_deal_source(item.route),
                    owner=item.claimed_by or rep,
                    opened_at=touch.response_at,
                    name=f"{item.account} ({Route(item.route).label})",
                )
                fields.append("deal")
            item.save(update_fields=fields)
    return touch


def _cool_down(item: QueueItem, *, why: str, now, settings: Settings, by: User | None) -> None:
    """Start the account's cool-down; during it the route is held."""
    until = now + timedelta(days=settings.cooldown_days)
    reason = f"{why} — backed off until {until:%Y-%m-%d}"
    score = AccountScore.objects.select_for_update().filter(account_id=item.account_id).first()
    if score is not None:
        if score.route != Route.HELD:
            RouteChange.objects.create(
                account_id=item.account_id,
                item=item,
                from_route=score.route,
                to_route=Route.HELD,
                from_state=item.state,
                to_state=item.state,
                reason=reason[:300],
                by=by,
                at=now,
            )
        score.cooldown_until, score.cooldown_reason = until, why[:100]
        score.route, score.route_reason = Route.HELD, reason[:300]
        score.changed_at = now
        score.save(
            update_fields=["cooldown_until", "cooldown_reason", "route", "route_reason",
                           "changed_at"]
        )  # fmt: skip


def _finish(
    item: QueueItem, *, state: str, reason: str, by: User | None, now, settings: Settings
) -> None:
    _change(item, to_state=state, reason=reason, by=by, now=now)
    item.state, item.closed_at, item.close_reason, item.closed_by = state, now, reason[:300], by
    item.save(update_fields=["state", "closed_at", "close_reason", "closed_by"])
    _cool_down(item, why=reason, now=now, settings=settings, by=by)


def queue_item_disqualify(*, item_id: int, rep: User, reason: str) -> QueueItem:
    if not reason.strip():
        raise QueueError("reason: say why the account is disqualified")
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_active(item, "disqualified")
        _require_holder(item, rep, "disqualified")
        _finish(
            item,
            state=State.DISQUALIFIED,
            reason=f"disqualified: {reason.strip()}",
            by=rep,
            now=timezone.now(),
            settings=active_settings_read(),
        )
    return item


def queue_item_hand_to_marketing(*, item_id: int, rep: User, note: str = "") -> QueueItem:
    """No buyer to talk to (seed 004, the missing buyer): marketing takes it over."""
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_active(item, "handed over")
        _require_holder(item, rep, "handed over")
        if note.strip():
            item.note = f"{item.note}\n{note.strip()}".strip()
            item.save(update_fields=["note"])
        _finish(
            item,
            state=State.HANDED_TO_MARKETING,
            reason="handed to marketing" + (f": {note.strip()}" if note.strip() else ""),
            by=rep,
            now=timezone.now(),
            settings=active_settings_read(),
        )
    return item


def queue_item_hand_to_ae(*, item_id: int, rep: User, note: str) -> QueueItem:
    """An SDR passes a qualified item to the AE pool, with a note."""
    if not note.strip():
        raise QueueError("note: tell the AE what you learned")
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_active(item, "handed over")
        _require_holder(item, rep, "handed over")
        if item.route != Route.SDR:
            raise QueueError("only SDR items are handed to the AE pool")
        now = timezone.now()
        _change(
            item,
            to_state=State.OPEN,
            reason=f"handed to the AE pool: {note.strip()}",
            by=rep,
            now=now,
            to_route=Route.AE,
        )
        item.route, item.state = Route.AE, State.OPEN
        item.claimed_by = item.claimed_at = None
        item.routed_at = now
        item.due_at = now + timedelta(hours=active_settings_read().ae_sla_hours)
        item.note = f"{item.note}\nSDR hand-over: {note.strip()}".strip()
        item.save(
            update_fields=["route", "state", "claimed_by", "claimed_at", "routed_at", "due_at",
                           "note"]
        )  # fmt: skip
    return item


def queue_item_close(
    *,
    item_id: int,
    rep: User,
    won: bool,
    arr: Decimal | int | None = None,
    lost_reason: str = "",
) -> QueueItem:
    """Close won (with its ARR) or lost (with a reason); the item's Deal is opened if
    needed and closed through the accounts service, so a win makes the rep the owner."""
    if won and (arr is None or Decimal(arr) <= 0):
        raise QueueError("ARR: a won deal needs its annual recurring revenue (above 0)")
    if not won and not lost_reason.strip():
        raise QueueError("reason: say why the deal was lost")
    with transaction.atomic():
        item = _locked(item_id, rep)
        _require_active(item, "closed")
        _require_holder(item, rep, "closed")
        now = timezone.now()
        owner = item.claimed_by or rep
        if item.deal_id is None or item.deal.stage != Deal.Stage.OPEN:
            item.deal = deal_open(
                account_id=item.account_id,
                source=_deal_source(item.route),
                owner=owner,
                opened_at=item.responded_at or now,
                name=f"{item.account} ({Route(item.route).label})",
            )
            item.save(update_fields=["deal"])
        deal_close(deal_id=item.deal_id, won=won, arr=arr, closed_at=now, lost_reason=lost_reason)
        reason = f"won: ${Decimal(arr):,.0f} ARR" if won else f"lost: {lost_reason.strip()}"
        _finish(
            item,
            state=State.WON if won else State.LOST,
            reason=reason,
            by=rep,
            now=now,
            settings=active_settings_read(),
        )
    return item


@dataclass
class SweepResult:
    backed_off: int = 0
    overdue: int = 0
    expired: int = 0

    @property
    def summary(self) -> str:
        return f"{self.backed_off} backed off, {self.overdue} newly overdue, {self.expired} expired"


def queue_sweep(*, now: datetime | None = None) -> SweepResult:
    """Back off touched items with no response after the back-off days, flag overdue
    items and expire unclaimed ones past twice their SLA. A fixed number of queries per
    kind whatever the number of items (one run at a time: the caller holds a lock)."""
    now = now or timezone.now()
    settings = active_settings_read()
    result = SweepResult()
    with transaction.atomic():
        result.overdue = QueueItem.objects.filter(
            state__in=[State.OPEN, State.CLAIMED],
            first_touch_at__isnull=True,
            overdue_at__isnull=True,
            due_at__lt=now,
        ).update(overdue_at=now)

        stale = list(
            QueueItem.objects.select_for_update().filter(
                state=State.TOUCHED,
                responded_at__isnull=True,
                first_touch_at__lte=now - timedelta(days=settings.backoff_days),
            )
        )
        _close_many(
            stale,
            state=State.BACKED_OFF,
            reason=f"backed off: no response {settings.backoff_days} days after the first touch",
            now=now,
            settings=settings,
            cool_down=True,
        )
        result.backed_off = len(stale)

        # Unclaimed past twice its SLA (SDR items have the SDR SLA, the others the AE one).
        sdr_late = now - timedelta(hours=2 * settings.sdr_sla_hours)
        ae_late = now - timedelta(hours=2 * settings.ae_sla_hours)
        expired = list(
            QueueItem.objects.select_for_update().filter(
                Q(route=Route.SDR, routed_at__lt=sdr_late)
                | (~Q(route=Route.SDR) & Q(routed_at__lt=ae_late)),
                state=State.OPEN,
                claimed_by__isnull=True,
            )
        )
        _close_many(
            expired,
            state=State.EXPIRED,
            reason="expired: nobody claimed it within twice its SLA",
            now=now,
            settings=settings,
            cool_down=False,
        )
        result.expired = len(expired)
    return result


def _close_many(
    items: list[QueueItem], *, state: str, reason: str, now, settings: Settings, cool_down: bool
) -> None:
    if not items:
        return
    changes = []
    for item in items:
        changes.append(
            RouteChange(
                account_id=item.account_id,
                item=item,
                from_route=item.route,
                to_route=Route.HELD if cool_down else item.route,
                from_state=item.state,
                to_state=state,
                reason=reason[:300],
                at=now,
            )
        )
        item.state, item.closed_at, item.close_reason = state, now, reason[:300]
    QueueItem.objects.bulk_update(items, ["state", "closed_at", "close_reason"])
    RouteChange.objects.bulk_create(changes)
    if cool_down:
        until = now + timedelta(days=settings.cooldown_days)
        why = reason.split(":")[0]
        AccountScore.objects.filter(account_id__in=[i.account_id for i in items]).update(
            cooldown_until=until,
            cooldown_reason=why[:100],
            route=Route.HELD,
            route_reason=f"{why} — backed off until {until:%Y-%m-%d}"[:300],
            changed_at=now,
        )
