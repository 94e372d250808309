"""Admin-managed webhook endpoints: create (a secret is generated), edit, rotate the
secret, delete, and send a test event."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from feedback.outbound import signing
from feedback.outbound.models import (
    SUBSCRIBABLE_TYPES,
    Delivery,
    Endpoint,
    EventType,
    OutboundEvent,
)
from feedback.outbound.payloads import ping_event
from feedback.outbound.services.handoff import outbound_cursor_ensure
from pls_portal.models import User

EDITABLE_FIELDS = ("name", "url", "event_types", "format", "is_active")


def _clean(*, name: str, url: str, event_types: list[str], format: str) -> dict:
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name:
        errors["name"] = ["Give the endpoint a name."]
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors["url"] = ["Enter an http:// or https:// URL."]
    unknown = sorted(set(event_types) - set(SUBSCRIBABLE_TYPES))
    if unknown:
        errors["event_types"] = [f"Unknown event types: {', '.join(unknown)}."]
    elif not event_types:
        errors["event_types"] = ["Choose at least one event type."]
    if format not in Endpoint.Format.values:
        errors["format"] = ["Choose JSON or Slack."]
    if errors:
        raise ValidationError(errors)
    # Kept in the order of the choices, so the page lists them the same way every time.
    ordered = [t for t in SUBSCRIBABLE_TYPES if t in event_types]
    return {"name": name, "url": url.strip(), "event_types": ordered, "format": format}


def endpoint_create(
    *,
    name: str,
    url: str,
    event_types: list[str],
    format: str = Endpoint.Format.JSON,
    is_active: bool = True,
    user: User | None = None,
) -> Endpoint:
    """A new endpoint with a fresh secret. Events are handed to it from now on."""
    fields = _clean(name=name, url=url, event_types=event_types, format=format)
    if Endpoint.objects.filter(name=fields["name"]).exists():
        raise ValidationError({"name": ["An endpoint with this name exists."]})
    with transaction.atomic():
        outbound_cursor_ensure()
        return Endpoint.objects.create(
            **fields, is_active=is_active, secret=signing.secret_generate(), created_by=user
        )


def endpoint_update(
    *,
    endpoint_id: int,
    name: str,
    url: str,
    event_types: list[str],
    format: str,
    is_active: bool,
) -> Endpoint:
    fields = _clean(name=name, url=url, event_types=event_types, format=format)
    if Endpoint.objects.filter(name=fields["name"]).exclude(pk=endpoint_id).exists():
        raise ValidationError({"name": ["An endpoint with this name exists."]})
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        for key, value in {**fields, "is_active": is_active}.items():
            setattr(endpoint, key, value)
        endpoint.save()
    return endpoint


def endpoint_secret_rotate(*, endpoint_id: int) -> Endpoint:
    """A new secret, effective for the next attempt (receivers must switch at once)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.secret = signing.secret_generate()
        endpoint.secret_rotated_at = timezone.now()
        endpoint.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    return endpoint


def endpoint_delete(*, endpoint_id: int) -> int:
    """Delete the endpoint and its delivery log; returns the deliveries removed."""
    with transaction.atomic():
        deliveries = Delivery.objects.filter(endpoint_id=endpoint_id).count()
        Endpoint.objects.filter(pk=endpoint_id).delete()
    return deliveries


def endpoint_ping(*, endpoint_id: int) -> Delivery:
    """Queue a test event for one endpoint (sent even while it is inactive)."""
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    now = timezone.now()
    event_id = f"evt_ping_{endpoint.pk}_{uuid.uuid4().hex[:12]}"
    summary, payload = ping_event(event_id=event_id, endpoint_name=endpoint.name, created_at=now)
    with transaction.atomic():
        event = OutboundEvent.objects.create(
            id=event_id,
            type=EventType.PING,
            summary=summary,
            payload=payload,
            occurred_at=now,
            created_at=now,
        )
        return Delivery.objects.create(
            endpoint=endpoint, event=event, created_at=now, next_attempt_at=now
        )
