"""Factories for the outbound tests, and the objects the role × URL matrix needs."""

import factory
from django.utils import timezone

from feedback.outbound.models import Delivery, EventType
from feedback.outbound.services.crm_sync import crm_sync_run
from feedback.outbound.services.endpoints import endpoint_create
from feedback.outbound.services.handoff import outbound_handoff
from scoring.models import RouteChange
from tests.factories import AccountFactory

ALL_TYPES = [t.value for t in EventType if t != EventType.PING]


class RouteChangeFactory(factory.django.DjangoModelFactory):
    """A route change as scoring writes it: by default a new AE queue item (a PQL)."""

    class Meta:
        model = RouteChange

    account = factory.SubFactory(AccountFactory)
    from_route = "self_serve"
    to_route = "ae"
    from_state = ""
    to_state = "open"
    reason = "queue item opened: score 82"
    at = factory.LazyFunction(timezone.now)


def endpoint(url="http://127.0.0.1:9/hooks", event_types=None, **fields):
    return endpoint_create(
        name=fields.pop("name", f"Receiver {url}"),
        url=url,
        event_types=ALL_TYPES if event_types is None else event_types,
        **fields,
    )


def outbound_objects() -> dict:
    """One object per outbound URL argument: an endpoint with a delivery, and a CRM sync
    (for tests/pls_portal/test_permissions.py's ``objects`` fixture)."""
    hook = endpoint(name="Matrix receiver")
    RouteChangeFactory()
    outbound_handoff()
    sync = crm_sync_run(full=True)
    return {
        "endpoint_id": hook.pk,
        "delivery_id": Delivery.objects.filter(endpoint=hook).values_list("pk", flat=True)[0],
        "crm_sync_id": sync.pk,
    }
