"""The demo's commercial part goes through the real imports and is idempotent."""

import pytest

from accounts.demo_crm import demo_crm_seed
from accounts.models import Account, Contact, Deal, Firmographic, ImportRow, IPRange
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_demo_crm_loads_deals_contacts_firmographics_and_ranges_idempotently():
    for n in range(60):
        AccountFactory(name=f"Demo Co {n}", domain=f"democo{n}.com", employees=None)
    first = demo_crm_seed()
    counts = (
        Deal.objects.count(),
        Contact.objects.count(),
        Firmographic.objects.count(),
        IPRange.objects.count(),
    )
    assert first.deals == counts[0] > 0
    assert first.contacts == counts[1] > 0
    assert counts[2] > 0 and counts[3] == 5
    assert set(Deal.objects.values_list("source", flat=True)) <= {"inbound", "outbound"}
    assert not ImportRow.objects.exists()  # every demo row matched its account
    # Some accounts have no known buyer, so "missing buyer" shows in the demo.
    assert Account.objects.exclude(contacts__isnull=False).exists()
    assert Account.objects.filter(employees__isnull=False, arr_potential__isnull=False).exists()
    demo_crm_seed()
    assert counts == (
        Deal.objects.count(),
        Contact.objects.count(),
        Firmographic.objects.count(),
        IPRange.objects.count(),
    )
