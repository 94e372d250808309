"""Outbound's part of seed_demo: inactive example endpoints and a first full CRM sync,
the same on a second run."""

import pytest

from feedback.outbound.demo import demo_outbound_seed
from feedback.outbound.models import CrmSync, Delivery, Endpoint
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_the_demo_seed_is_idempotent_and_sends_nothing():
    AccountFactory.create_batch(3)

    first = demo_outbound_seed()
    secrets = dict(Endpoint.objects.values_list("name", "secret"))
    second = demo_outbound_seed()

    assert (first.endpoints_created, first.crm_sync_accounts) == (2, 3)
    assert (second.endpoints_created, second.crm_sync_accounts) == (0, None)
    assert dict(Endpoint.objects.values_list("name", "secret")) == secrets
    assert not Endpoint.objects.filter(is_active=True).exists()
    assert CrmSync.objects.count() == 1 and not Delivery.objects.exists()
