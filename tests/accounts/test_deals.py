"""Deals: self-serve from checkout events (replay-safe, upgrades, refunds), sales deals
through the service, contacts linking to product users."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.ingest import parse_event
from accounts.models import Account, Contact, Deal, ProductUser
from accounts.services.deals import DealError, deal_close, deal_open, deal_update
from accounts.services.ingestion import events_ingest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def send(*events):
    now = timezone.now()
    return events_ingest(
        messages=[parse_event(e, received_at=now) for e in events], invalid=[], source="http"
    )


def checkout(
    n, revenue, *, plan="team", when="2026-11-10T10:00:00Z", event="Checkout Completed", **props
):
    return {
        "type": "track",
        "userId": "u1",
        "event": event,
        "messageId": f"co-{n}",
        "timestamp": when,
        "properties": {"revenue": revenue, "plan": plan, **props},
    }


IDENTIFY = {
    "type": "identify",
    "userId": "u1",
    "traits": {"email": "ann@acme.com"},
    "messageId": "id-1",
}


def test_checkout_completed_creates_a_won_self_serve_deal_with_arr():
    send(IDENTIFY, checkout(1, 120, billing_period="month"))
    deal = Deal.objects.get()
    assert (deal.motion, deal.source, deal.stage, deal.change) == (
        "self_serve",
        "self_serve",
        "won",
        "new",
    )
    assert deal.arr == Decimal("1440.00")
    assert deal.plan.key == "team"
    assert deal.closed_at == datetime(2026, 11, 10, 10, tzinfo=UTC)
    account = Account.objects.get()
    assert (account.plan.key, account.status) == ("team", "paid")


def test_yearly_billing_is_already_annual():
    send(IDENTIFY, checkout(1, 5400, plan="enterprise", billing_period="year"))
    assert Deal.objects.get().arr == Decimal("5400.00")


def test_replaying_the_checkout_creates_nothing_new():
    send(IDENTIFY, checkout(1, 120))
    send(IDENTIFY, checkout(1, 120))
    assert Deal.objects.count() == 1


def test_a_later_plan_change_is_an_upgrade_and_a_refund_is_shown():
    send(IDENTIFY, checkout(1, 120))
    send(checkout(2, 300, plan="business", when="2026-11-15T10:00:00Z", event="Plan Changed"))
    send(checkout(3, 300, when="2026-11-16T10:00:00Z", event="Subscription Refunded"))
    send(checkout(4, 100, when="2026-11-17T10:00:00Z"))
    changes = list(Deal.objects.order_by("closed_at").values_list("change", "arr"))
    assert changes == [
        ("new", Decimal("1440.00")),
        ("upgrade", Decimal("3600.00")),
        ("refund", Decimal("-3600.00")),
        ("downgrade", Decimal("1200.00")),
    ]


def test_a_deal_in_another_currency_is_kept_and_flagged():
    send(IDENTIFY, checkout(1, 100, currency="eur"))
    deal = Deal.objects.get()
    assert (deal.currency, deal.in_metrics) == ("EUR", False)


def test_a_checkout_without_an_account_makes_no_deal():
    send(
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@gmail.com"}},
        checkout(1, 120),
    )
    assert not Deal.objects.exists()


def test_sales_deal_life_cycle_and_account_owner():
    send(IDENTIFY)
    account = Account.objects.get()
    ae = UserFactory(ae=True)
    deal = deal_open(account_id=account.pk, source="pql", owner=ae, name="Acme expansion")
    assert (deal.stage, deal.motion) == ("open", "sales_assisted")
    deal_update(deal_id=deal.pk, arr=Decimal("24000"))
    deal = deal_close(deal_id=deal.pk, won=True)
    assert (deal.stage, deal.arr) == ("won", Decimal("24000"))
    account.refresh_from_db()
    assert account.owner == ae
    with pytest.raises(DealError, match="already won"):
        deal_close(deal_id=deal.pk, won=False, lost_reason="budget")
    with pytest.raises(DealError, match="it cannot change"):
        deal_update(deal_id=deal.pk, arr=1)


def test_a_lost_deal_needs_a_reason_and_self_serve_is_not_opened_by_hand():
    send(IDENTIFY)
    account = Account.objects.get()
    deal = deal_open(account_id=account.pk, source="outbound")
    with pytest.raises(DealError, match="a lost deal needs a reason"):
        deal_close(deal_id=deal.pk, won=False)
    assert (
        deal_close(deal_id=deal.pk, won=False, lost_reason="no budget").lost_reason == "no budget"
    )
    with pytest.raises(DealError, match="self-serve deals come from checkout events"):
        deal_open(account_id=account.pk, source="self_serve")


def test_a_contact_whose_email_shows_up_in_product_events_links_to_that_user():
    send({"type": "identify", "userId": "u0", "traits": {"email": "x@acme.com"}})
    account = Account.objects.get()
    contact = Contact.objects.create(
        account=account, name="Bo Buyer", email="Bo@Acme.com", source="crm"
    )
    send({"type": "identify", "userId": "u9", "traits": {"email": "bo@acme.com"}})
    contact.refresh_from_db()
    assert contact.product_user == ProductUser.objects.get(user_id="u9")


def test_admin_lists_deals_and_contacts(client):
    send(IDENTIFY, checkout(1, 120))
    Contact.objects.create(account=Account.objects.get(), name="Bo Buyer", source="rep")
    client.force_login(UserFactory(admin=True))
    deals = client.get("/admin/accounts/deal/")
    contacts = client.get("/admin/accounts/contact/")
    assert deals.status_code == contacts.status_code == 200
    assert "Self-serve Team" in deals.content.decode()
    assert "Bo Buyer" in contacts.content.decode()


def test_admin_lists_firmographics_ip_ranges_and_rows_kept_for_review(client):
    from accounts.models import Firmographic, ImportRow, IPRange

    Firmographic.objects.create(domain="acme.com", company_name="Acme")
    IPRange.objects.create(network="203.0.113.0/24", first="a", last="b", domain="acme.com")
    ImportRow.objects.create(
        kind="deals", file_name="deals.csv", line_number=7, reason="no account"
    )
    client.force_login(UserFactory(admin=True))
    for path, text in [
        ("/admin/accounts/firmographic/", "Acme"),
        ("/admin/accounts/iprange/", "203.0.113.0/24"),
        ("/admin/accounts/importrow/", "no account"),
    ]:
        response = client.get(path)
        assert response.status_code == 200
        assert text in response.content.decode()


def test_an_admin_adds_an_ip_range_by_cidr_and_bad_input_names_the_field(client):
    from accounts.enrichment import ip_key
    from accounts.models import IPRange

    client.force_login(UserFactory(admin=True))
    url = "/admin/accounts/iprange/add/"
    bad = client.post(url, {"network": "not-an-ip", "domain": "acme.com", "company": "Acme"})
    assert "Enter a network in CIDR form" in bad.content.decode()
    client.post(url, {"network": "198.51.100.7/24", "domain": "acme.com", "company": "Acme"})
    ip_range = IPRange.objects.get()
    assert ip_range.network == "198.51.100.0/24"
    assert (ip_range.first, ip_range.last) == (ip_key("198.51.100.0"), ip_key("198.51.100.255"))
