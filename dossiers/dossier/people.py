"""The people: likely buyers first, each with why, then the other users and what they
did."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from accounts.buyers import likely_buyers
from accounts.models import Contact, Event, ProductUser
from dossiers.dossier.scope import DossierScope, item_dict

USER_EVENTS_DAYS = 30
USERS_SHOWN = 25
# Likely buyers shown in full; the others are listed compactly (name, title, why) below.
BUYERS_SHOWN = 10
TOP_EVENTS = 3
# What a person did: product events and pages, not identify / group calls.
ACTION_TYPES = (Event.Type.TRACK, Event.Type.PAGE, Event.Type.SCREEN)


def people_get(*, scope: DossierScope, users_total: int | None = None) -> dict:
    """Likely buyers first, each with why (the active item's stored buyers and any contact
    added since; else computed now), then the other users, most recently seen first,
    with what they did in the last 30 days."""
    account, item = scope.account, scope.item
    active = item if item is not None and item.is_active else None
    if active is not None:
        buyers = [dict(b) for b in active.buyers]
        listed = {b.get("contact_id") for b in buyers if b.get("contact_id")}
        for contact in Contact.objects.filter(account=account).exclude(pk__in=listed):
            if contact.product_user_id and any(
                b.get("product_user_id") == contact.product_user_id for b in buyers
            ):
                continue
            buyers.append(
                {
                    "name": contact.name,
                    "email": contact.email,
                    "title": contact.title,
                    "product_user_id": contact.product_user_id,
                    "contact_id": contact.pk,
                    "reasons": [f"known contact ({contact.get_source_display().lower()})"],
                }
            )
    else:
        buyers = [b.as_dict() for b in likely_buyers(account_id=account.pk)]
    buyer_users = [b["product_user_id"] for b in buyers if b.get("product_user_id")]
    users = list(
        ProductUser.objects.filter(account=account)
        .exclude(pk__in=buyer_users)
        .order_by("-last_seen_at", "pk")[:USERS_SHOWN]
    )
    # What the shown buyers did; the compact list of the others names them only.
    shown = [b["product_user_id"] for b in buyers[:BUYERS_SHOWN] if b.get("product_user_id")]
    if shown:
        users += list(ProductUser.objects.filter(account=account, pk__in=shown))
    total = (
        users_total
        if users_total is not None
        else ProductUser.objects.filter(account=account).count()
    )
    since = timezone.now() - timedelta(days=USER_EVENTS_DAYS)
    top: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if users:
        for user_id, name, n in (
            Event.objects.filter(
                account=account,
                user_id__in=[u.pk for u in users],
                timestamp__gte=since,
                type__in=ACTION_TYPES,
            )
            .exclude(name="")
            .values("user_id", "name")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("user_id", "name", "n")
        ):
            top[user_id].append((name, n))
    for events in top.values():
        events.sort(key=lambda e: (-e[1], e[0]))

    def person(u: ProductUser) -> dict:
        return {
            "id": u.pk,
            "name": u.name,
            "email": u.email,
            "title": u.title,
            "department": u.department,
            "is_admin": u.is_admin,
            "first_seen_at": u.first_seen_at,
            "last_seen_at": u.last_seen_at,
            "events": sum(n for _name, n in top.get(u.pk, [])),
            "top_events": top.get(u.pk, [])[:TOP_EVENTS],
        }

    by_id = {u.pk: person(u) for u in users}
    for buyer in buyers:
        buyer["user"] = by_id.get(buyer.get("product_user_id"))
        buyer["used_product"] = bool(buyer.get("product_user_id"))
    listed = set(buyer_users)
    others = [by_id[u.pk] for u in users if u.pk not in listed]
    return {
        "buyers": buyers,
        "buyers_top": buyers[:BUYERS_SHOWN],
        "buyers_more": buyers[BUYERS_SHOWN:],
        "missing_buyer": not buyers,
        "users": others,
        "users_total": total,
        "users_hidden": max(total - len(others) - len(buyer_users), 0),
        "user_events_days": USER_EVENTS_DAYS,
        "can_add_contact": not scope.read_only,
        "can_hand_to_marketing": scope.can_act and not buyers,
        "item": item_dict(item) if item else None,
    }
