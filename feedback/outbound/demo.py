"""Outbound's part of the demo: two inactive example endpoints (a JSON receiver and a
Slack channel, so the pages show how they look without sending anywhere) and a first
full CRM sync, so the CRM sync page has a run and its CSV. Deterministic and
idempotent: endpoints by name with fixed demo secrets; the sync only when none exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from feedback.outbound.models import CrmSync, Endpoint, EventType
from feedback.outbound.services.crm_sync import crm_sync_run
from feedback.outbound.services.handoff import outbound_cursor_ensure
from feedback.outbound.signing import SECRET_PREFIX

DEMO_ENDPOINTS = (
    {
        "name": "CRM (demo, inactive)",
        "url": "https://crm.example.invalid/pls-webhooks",
        "format": Endpoint.Format.JSON,
        "event_types": [t.value for t in EventType if t != EventType.PING],
    },
    {
        "name": "Slack #pql-alerts (demo, inactive)",
        "url": "https://hooks.slack.com/services/T00000000/B00000000/DEMO",
        "format": Endpoint.Format.SLACK,
        "event_types": [EventType.PQL_CREATED.value, EventType.CLOSED.value],
    },
)


@dataclass(frozen=True)
class DemoOutboundResult:
    endpoints_created: int
    crm_sync_accounts: int | None


def _demo_secret(name: str) -> str:
    return SECRET_PREFIX + "demo_" + hashlib.sha256(f"pls-demo:{name}".encode()).hexdigest()[:32]


def demo_outbound_seed() -> DemoOutboundResult:
    outbound_cursor_ensure()
    created = 0
    for spec in DEMO_ENDPOINTS:
        _, made = Endpoint.objects.get_or_create(
            name=spec["name"],
            defaults={**spec, "is_active": False, "secret": _demo_secret(spec["name"])},
        )
        created += made
    accounts = None
    if not CrmSync.objects.exists():
        sync = crm_sync_run(full=True)
        accounts = sync.accounts if sync else None
    return DemoOutboundResult(endpoints_created=created, crm_sync_accounts=accounts)
