"""Identity resolution hard cases, field sources, adding a domain and merging accounts."""

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.ingest import parse_event
from accounts.models import (
    Account,
    AccountDomain,
    AccountGroup,
    AnonymousId,
    Contact,
    Deal,
    Event,
    ProductUser,
    TouchedDay,
)
from accounts.services.accounts import (
    AccountChangeError,
    account_domain_add,
    account_edit,
    account_merge,
)
from accounts.services.deals import deal_open
from accounts.services.ingestion import events_ingest

pytestmark = pytest.mark.django_db

_n = iter(range(10**6))


def send(*events):
    now = timezone.now()
    messages = []
    for event in events:
        event.setdefault("messageId", f"id-{next(_n)}")
        messages.append(parse_event(event, received_at=now))
    assert all(not hasattr(m, "reason") for m in messages), messages
    return events_ingest(messages=messages, invalid=[], source="http")


def identify(user, email, **traits):
    return {"type": "identify", "userId": user, "traits": {"email": email, **traits}}


def track(user, name="Project Created", when="2026-11-20T10:00:00Z", **extra):
    return {"type": "track", "userId": user, "event": name, "timestamp": when, **extra}


def group(user, group_id, **traits):
    return {"type": "group", "userId": user, "groupId": group_id, "traits": traits}


def test_co_uk_and_subdomains_resolve_to_one_registrable_domain():
    send(identify("u1", "ann@eu.acme.co.uk"), identify("u2", "bob@acme.co.uk"))
    account = Account.objects.get()
    assert account.domain == "acme.co.uk"
    assert set(account.users.values_list("user_id", flat=True)) == {"u1", "u2"}


def test_free_mail_never_creates_an_account_until_a_group_call_places_the_user():
    send(identify("u1", "ann@gmail.com"), track("u1", when="2026-11-10T10:00:00Z"))
    assert not Account.objects.exists()
    send(group("u1", "ws-42", name="Initech", employees=120, industry="Software"))
    account = Account.objects.get()
    assert (account.name, account.employees, account.industry) == ("Initech", 120, "Software")
    assert ProductUser.objects.get().account == account
    # The earlier, account-less event now belongs to the account and its day is re-rolled.
    assert Event.objects.get(type="track").account == account
    assert TouchedDay.objects.filter(account=account, day="2026-11-10").exists()


def test_group_overrides_the_email_domain():
    send(identify("u1", "ann@acme.com"))
    domain_account = Account.objects.get(domain="acme.com")
    send(group("u1", "ws-globex", name="Globex", website="https://globex.com"))
    user = ProductUser.objects.get()
    assert user.account.name == "Globex" and user.account != domain_account
    send(track("u1"))
    assert Event.objects.get(type="track").account == user.account


def test_context_group_id_places_a_track_event():
    send(group("u1", "ws-1", name="Hooli", website="hooli.com"))
    send(
        {
            "type": "track",
            "userId": "u2",
            "event": "Project Created",
            "context": {"groupId": "ws-1"},
        }
    )
    assert Event.objects.get(type="track").account.name == "Hooli"


def test_workspaces_with_the_same_company_domain_are_one_account():
    send(group("u1", "ws-a", name="Acme Sales", website="acme.com"))
    send(group("u2", "ws-b", name="Acme Eng", website="https://eng.acme.com"))
    assert Account.objects.count() == 1
    assert set(AccountGroup.objects.values_list("group_id", flat=True)) == {"ws-a", "ws-b"}


def test_anonymous_events_are_attached_after_alias():
    send({"type": "page", "anonymousId": "anon-9", "properties": {"path": "/pricing"}})
    send(identify("u1", "ann@acme.com"))
    send({"type": "alias", "userId": "u1", "previousId": "anon-9"})
    page = Event.objects.get(type="page")
    assert page.user.user_id == "u1"
    assert page.account.domain == "acme.com"
    assert AnonymousId.objects.get(anonymous_id="anon-9").user.user_id == "u1"


def test_identify_traits_update_the_user():
    send(
        identify(
            "u1",
            "Ann@Acme.com",
            firstName="Ann",
            lastName="Lee",
            title="VP Engineering",
            department="Engineering",
            seniority="VP",
            useCase="reporting",
            location="Berlin",
            role="owner",
            isAdmin=True,
        )
    )
    user = ProductUser.objects.get()
    assert (user.email, user.name, user.title, user.department) == (
        "ann@acme.com",
        "Ann Lee",
        "VP Engineering",
        "Engineering",
    )
    assert (user.seniority, user.use_case, user.office, user.role, user.is_admin) == (
        "VP",
        "reporting",
        "Berlin",
        "owner",
        True,
    )


def test_an_admin_edit_is_never_overwritten_by_group_traits():
    send(group("u1", "ws-1", name="acme inc", employees=10, website="acme.com"))
    account = Account.objects.get()
    account_edit(account_id=account.pk, values={"name": "ACME Corporation"})
    send(group("u1", "ws-1", name="acme incorporated", employees=25))
    account.refresh_from_db()
    assert account.name == "ACME Corporation"
    assert account.employees == 25
    assert account.field_sources["name"] == "admin"


def test_first_and_last_seen_follow_the_events():
    send(
        identify("u1", "ann@acme.com"),
        track("u1", when="2026-11-01T08:00:00Z"),
        track("u1", when="2026-11-15T08:00:00Z"),
    )
    user = ProductUser.objects.get()
    assert user.first_seen_at == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert user.last_seen_at >= datetime(2026, 11, 15, 8, tzinfo=UTC)


def test_account_domain_add_attaches_matching_users_without_an_account():
    send(identify("u1", "ann@acme.com"))
    acme = Account.objects.get()
    user = ProductUser.objects.create(
        user_id="u3",
        email="cy@acme.de",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    Event.objects.create(
        message_id="e-1",
        type="track",
        name="Project Created",
        user=user,
        timestamp=datetime(2026, 11, 3, tzinfo=UTC),
        received_at=timezone.now(),
    )
    account_domain_add(account_id=acme.pk, domain="ACME.de")
    assert set(acme.domains.values_list("domain", flat=True)) == {"acme.com", "acme.de"}
    assert Event.objects.get(message_id="e-1").account == acme
    assert TouchedDay.objects.filter(account=acme, day="2026-11-03").exists()


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("gmail.com", "gmail.com is a free-mail domain; it cannot identify a company."),
        ("not a domain", "“not a domain” is not a company domain (like acme.com)."),
        ("acme.com", "acme.com already belongs to this account."),
    ],
)
def test_account_domain_add_refuses_with_a_clear_message(domain, message):
    send(identify("u1", "ann@acme.com"))
    with pytest.raises(AccountChangeError, match="^" + re.escape(message) + "$"):
        account_domain_add(account_id=Account.objects.get().pk, domain=domain)


def test_a_domain_of_another_account_suggests_a_merge():
    send(identify("u1", "ann@acme.com"), identify("u2", "bob@globex.com"))
    acme = Account.objects.get(domain="acme.com")
    with pytest.raises(AccountChangeError, match="belongs to Globex; merge the two accounts"):
        account_domain_add(account_id=acme.pk, domain="globex.com")


def test_merge_moves_everything_and_keeps_the_merged_away_account():
    send(
        identify("u1", "ann@acme.com"),
        track("u1", when="2026-11-05T10:00:00Z"),
        identify("u2", "bob@acmecorp.com"),
        track("u2", when="2026-11-06T10:00:00Z"),
        group("u2", "ws-corp", name="Acme Corp", industry="Retail"),
        track("u2", "Checkout Started", when="2026-11-07T10:00:00Z"),
    )
    acme = Account.objects.get(domain="acme.com")
    corp = Account.objects.get(domain="acmecorp.com")
    deal_open(account_id=corp.pk, source="outbound")
    Contact.objects.create(account=corp, name="Cy Buyer", source="crm")
    target = account_merge(source_id=corp.pk, target_id=acme.pk)
    corp.refresh_from_db()
    assert corp.merged_into == target
    assert set(Event.objects.values_list("account", flat=True)) == {acme.pk}
    assert set(ProductUser.objects.values_list("account", flat=True)) == {acme.pk}
    assert set(AccountDomain.objects.filter(account=acme).values_list("domain", flat=True)) == {
        "acme.com",
        "acmecorp.com",
    }
    assert AccountGroup.objects.get().account == acme
    assert set(Deal.objects.values_list("account", flat=True)) == {acme.pk}
    assert Contact.objects.get().account == acme
    assert target.checkout_started_at == datetime(2026, 11, 7, 10, tzinfo=UTC)
    assert target.industry == "Retail"
    assert {
        d.isoformat() for d in TouchedDay.objects.filter(account=acme).values_list("day", flat=True)
    } >= {
        "2026-11-06",
        "2026-11-07",
    }
    # New events of the merged-away workspace land on the survivor.
    send(track("u3", context={"groupId": "ws-corp"}))
    assert Event.objects.filter(user__user_id="u3").get().account == acme


def test_merge_refuses_nonsense():
    send(identify("u1", "ann@acme.com"), identify("u2", "bob@globex.com"))
    acme, globex = Account.objects.get(domain="acme.com"), Account.objects.get(domain="globex.com")
    with pytest.raises(AccountChangeError, match="cannot be merged into itself"):
        account_merge(source_id=acme.pk, target_id=acme.pk)
    account_merge(source_id=globex.pk, target_id=acme.pk)
    with pytest.raises(AccountChangeError, match="Globex was already merged away"):
        account_merge(source_id=globex.pk, target_id=acme.pk)


def test_admin_merges_two_accounts_from_the_django_admin(client):
    from tests.factories import UserFactory

    send(identify("u1", "ann@acme.com"), identify("u2", "bob@acmecorp.com"))
    acme = Account.objects.get(domain="acme.com")
    corp = Account.objects.get(domain="acmecorp.com")
    client.force_login(UserFactory(admin=True))
    url = "/admin/accounts/account/"
    selection = {"action": "merge_accounts", "_selected_action": [acme.pk, corp.pk]}
    page = client.post(url, selection)
    assert "Which account survives?" in page.content.decode()
    response = client.post(url, {**selection, "confirm": "yes", "survivor": acme.pk}, follow=True)
    assert "Merged Acmecorp into Acme" in response.content.decode()
    corp.refresh_from_db()
    assert corp.merged_into == acme


def test_admin_adds_a_domain_from_the_django_admin_and_sees_refusals(client):
    from tests.factories import UserFactory

    send(identify("u1", "ann@acme.com"))
    acme = Account.objects.get()
    client.force_login(UserFactory(admin=True))
    url = "/admin/accounts/account/"
    selection = {"action": "add_domain", "_selected_action": [acme.pk], "confirm": "yes"}
    refused = client.post(url, {**selection, "domain": "yahoo.com"})
    assert "yahoo.com is a free-mail domain" in refused.content.decode()
    done = client.post(url, {**selection, "domain": "acme.io"}, follow=True)
    assert "Acme.io now belongs to Acme" in done.content.decode()  # admin capitalises
    assert set(acme.domains.values_list("domain", flat=True)) == {"acme.com", "acme.io"}


def test_anonymous_page_then_identify_in_one_batch_belong_to_the_user_and_account():
    send(
        {"type": "page", "anonymousId": "a-7", "properties": {"path": "/pricing"}},
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "a-7",
            "traits": {"email": "x@acme.com"},
        },
    )
    page = Event.objects.get(type="page")
    assert page.user.user_id == "u1"
    assert page.account.domain == "acme.com"


def test_track_then_identify_in_one_batch_puts_the_track_in_the_account():
    send(track("u1", when="2026-11-12T10:00:00Z"), identify("u1", "ann@acme.com"))
    event = Event.objects.get(type="track")
    assert event.account.domain == "acme.com"
    assert TouchedDay.objects.filter(account=event.account, day="2026-11-12").exists()


def test_touched_days_are_utc_days_whatever_time_zone_is_active():
    from django.utils import timezone as tz

    send(identify("u1", "ann@gmail.com"), track("u1", when="2026-11-12T23:30:00Z"))
    with tz.override("Asia/Tokyo"):  # 23:30 UTC is already the 13th in Tokyo
        send(
            group(
                "u1",
                "ws-1",
                name="Initech",
            )
        )
    days = {d.isoformat() for d in TouchedDay.objects.values_list("day", flat=True)}
    assert "2026-11-12" in days
    assert "2026-11-13" not in days


def test_each_integration_is_its_own_feature_key():
    send(
        identify("u1", "ann@acme.com"),
        track("u1", "Integration Connected", properties={"integration": "Slack"}),
        track("u1", "Integration Connected", properties={"integration": "Google Drive"}),
        track("u1", "Integration Connected"),
    )
    keys = sorted(Event.objects.filter(category="feature").values_list("key", flat=True))
    assert keys == ["integrations", "integrations:google-drive", "integrations:slack"]


def test_identify_with_a_group_id_lets_the_group_decide_the_account():
    send(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "ann@contractor.io"},
            "context": {"groupId": "ws-acme"},
        },
        group("u1", "ws-acme", name="Acme", website="acme.com"),
    )
    # One account (no stray one for the email's domain), named by the group's traits.
    account = Account.objects.get()
    assert account.name == "Acme"
    assert ProductUser.objects.get().account == account


def test_guards_move_when_a_sales_request_is_placed_in_an_account_later():
    send(
        identify("u1", "ann@gmail.com"),
        track("u1", "Demo Requested", when="2026-11-18T09:00:00Z"),
        {
            "type": "page",
            "anonymousId": "a-1",
            "properties": {"path": "/contact-sales"},
            "timestamp": "2026-11-19T09:00:00Z",
        },
    )
    send(group("u1", "ws-1", name="Initech"))
    account = Account.objects.get()
    assert account.sales_request_at == datetime(2026, 11, 18, 9, tzinfo=UTC)
    send({"type": "identify", "userId": "u1", "anonymousId": "a-1"})
    account.refresh_from_db()
    assert account.sales_request_at == datetime(2026, 11, 19, 9, tzinfo=UTC)


def test_anonymous_checkout_then_identify_in_one_batch_moves_the_guard():
    send(
        {
            "type": "track",
            "anonymousId": "a-2",
            "event": "Checkout Started",
            "timestamp": "2026-11-20T08:00:00Z",
        },
        {
            "type": "identify",
            "userId": "u2",
            "anonymousId": "a-2",
            "traits": {"email": "b@acme.com"},
        },
    )
    assert Account.objects.get().checkout_started_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
