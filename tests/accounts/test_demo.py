"""The demo product data: ≥ 300 accounts through real ingestion, every archetype, idempotent."""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.db.models import Count, Q, Sum

from accounts.demo import demo_events_seed, demo_population
from accounts.models import (
    Account,
    AccountDomain,
    AccountGroup,
    Event,
    PlanLimit,
    ProductUser,
    RejectedEvent,
)
from tests.factories import (
    AccountFactory,
    EventFactory,
    PlanFactory,
    ProductUserFactory,
)

TODAY = date(2026, 3, 16)
# A past date gives the end of that day as "now", so the data does not depend on the clock.
END = datetime.combine(TODAY, time(23, 59, 59), tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed twice, once for the whole module, in a transaction rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        first = demo_events_seed(today=TODAY)
        after_first = (Account.objects.count(), ProductUser.objects.count(), Event.objects.count())
        second = demo_events_seed(today=TODAY)
        yield SimpleNamespace(first=first, second=second, after_first=after_first)
        transaction.set_rollback(True)


def _recent(days: int) -> Q:
    return Q(events__timestamp__gt=END - timedelta(days=days))


@pytest.mark.django_db
def test_seed_creates_over_300_accounts_through_identity_resolution(seeded):
    assert seeded.first.rejected == 0
    assert seeded.first.stored == seeded.first.messages == Event.objects.count()
    assert 30_000 <= seeded.first.messages <= 80_000
    assert Account.objects.count() >= 300
    assert seeded.first.accounts == Account.objects.count()
    assert seeded.first.users == ProductUser.objects.count()
    # Every account came from a company domain, and every account has people in it.
    assert not Account.objects.filter(domain="").exists()
    assert not Account.objects.annotate(n=Count("users")).filter(n=0).exists()
    assert Event.objects.filter(timestamp__date=TODAY).exists()
    assert not Event.objects.filter(timestamp__gt=END).exists()
    assert not Event.objects.filter(timestamp__lt=END - timedelta(days=90)).exists()


@pytest.mark.django_db
def test_second_run_stores_no_new_events_accounts_or_users(seeded):
    assert seeded.second.stored == 0
    assert seeded.second.duplicates == seeded.first.messages
    now = (Account.objects.count(), ProductUser.objects.count(), Event.objects.count())
    assert now == seeded.after_first
    assert not RejectedEvent.objects.exists()


def test_same_date_gives_the_same_messages():
    anchor = END
    first = [body for *_, body in demo_population(anchor=anchor).stream.messages]
    second = [body for *_, body in demo_population(anchor=anchor).stream.messages]
    assert first == second


@pytest.mark.django_db
def test_growing_enterprise_team_has_seven_plus_active_users_across_departments(seeded):
    teams = Account.objects.filter(employees__gte=500).annotate(
        active=Count("events__user", filter=_recent(30), distinct=True),
        departments=Count("users__department", distinct=True),
        admins=Count("users", filter=Q(users__is_admin=True), distinct=True),
    )
    team = teams.filter(active__gte=7, departments__gte=3, admins__gte=2).first()
    assert team is not None
    assert team.industry and team.plan is not None
    assert team.events.filter(category="feature", key__startswith="integrations:").count() >= 2
    assert team.events.filter(category="buyer_intent", name="/pricing").exists()
    # Active users rise: more people used it in the last 30 days than 60–90 days ago.
    early = team.events.filter(
        timestamp__lte=END - timedelta(days=60), timestamp__gt=END - timedelta(days=90)
    )
    assert team.active > early.values("user").distinct().count()


@pytest.mark.django_db
def test_one_company_with_two_workspaces_is_one_account(seeded):
    assert AccountGroup.objects.values("account").annotate(n=Count("id")).filter(n__gte=2).exists()


@pytest.mark.django_db
def test_self_serve_hero_is_small_and_active_nearly_every_day(seeded):
    heroes = Account.objects.filter(employees__lt=50).annotate(n=Count("users", distinct=True))
    streaks = [
        a.events.filter(timestamp__gt=END - timedelta(days=14)).dates("timestamp", "day").count()
        for a in heroes.filter(n__lte=3)
    ]
    assert max(streaks) >= 10


@pytest.mark.django_db
def test_mid_checkout_account_started_in_the_last_48_hours_and_did_not_finish(seeded):
    held = Account.objects.filter(
        checkout_started_at__gte=END - timedelta(hours=48), checkout_completed_at__isnull=True
    ).exclude(events__name="Checkout Completed")
    assert held.exists()


@pytest.mark.django_db
def test_self_serve_buyer_completed_checkout_on_team(seeded):
    bought = Account.objects.filter(checkout_completed_at__isnull=False, plan__key="team")
    assert bought.exists()
    event = Event.objects.filter(account=bought.first(), category="checkout_completed").get()
    assert event.value > 0


@pytest.mark.django_db
def test_account_near_the_free_plan_api_limit_this_month(seeded):
    limit = PlanLimit.objects.get(plan__key="free", key="api_calls").value
    usage = (
        Event.objects.filter(
            key="api_calls", timestamp__year=TODAY.year, timestamp__month=TODAY.month
        )
        .values("account")
        .annotate(calls=Sum("value"))
    )
    assert any(0.8 * limit <= row["calls"] < limit for row in usage)
    assert Event.objects.filter(category="limit_hit", key="exports").exists()
    assert Event.objects.filter(category="limit_hit", key="seats").exists()


@pytest.mark.django_db
def test_paywall_hits_name_the_feature(seeded):
    hit = Event.objects.filter(name="Paywall Hit", account__isnull=False).first()
    assert hit is not None
    assert hit.category == "paywall_hit" and hit.key == hit.properties["feature"]


@pytest.mark.django_db
def test_sales_requests_set_the_guard_timestamp(seeded):
    asked = Account.objects.filter(sales_request_at__gte=END - timedelta(days=12))
    assert asked.exists()
    assert Event.objects.filter(name="Demo Requested").exists()
    assert Event.objects.filter(type="page", name="/contact-sales").exists()


@pytest.mark.django_db
def test_fading_account_was_busy_and_is_almost_silent_now(seeded):
    fading = Account.objects.annotate(
        old=Count("events", filter=Q(events__timestamp__lt=END - timedelta(days=60))),
        recent=Count("events", filter=_recent(30)),
    ).filter(old__gte=20, recent__lte=1)
    assert fading.exists()


@pytest.mark.django_db
def test_free_mail_users_belong_to_no_account(seeded):
    loners = ProductUser.objects.filter(account__isnull=True)
    assert loners.count() >= 30
    assert {email.rsplit("@", 1)[1] for email in loners.values_list("email", flat=True)} <= {
        "gmail.com",
        "outlook.com",
        "yahoo.com",
        "hotmail.com",
        "proton.me",
        "icloud.com",
    }
    # A contractor with a gmail address in a company workspace joins it by group id.
    assert ProductUser.objects.filter(email__endswith="@gmail.com", account__isnull=False).exists()


@pytest.mark.django_db
def test_multi_domain_company_has_users_on_both_domains(seeded):
    account = Account.objects.annotate(n=Count("domains", distinct=True)).filter(n__gte=2).first()
    assert account is not None
    domains = set(AccountDomain.objects.filter(account=account).values_list("domain", flat=True))
    emails = {email.rsplit("@", 1)[1] for email in account.users.values_list("email", flat=True)}
    assert domains <= emails


@pytest.mark.django_db
def test_factories_build_consistent_rows():
    assert PlanFactory(key="free").is_paid is False
    assert AccountFactory().domains.get().is_primary
    user = ProductUserFactory()
    assert user.email.endswith(f"@{user.account.domain}")
    event = EventFactory()
    assert event.account == event.user.account and event.name == "Project Created"
