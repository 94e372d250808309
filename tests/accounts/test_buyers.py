"""Likely buyers of an account, each with why."""

import pytest
from django.utils import timezone

from accounts.buyers import is_senior, likely_buyers
from accounts.ingest import parse_event
from accounts.models import Account, Contact, ProductUser
from accounts.services.ingestion import events_ingest

pytestmark = pytest.mark.django_db


def send(*events):
    now = timezone.now()
    events_ingest(
        messages=[parse_event(e, received_at=now) for e in events], invalid=[], source="http"
    )


def identify(user, **traits):
    return {"type": "identify", "userId": user, "traits": traits}


@pytest.mark.parametrize(
    ("title", "senior"),
    [
        ("VP Engineering", True),
        ("Head of Data", True),
        ("Director, IT", True),
        ("Chief Technology Officer", True),
        ("CTO", True),
        ("Co-founder", True),
        ("Software Engineer", False),
        ("Vpn admin", False),
        ("Headless CMS developer", False),
        ("", False),
    ],
)
def test_senior_titles_are_whole_words(title, senior):
    assert is_senior(title) is senior


def test_likely_buyers_with_why_most_reasons_first(django_assert_num_queries):
    send(
        identify("u1", email="ann@acme.com", title="VP Engineering", isAdmin=True),
        identify("u2", email="bob@acme.com", title="Engineer"),
        identify("u3", email="cy@acme.com", title="Analyst"),
        {"type": "page", "userId": "u2", "properties": {"path": "/pricing"}},
        {"type": "page", "userId": "u2", "properties": {"path": "/security"}},
        {"type": "track", "userId": "u2", "event": "Checkout Started"},
    )
    account = Account.objects.get()
    Contact.objects.create(account=account, name="Dee Decider", title="CFO", source="crm")
    with django_assert_num_queries(3):
        buyers = likely_buyers(account_id=account.pk)
    summary = [(b.email or b.name, b.reasons) for b in buyers]
    assert summary == [
        ("bob@acme.com", ["viewed pricing", "viewed security", "started a checkout"]),
        ("ann@acme.com", ["workspace admin", "senior title: VP Engineering"]),
        ("Dee Decider", ["known contact (crm import)", "senior title: CFO"]),
    ]
    assert not buyers[2].used_the_product


def test_a_contact_who_uses_the_product_is_listed_once():
    send(identify("u1", email="ann@acme.com", title="Head of Ops"))
    account = Account.objects.get()
    Contact.objects.create(
        account=account,
        name="Ann",
        email="ann@acme.com",
        source="rep",
        product_user=ProductUser.objects.get(),
    )
    buyers = likely_buyers(account_id=account.pk)
    assert len(buyers) == 1
    assert buyers[0].reasons == ["senior title: Head of Ops", "known contact (added by a rep)"]


def test_an_account_without_buyers_gets_an_empty_list():
    send(identify("u1", email="ann@acme.com", title="Engineer"))
    assert likely_buyers(account_id=Account.objects.get().pk) == []
