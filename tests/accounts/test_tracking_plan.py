from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    Account,
    Event,
    IngestionKey,
    Plan,
    PlanLimit,
    RejectedEvent,
    TrackingPlanEntry,
)
from accounts.tracking_plan import PlanMeaning, meaning_for, tracking_plan_map
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SEGMENT_B2B_SAAS_EVENTS = {
    "Signed Up": ("signup", ""),
    "Signed In": ("other", ""),
    "Signed Out": ("other", ""),
    "Account Created": ("milestone", "account_created"),
    "Account Deleted": ("other", ""),
    "Invite Sent": ("invite_sent", ""),
    "Account Added User": ("milestone", "teammate_added"),
    "Account Removed User": ("other", ""),
    "Trial Started": ("milestone", "trial_started"),
    "Trial Ended": ("other", ""),
}

BUYER_PAGES = {
    "/pricing": ("buyer_intent", "pricing"),
    "/terms": ("buyer_intent", "terms"),
    "/privacy": ("buyer_intent", "privacy"),
    "/security": ("buyer_intent", "security"),
    "/contact-sales": ("sales_request", "contact_sales"),
}


@pytest.fixture
def plan_map():
    return tracking_plan_map()


@pytest.mark.parametrize(("name", "expected"), SEGMENT_B2B_SAAS_EVENTS.items())
def test_default_plan_recognises_segment_b2b_saas_spec_event(plan_map, name, expected):
    meaning = meaning_for(plan_map, event_type="track", name=name)

    assert meaning is not None
    assert (meaning.category, meaning.key) == expected


@pytest.mark.parametrize(("path", "expected"), BUYER_PAGES.items())
def test_default_plan_recognises_buyer_page(plan_map, path, expected):
    meaning = meaning_for(plan_map, event_type="page", name=path)

    assert meaning is not None
    assert (meaning.category, meaning.key) == expected


def test_default_plan_reads_limit_key_and_revenue_from_event_properties(plan_map):
    limit = meaning_for(plan_map, event_type="track", name="Limit Reached")
    checkout = meaning_for(plan_map, event_type="track", name="Order Completed")
    api_calls = meaning_for(plan_map, event_type="track", name="API Call Made")

    assert limit == PlanMeaning(category="limit_hit", key="", flag="", property_name="limit")
    assert checkout == PlanMeaning(
        category="checkout_completed", key="", flag="", property_name="revenue"
    )
    assert api_calls == PlanMeaning(
        category="usage_metric", key="api_calls", flag="", property_name="count"
    )


def test_default_plan_flags_core_features_integrations_and_activation(plan_map):
    def flag(name):
        return meaning_for(plan_map, event_type="track", name=name).flag

    assert flag("Project Created") == "core"
    assert flag("Integration Connected") == "integration"
    assert flag("Onboarding Completed") == "activation"


def test_every_default_entry_has_a_description_and_a_slug_key():
    entries = list(TrackingPlanEntry.objects.all())

    assert len(entries) == 43
    for entry in entries:
        assert entry.description, entry.name
        entry.full_clean()


@pytest.mark.parametrize(
    "path",
    [
        "/pricing?plan=team",
        "/pricing#faq",
        "/pricing/",
        "/Pricing",
        "/PRICING/?utm_source=ad#top",
        "/pricing/enterprise",
        "/pricing/enterprise/compare/",
        "https://example.com/pricing?x=1",
    ],
)
def test_page_paths_are_normalised_before_matching(plan_map, path):
    meaning = meaning_for(plan_map, event_type="page", name=path)

    assert meaning is not None
    assert meaning.key == "pricing"


def test_screen_events_match_pages_too(plan_map):
    meaning = meaning_for(plan_map, event_type="screen", name="/security")

    assert meaning is not None
    assert meaning.key == "security"


def test_path_prefix_needs_a_slash_boundary(plan_map):
    assert meaning_for(plan_map, event_type="page", name="/pricingfoo") is None
    assert meaning_for(plan_map, event_type="page", name="/blog/pricing") is None


def test_root_entry_matches_only_the_home_page():
    TrackingPlanEntry.objects.create(match_type="page", name="/", category="other")
    plan_map = tracking_plan_map()

    assert meaning_for(plan_map, event_type="page", name="/?ref=x").category == "other"
    assert meaning_for(plan_map, event_type="page", name="/about-us") is None


def test_longest_page_entry_wins():
    TrackingPlanEntry.objects.create(
        match_type="page", name="/pricing/enterprise", category="sales_request", key="demo"
    )
    plan_map = tracking_plan_map()

    meaning = meaning_for(plan_map, event_type="page", name="/pricing/enterprise/faq")

    assert meaning.category == "sales_request"


def test_page_entries_entered_untidily_still_match():
    TrackingPlanEntry.objects.create(
        match_type="page", name="/Compliance/", category="buyer_intent", key="compliance"
    )
    plan_map = tracking_plan_map()

    assert meaning_for(plan_map, event_type="page", name="/compliance").key == "compliance"


def test_unknown_event_means_nothing(plan_map):
    assert meaning_for(plan_map, event_type="track", name="Button Clicked") is None
    assert meaning_for(plan_map, event_type="page", name="/blog/hello") is None


def test_event_names_match_exactly(plan_map):
    assert meaning_for(plan_map, event_type="track", name="signed up") is None


def test_track_names_do_not_match_page_entries_or_the_reverse(plan_map):
    assert meaning_for(plan_map, event_type="track", name="/pricing") is None
    assert meaning_for(plan_map, event_type="page", name="Signed Up") is None


def test_identify_and_group_calls_have_no_meaning(plan_map):
    assert meaning_for(plan_map, event_type="identify", name="Signed Up") is None
    assert meaning_for(plan_map, event_type="group", name="/pricing") is None


def test_tracking_plan_map_reads_the_plan_in_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        plan_map = tracking_plan_map()

    assert len(plan_map) == TrackingPlanEntry.objects.count()


def test_default_plans_exist_in_order_with_prices():
    plans = list(Plan.objects.all())

    assert [p.key for p in plans] == ["free", "trial", "team", "business", "enterprise"]
    assert [p.position for p in plans] == [0, 1, 2, 3, 4]
    by_key = {p.key: p for p in plans}
    assert not by_key["free"].is_paid
    assert by_key["free"].price_per_seat == Decimal("0")
    assert by_key["trial"].is_trial
    assert not by_key["trial"].is_paid
    assert by_key["team"].is_paid
    assert by_key["team"].price_per_seat == Decimal("12.00")
    assert by_key["team"].billing_period == Plan.BillingPeriod.MONTH
    assert by_key["business"].price_per_seat == Decimal("25.00")
    assert by_key["enterprise"].price_per_seat == Decimal("45.00")
    assert by_key["enterprise"].billing_period == Plan.BillingPeriod.YEAR


def test_default_plans_have_limits_with_counting_modes():
    limits = {
        (limit.plan.key, limit.key): (limit.value, limit.counting_mode)
        for limit in PlanLimit.objects.select_related("plan")
    }

    assert limits[("free", "seats")] == (5, "current")
    assert limits[("free", "projects")] == (3, "current")
    assert limits[("free", "api_calls")] == (1000, "per_month")
    assert limits[("free", "exports")] == (10, "per_month")
    assert limits[("free", "records")] == (10_000, "current")
    assert limits[("team", "seats")] == (50, "current")
    assert limits[("team", "api_calls")] == (100_000, "per_month")
    assert limits[("business", "api_calls")] == (2_000_000, "per_month")
    assert limits[("enterprise", "seats")] == (100_000, "current")


def test_trial_has_the_team_plans_limits():
    def limits_of(key):
        return set(
            PlanLimit.objects.filter(plan__key=key).values_list("key", "value", "counting_mode")
        )

    assert limits_of("trial") == limits_of("team")
    assert len(limits_of("trial")) == 5


def test_limit_keys_match_the_tracking_plan(plan_map):
    exports = meaning_for(plan_map, event_type="track", name="Export Limit Reached")
    records = meaning_for(plan_map, event_type="track", name="Record Created")
    limit_keys = set(PlanLimit.objects.values_list("key", flat=True))

    assert {exports.key, records.key} <= limit_keys


@pytest.mark.parametrize(
    "model", [Plan, TrackingPlanEntry, Account, Event, IngestionKey, RejectedEvent]
)
def test_admin_changelist_loads_for_an_admin(client, model):
    now = timezone.now()
    account = Account.objects.create(name="Initech", domain="initech.com", created_at=now)
    Event.objects.create(
        message_id="m-1",
        type="track",
        name="Signed Up",
        account=account,
        timestamp=now,
        received_at=now,
    )
    IngestionKey.objects.create(name="web", prefix="pls_abc", key_hash="0" * 64)
    RejectedEvent.objects.create(
        source="http", reason="missing userId", payload="{}", received_at=now
    )
    client.force_login(UserFactory(admin=True))

    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    assert response.status_code == 200


def test_admin_cannot_add_events_or_keys(client):
    client.force_login(UserFactory(admin=True))

    assert client.get(reverse("admin:accounts_event_add")).status_code == 403
    assert client.get(reverse("admin:accounts_ingestionkey_add")).status_code == 403


def test_admin_revokes_selected_keys_once(client):
    earlier = timezone.now() - timedelta(days=1)
    live = IngestionKey.objects.create(name="web", prefix="pls_a", key_hash="a" * 64)
    revoked = IngestionKey.objects.create(
        name="old", prefix="pls_b", key_hash="b" * 64, revoked_at=earlier
    )
    client.force_login(UserFactory(admin=True))

    response = client.post(
        reverse("admin:accounts_ingestionkey_changelist"),
        {"action": "revoke_keys", "_selected_action": [live.pk, revoked.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 1 key(s); 1 were already revoked." in response.content.decode()
    live.refresh_from_db()
    revoked.refresh_from_db()
    assert live.revoked_at is not None
    assert revoked.revoked_at == earlier
