"""What is sent: which RouteChange rows become which event, the event's JSON, its one-line
summary and the Slack incoming-webhook text. Pure functions over plain values."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from feedback.outbound.models import Endpoint, EventType
from scoring.models import PQL_ROUTES, QUEUE_ROUTES, QueueItem, Route

State = QueueItem.State

# Item states that close a cycle as "closed" (backed off and handed to marketing have
# their own event types).
CLOSED_STATES = (
    State.WON,
    State.LOST,
    State.DISQUALIFIED,
    State.EXPIRED,
    State.NOT_QUALIFIED,
    State.SELF_SERVED,
)


def event_type_of(*, from_route: str, to_route: str, from_state: str, to_state: str) -> str | None:
    """The event a RouteChange row tells, or None (claims, releases, touches)."""
    if from_state != to_state:
        if not from_state and to_state == State.OPEN:
            # A queue item opened: a PQL on the AE and SDR routes; inbound and expansion
            # items are not PQLs (DESIGN.md) and are told as the route change they are.
            return EventType.PQL_CREATED if to_route in PQL_ROUTES else EventType.ROUTE_CHANGED
        if to_state == State.BACKED_OFF:
            return EventType.BACKED_OFF
        if to_state == State.HANDED_TO_MARKETING:
            return EventType.HANDED_TO_MARKETING
        if to_state in CLOSED_STATES:
            return EventType.CLOSED
    if from_route != to_route:
        # An account's first routing outside the queue (self-serve, nurture, held…) is
        # not news: told, it would flood receivers with one event per account.
        if not from_route and to_route not in QUEUE_ROUTES:
            return None
        return EventType.ROUTE_CHANGED
    return None


def _route_label(route: str) -> str:
    return Route(route).label if route in Route.values else (route or "none")


def _state_label(state: str) -> str:
    return State(state).label.lower() if state in State.values else state


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def route_change_event(change, *, created_at: datetime) -> tuple[str, str, dict]:
    """(event id, summary, payload) of a RouteChange read with its account (and owner),
    item (and claimant, deal) and author."""
    event_type = event_type_of(
        from_route=change.from_route,
        to_route=change.to_route,
        from_state=change.from_state,
        to_state=change.to_state,
    )
    event_id = f"evt_rc_{change.pk}"
    account, item = change.account, change.item
    deal = item.deal if item is not None and item.deal_id else None
    outcome = change.to_state if event_type == EventType.CLOSED else None
    data = {
        "route_change_id": change.pk,
        "account": {
            "id": account.pk,
            "name": account.name,
            "domain": account.domain,
            "owner": account.owner.email if account.owner_id else None,
        },
        "item": None
        if item is None
        else {
            "id": item.pk,
            "route": item.route,
            "state": item.state,
            "score": item.score,
            "claimed_by": item.claimed_by.email if item.claimed_by_id else None,
            "missing_buyer": item.missing_buyer,
        },
        "from_route": change.from_route or None,
        "to_route": change.to_route or None,
        "from_state": change.from_state or None,
        "to_state": change.to_state or None,
        "outcome": outcome,
        "reason": change.reason,
        "by": change.by.email if change.by_id else None,
        "deal": None
        if deal is None
        else {
            "id": deal.pk,
            "stage": deal.stage,
            "motion": deal.motion,
            "source": deal.source,
            "arr": _money(deal.arr),
            "currency": deal.currency,
        },
    }
    payload = {
        "id": event_id,
        "type": event_type,
        "occurred_at": _iso(change.at),
        "created_at": _iso(created_at),
        "data": data,
    }
    return event_id, route_change_summary(event_type, data), payload


def route_change_summary(event_type: str, data: dict) -> str:
    name = data["account"]["name"]
    to_route = _route_label(data["to_route"] or "")
    if event_type == EventType.PQL_CREATED:
        score = data["item"]["score"] if data["item"] else None
        text = f"New PQL: {name} → {to_route} queue" + (f" (score {score})" if score else "")
    elif event_type == EventType.BACKED_OFF:
        text = f"{name} backed off"
    elif event_type == EventType.HANDED_TO_MARKETING:
        text = f"{name} handed to marketing"
    elif event_type == EventType.CLOSED:
        text = f"{name} closed {_state_label(data['outcome'])}"
        deal = data["deal"]
        if data["outcome"] == State.WON and deal and deal["arr"]:
            text += f" ({Decimal(deal['arr']):,.0f} {deal['currency']} ARR)"
    else:
        text = f"{name}: route {_route_label(data['from_route'] or '')} → {to_route}"
    if data["reason"]:
        text += f" — {data['reason']}"
    return text[:300]


def crm_batch_event(
    *,
    sync_id: int,
    mode: str,
    batch: int,
    batches: int,
    since: datetime | None,
    cutoff: datetime,
    records: list[dict],
    created_at: datetime,
) -> tuple[str, str, dict]:
    event_id = f"evt_crm_{sync_id}_{batch}"
    kind = "all accounts" if mode == "full" else "changed accounts"
    summary = f"CRM sync #{sync_id} ({kind}): batch {batch} of {batches}, {len(records)} accounts"
    payload = {
        "id": event_id,
        "type": EventType.CRM_SYNC.value,
        "occurred_at": _iso(cutoff),
        "created_at": _iso(created_at),
        "data": {
            "sync_id": sync_id,
            "mode": mode,
            "batch": batch,
            "batches": batches,
            "since": _iso(since),
            "cutoff": _iso(cutoff),
            "object": "Account",
            "external_id_field": "PLS_Account_Id__c",
            "records": records,
        },
    }
    return event_id, summary, payload


def ping_event(*, event_id: str, endpoint_name: str, created_at: datetime) -> tuple[str, dict]:
    summary = f"Test event for “{endpoint_name}” from PLS Portal"
    payload = {
        "id": event_id,
        "type": EventType.PING.value,
        "occurred_at": _iso(created_at),
        "created_at": _iso(created_at),
        "data": {"endpoint": endpoint_name, "message": summary},
    }
    return summary, payload


EMOJI = {
    EventType.PQL_CREATED: ":dart:",
    EventType.ROUTE_CHANGED: ":twisted_rightwards_arrows:",
    EventType.BACKED_OFF: ":hourglass:",
    EventType.HANDED_TO_MARKETING: ":mega:",
    EventType.CLOSED: ":checkered_flag:",
    EventType.CRM_SYNC: ":arrows_counterclockwise:",
    EventType.PING: ":wave:",
}


def slack_escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(*, event_type: str, summary: str) -> str:
    return f"{EMOJI.get(event_type, '')} {slack_escape(summary)}".strip()


def request_body(*, endpoint_format: str, event_type: str, summary: str, payload: dict) -> bytes:
    """The exact bytes POSTed (and signed): the event, or Slack's ``{"text": …}``."""
    if endpoint_format == Endpoint.Format.SLACK:
        document: dict = {"text": slack_text(event_type=event_type, summary=summary)}
    else:
        document = payload
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
