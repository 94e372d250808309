"""The account's timeline: signup, activation, milestones, PQLs, touches and responses,
checkout, deals and outcomes, oldest first."""

from __future__ import annotations

from datetime import datetime

from accounts.models import Deal
from dossiers.dossier.scope import DossierScope, display_name
from dossiers.dossier.touch_log import touches_for
from dossiers.dossier.usage import milestones_get
from scoring.models import Route, Touch


def _event(at: datetime, kind: str, label: str, detail: str = "") -> dict:
    return {"at": at, "kind": kind, "label": label, "detail": detail}


def timeline_get(
    *, scope: DossierScope, touches: list[Touch] | None = None, milestones: dict | None = None
) -> list[dict]:
    """Signup, activation, milestones, PQLs, touches and responses, checkout, deals and
    outcomes, oldest first. Four queries: one for the deals, and the touches and milestones
    unless they are passed in (the whole page reads them once for several sections)."""
    account, items = scope.account, scope.items
    if touches is None:
        touches = touches_for(items=items)
    if milestones is None:
        milestones = milestones_get(account=account)
    events = [_event(account.created_at, "signup", "Signed up")]
    if activated := milestones["activated_at"]:
        events.append(_event(activated, "activation", "Activated", milestones["activated_by"]))
    events += [
        _event(row["reached_at"], "milestone", f"Milestone: {row['name']}", row["description"])
        for row in milestones["rows"]
        if row["reached_at"]
    ]
    for item in items:
        route = item.get_route_display()
        if item.route in (Route.AE, Route.SDR):
            label = f"PQL — routed to {route} (score {item.score})"
        else:  # inbound and expansion items are not PQLs (DESIGN.md "Decisions")
            label = f"{route} queue item opened (score {item.score})"
        events.append(_event(item.created_at, "pql", label, item.route_reason))
        if item.closed_at:
            label = f"Outcome: {item.get_state_display()}"
            events.append(_event(item.closed_at, "outcome", label, item.close_reason))
    for touch in touches:
        label = f"Touch by {touch.get_channel_display().lower()} — {touch.person}"
        detail = display_name(touch.by) + (f": {touch.note}" if touch.note else "")
        events.append(_event(touch.at, "touch", label, detail))
        if touch.response_at:
            label = f"Response from {touch.person}"
            events.append(_event(touch.response_at, "response", label, touch.response_note))
    if account.checkout_started_at:
        events.append(_event(account.checkout_started_at, "checkout", "Checkout started"))
    if account.checkout_completed_at:
        events.append(_event(account.checkout_completed_at, "checkout", "Checkout completed"))
    for deal in Deal.objects.filter(account=account).order_by("opened_at", "pk"):
        name = deal.name or f"{deal.get_source_display()} deal"
        detail = f"{deal.get_motion_display()} · source: {deal.get_source_display()}"
        events.append(_event(deal.opened_at, "deal", f"Deal opened: {name}", detail))
        if deal.closed_at:
            won = deal.stage == Deal.Stage.WON
            detail = f"${deal.arr:,.0f} ARR {deal.currency}" if won else deal.lost_reason
            label = f"Deal {deal.get_stage_display().lower()}: {name}"
            events.append(_event(deal.closed_at, "deal", label, detail))
    events.sort(key=lambda e: e["at"])
    return events
