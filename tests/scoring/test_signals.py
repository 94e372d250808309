"""Signals on crafted rollup histories: window edges, limits by counting mode, velocity,
spread, enterprise fit, guards, and "as of" a past day. One test goes the whole way from
Segment messages through the rollup."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccountDomain, Plan
from accounts.services.rollups import rollup_run
from scoring.models import IcpEntry
from scoring.signals import SIGNALS, SIGNALS_BY_NAME, Scope, signals_compute, signals_context
from tests.factories import AccountFactory, PlanFactory, ProductUserFactory
from tests.scoring.factories import (
    AccountDayFactory,
    AccountFeatureDayFactory,
    AccountUserDayFactory,
    IcpEntryFactory,
    identify,
    page,
    segment_ingest,
    segment_message,
    track,
)

pytestmark = pytest.mark.django_db

# The as-of day: the 20th, so the 30-day window reaches into the previous month.
D = date(2026, 3, 20)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def ago(days: int) -> date:
    return D - timedelta(days=days)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def account(**fields):
    fields.setdefault("created_at", LONG_AGO)
    return AccountFactory(**fields)


def user(acc, **fields):
    fields.setdefault("first_seen_at", LONG_AGO)
    return ProductUserFactory(account=acc, **fields)


def signals_of(acc, *, as_of: date = D) -> dict:
    _, signals = signals_compute(scope=Scope((acc.pk,)), as_of=as_of)
    return signals[acc.pk]


def facts_of(acc, *, as_of: date = D):
    facts, _ = signals_compute(scope=Scope((acc.pk,)), as_of=as_of)
    return facts[acc.pk]


def active_on(acc, person, *days: date, events: int = 1) -> None:
    for day in days:
        AccountUserDayFactory(account=acc, user=person, day=day, events=events)


# --- Registry -----------------------------------------------------------------------------


def test_every_computed_signal_is_in_the_registry_and_every_registered_one_is_computed():
    acc = account()
    assert set(signals_of(acc)) == set(SIGNALS_BY_NAME)
    assert len(SIGNALS_BY_NAME) == len(SIGNALS)  # names are unique
    assert all(s.label and s.unit and s.group and s.computed for s in SIGNALS)


def test_an_account_without_any_usage_has_zero_signals_and_is_idle_for_the_whole_window():
    acc = account()
    values = signals_of(acc)
    assert values["idle_days"] == 31
    assert values["sales_request_days"] is None
    assert {k: v for k, v in values.items() if k not in ("idle_days", "sales_request_days")} == {
        k: 0 for k in values if k not in ("idle_days", "sales_request_days")
    }


def test_the_number_of_queries_does_not_grow_with_the_number_of_accounts():
    context = signals_context()

    def queries_for(n: int) -> int:
        accounts = [account() for _ in range(n)]
        for acc in accounts:
            person = user(acc, department="Sales")
            active_on(acc, person, D, ago(3))
            AccountDayFactory(account=acc, day=D, usage={"api_calls": 10})
            AccountFeatureDayFactory(account=acc, day=D, feature_key="integrations:slack")
        with CaptureQueriesContext(connection) as queries:
            facts, _ = signals_compute(
                scope=Scope(tuple(a.pk for a in accounts)), as_of=D, context=context
            )
        assert len(facts) == n
        return len(queries)

    assert queries_for(1) == queries_for(6)


# --- Team size ----------------------------------------------------------------------------


def test_active_users_count_a_user_on_the_day_6_and_29_days_back_but_not_7_and_30():
    acc = account()
    today, six, seven, twenty_nine, thirty, later = (user(acc) for _ in range(6))
    active_on(acc, today, D, ago(1))
    active_on(acc, six, ago(6))
    active_on(acc, seven, ago(7))
    active_on(acc, twenty_nine, ago(29))
    active_on(acc, thirty, ago(30))
    active_on(acc, later, D + timedelta(days=1))

    values = signals_of(acc)
    assert values["active_users_7"] == 2
    assert values["active_users_30"] == 4


# --- Engagement streak --------------------------------------------------------------------


def test_active_days_count_days_with_events_13_and_29_days_back_but_not_14_and_30():
    acc = account()
    for day in (D, ago(13), ago(14), ago(29), ago(30)):
        AccountDayFactory(account=acc, day=day, events=3)
    AccountDayFactory(account=acc, day=ago(1), events=0)  # a row without events: not active

    values = signals_of(acc)
    assert values["active_days_14"] == 2
    assert values["active_days_30"] == 4
    assert values["idle_days"] == 0


@pytest.mark.parametrize(
    ("last_active", "idle"),
    [(0, 0), (3, 3), (30, 30), (31, 31), (90, 31)],
)
def test_idle_days_count_from_the_last_active_day_up_to_31(last_active, idle):
    acc = account()
    AccountDayFactory(account=acc, day=ago(last_active), events=2)
    AccountDayFactory(account=acc, day=D + timedelta(days=1), events=2)  # after as_of
    assert signals_of(acc)["idle_days"] == idle


# --- Velocity -----------------------------------------------------------------------------


def test_events_week_over_week_compare_the_last_7_days_with_the_7_before():
    acc = account()
    AccountDayFactory(account=acc, day=D, events=10)
    AccountDayFactory(account=acc, day=ago(6), events=20)
    AccountDayFactory(account=acc, day=ago(7), events=15)
    AccountDayFactory(account=acc, day=ago(13), events=5)
    AccountDayFactory(account=acc, day=ago(14), events=100)  # two weeks back: neither

    assert signals_of(acc)["events_wow_pct"] == 50.0


def test_active_users_week_over_week_grow_and_shrink():
    growing, shrinking = account(), account()
    people = [user(growing) for _ in range(3)]
    active_on(growing, people[0], D, ago(7))
    active_on(growing, people[1], ago(6), ago(13))
    active_on(growing, people[2], ago(2))
    people = [user(shrinking) for _ in range(4)]
    for person in people:
        active_on(shrinking, person, ago(8))
    active_on(shrinking, people[0], ago(1))

    assert signals_of(growing)["users_wow_pct"] == 50.0  # 3 users against 2
    assert signals_of(shrinking)["users_wow_pct"] == -75.0  # 1 user against 4


def test_velocity_from_nothing_is_100_percent_and_nothing_to_nothing_is_zero():
    new, quiet = account(), account()
    active_on(new, user(new), D)
    AccountDayFactory(account=new, day=D, events=4)
    assert signals_of(new)["users_wow_pct"] == 100.0
    assert signals_of(new)["events_wow_pct"] == 100.0
    assert signals_of(quiet)["users_wow_pct"] == 0.0
    assert signals_of(quiet)["events_wow_pct"] == 0.0


# --- Feature adoption ---------------------------------------------------------------------


def test_core_features_are_distinct_core_keys_of_the_last_30_days():
    acc = account()
    for key, day in [
        ("projects", D),
        ("projects", ago(1)),
        ("export", ago(29)),
        ("automations", ago(10)),
        ("dashboards", ago(30)),  # out of the window
        ("integrations:slack", D),  # an integration, not a core feature
        ("not_in_the_plan", D),
    ]:
        AccountFeatureDayFactory(account=acc, feature_key=key, day=day, events=2)
    assert signals_of(acc)["core_features_30"] == 3


def test_integrations_are_distinct_integrations_ever_connected_up_to_as_of():
    acc = account()
    for key, day in [
        ("integrations:slack", ago(200)),
        ("integrations:github", ago(5)),
        ("integrations:github", ago(4)),
        ("integrations:jira", D + timedelta(days=1)),  # after as_of
        ("projects", D),
    ]:
        AccountFeatureDayFactory(account=acc, feature_key=key, day=day)
    assert signals_of(acc)["integrations"] == 2


def test_api_keys_created_count_api_feature_events_of_the_last_30_days():
    acc = account()
    AccountFeatureDayFactory(account=acc, feature_key="api", day=ago(29), events=2)
    AccountFeatureDayFactory(account=acc, feature_key="api", day=ago(30), events=5)
    assert signals_of(acc)["api_key_30"] == 2


# --- Spread -------------------------------------------------------------------------------


def test_departments_are_distinct_non_blank_departments_of_users_active_in_30_days():
    acc = account()
    active_on(acc, user(acc, department="Sales"), D)
    active_on(acc, user(acc, department="Sales"), ago(1))
    active_on(acc, user(acc, department="Engineering"), ago(29))
    active_on(acc, user(acc, department=""), D)
    active_on(acc, user(acc, department="Finance"), ago(30))  # out of the window
    user(acc, department="Legal")  # never active
    assert signals_of(acc)["departments_30"] == 2


def test_invites_are_summed_over_the_last_30_days():
    acc = account()
    AccountDayFactory(account=acc, day=D, invites_sent=3)
    AccountDayFactory(account=acc, day=ago(29), invites_sent=2)
    AccountDayFactory(account=acc, day=ago(30), invites_sent=7)
    assert signals_of(acc)["invites_30"] == 5


# --- Enterprise fit -----------------------------------------------------------------------


def test_employees_and_arr_potential_come_from_the_account():
    big = account(employees=800, arr_potential=25_000)
    unknown = account(employees=None, arr_potential=None)
    assert (signals_of(big)["employees"], signals_of(big)["arr_potential"]) == (800, 25_000.0)
    assert (signals_of(unknown)["employees"], signals_of(unknown)["arr_potential"]) == (0, 0)


def test_icp_domain_matches_the_primary_or_any_other_domain_of_the_account():
    IcpEntryFactory(value="acme.com")
    IcpEntryFactory(value="globex.io")
    primary = account(domain="acme.com")
    secondary = account(domain="initech.com")
    AccountDomain.objects.create(account=secondary, domain="globex.io")
    other = account(domain="umbrella.com")

    assert signals_of(primary)["icp_domain"] == 1
    assert signals_of(secondary)["icp_domain"] == 1
    assert signals_of(other)["icp_domain"] == 0


def test_icp_industry_matches_regardless_of_case_and_spaces():
    IcpEntryFactory(kind=IcpEntry.Kind.INDUSTRY, value="  Financial Services ")
    assert IcpEntry.objects.get().value == "financial services"
    listed = account(industry="Financial services ")
    other = account(industry="Retail")
    blank = account(industry="")

    assert signals_of(listed)["icp_industry"] == 1
    assert signals_of(other)["icp_industry"] == 0
    assert signals_of(blank)["icp_industry"] == 0


# --- Buyer intent -------------------------------------------------------------------------


def test_buyer_intent_views_are_summed_by_key_over_the_last_30_days():
    acc = account()
    AccountDayFactory(account=acc, day=D, intent={"pricing": 2, "terms": 1})
    AccountDayFactory(account=acc, day=ago(29), intent={"privacy": 1, "security": 1, "sso": 1})
    AccountDayFactory(account=acc, day=ago(3), intent={"admin_change": 1, "audit_log": 2})
    AccountDayFactory(
        account=acc, day=ago(30), intent={"pricing": 5, "security": 5, "admin_change": 5}
    )
    values = signals_of(acc)
    assert values["pricing_views_30"] == 2
    assert values["legal_views_30"] == 2  # terms + privacy
    assert values["security_views_30"] == 1
    assert values["sso_audit_30"] == 3  # sso + audit log
    assert values["admin_change_30"] == 1


def test_paywall_and_limit_hits_count_their_windows():
    acc = account()
    AccountDayFactory(account=acc, day=ago(6), limit_hits={"exports": 1})
    AccountDayFactory(account=acc, day=ago(7), limit_hits={"seats": 2})
    AccountDayFactory(account=acc, day=ago(13), limit_hits={"exports": 1}, paywall_hits=2)
    AccountDayFactory(account=acc, day=ago(14), limit_hits={"exports": 3}, paywall_hits=4)
    values = signals_of(acc)
    assert values["limit_hits_7"] == 1
    assert values["limit_hits_14"] == 4
    assert values["paywall_hits_14"] == 2


# --- Usage of the plan's limits -----------------------------------------------------------
# The free plan (migration): seats 5 and projects 3 and records 10,000 are "current"
# gauges; api_calls 1,000 and exports 10 are "per_month" counters.


def free_account(**fields):
    return account(plan=PlanFactory(key="free"), **fields)


def test_a_per_month_usage_metric_counts_only_the_calendar_month_of_as_of():
    acc = free_account()
    AccountDayFactory(account=acc, day=date(2026, 3, 1), usage={"api_calls": 500})
    AccountDayFactory(account=acc, day=D, usage={"api_calls": 300})
    AccountDayFactory(account=acc, day=date(2026, 2, 28), usage={"api_calls": 900})
    AccountDayFactory(account=acc, day=D + timedelta(days=1), usage={"api_calls": 900})

    assert signals_of(acc)["usage_pct"] == 80.0
    assert facts_of(acc).usage_limit == "api_calls"


def test_a_per_month_limit_measured_by_a_feature_counts_its_events_this_month():
    acc = free_account()
    AccountFeatureDayFactory(account=acc, feature_key="export", day=date(2026, 3, 2), events=6)
    AccountFeatureDayFactory(account=acc, feature_key="export", day=D, events=3)
    AccountFeatureDayFactory(account=acc, feature_key="export", day=date(2026, 2, 27), events=10)

    assert signals_of(acc)["usage_pct"] == 90.0
    assert facts_of(acc).usage_limit == "exports"


def test_a_current_usage_metric_is_the_running_total_up_to_as_of():
    acc = free_account()
    AccountDayFactory(account=acc, day=ago(200), usage={"records": 6000})
    AccountDayFactory(account=acc, day=ago(1), usage={"records": 2500})
    AccountDayFactory(account=acc, day=D + timedelta(days=1), usage={"records": 1000})

    assert signals_of(acc)["usage_pct"] == 85.0
    assert facts_of(acc).usage_limit == "records"


def test_a_current_limit_measured_by_a_feature_counts_its_events_ever():
    acc = free_account()
    AccountFeatureDayFactory(account=acc, feature_key="projects", day=ago(100))
    AccountFeatureDayFactory(account=acc, feature_key="projects", day=D)
    assert signals_of(acc)["usage_pct"] == 66.7
    assert facts_of(acc).usage_limit == "projects"


def test_seats_are_the_product_users_seen_by_as_of():
    acc = free_account()
    for _ in range(4):
        user(acc)
    user(acc, first_seen_at=at(D + timedelta(days=1)))
    assert signals_of(acc)["usage_pct"] == 80.0
    assert facts_of(acc).usage_limit == "seats"


def test_usage_is_the_highest_percentage_of_any_limit():
    acc = free_account()
    AccountDayFactory(account=acc, day=D, usage={"api_calls": 500})
    AccountFeatureDayFactory(account=acc, feature_key="export", day=D, events=9)
    assert signals_of(acc)["usage_pct"] == 90.0
    assert facts_of(acc).usage_limit == "exports"


def test_a_limit_hit_in_14_days_counts_as_at_least_100_percent():
    hit = free_account()
    AccountDayFactory(account=hit, day=ago(13), limit_hits={"exports": 1})
    AccountFeatureDayFactory(account=hit, feature_key="export", day=D, events=2)
    over = free_account()
    AccountDayFactory(account=over, day=D, limit_hits={"exports": 1})
    AccountFeatureDayFactory(account=over, feature_key="export", day=D, events=15)
    old_hit = free_account()
    AccountDayFactory(account=old_hit, day=ago(14), limit_hits={"exports": 1})

    assert signals_of(hit)["usage_pct"] == 100.0
    assert facts_of(hit).usage_limit == "exports"
    assert signals_of(over)["usage_pct"] == 150.0
    assert signals_of(old_hit)["usage_pct"] == 0.0


def test_an_account_without_a_plan_is_held_to_the_lowest_plans_limits():
    acc = account(plan=None)
    AccountDayFactory(account=acc, day=D, usage={"api_calls": 800})
    assert signals_of(acc)["usage_pct"] == 80.0


def test_a_paid_plan_has_its_own_limits():
    acc = account(plan=PlanFactory(key="team"))  # 100,000 API calls a month
    AccountDayFactory(account=acc, day=D, usage={"api_calls": 800})
    assert signals_of(acc)["usage_pct"] == 0.8
    assert signals_of(acc)["paid_plan"] == 1
    assert signals_of(free_account())["paid_plan"] == 0


def test_fractional_usage_metric_counts_are_summed_as_they_are():
    # "API Call Made" reads its count property as a number; the rollup keeps 400.5.
    acc = free_account(domain="acme.com")
    segment_ingest(
        identify("ana", "ana@acme.com", at(date(2026, 3, 2), 9)),
        track("ana", "API Call Made", at(date(2026, 3, 2)), count=400.5),
        track("ana", "API Call Made", at(D), count=399.5),
    )
    rollup_run()
    assert signals_of(acc)["usage_pct"] == 80.0
    assert facts_of(acc).usage_limit == "api_calls"


# --- Checkout and sales request -----------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "completed", "in_progress"),
    [
        (None, None, 0),
        (at(ago(1)), None, 1),
        (at(ago(2)), at(ago(1)), 0),
        (at(ago(1)), at(ago(5)), 1),  # bought before, started again
        (at(D + timedelta(days=1)), None, 0),  # not yet started as of D
        (at(ago(1)), at(D + timedelta(days=1)), 1),  # not yet completed as of D
    ],
)
def test_checkout_in_progress_when_started_and_not_completed_after_it(
    started, completed, in_progress
):
    acc = account(checkout_started_at=started, checkout_completed_at=completed)
    assert signals_of(acc)["checkout_in_progress"] == in_progress


@pytest.mark.parametrize(
    ("asked", "days"),
    [
        (None, None),
        (at(D, 10), 0),
        (at(ago(3), 12), 3),
        (at(ago(3), 0), 4),
        (at(D + timedelta(days=2)), None),  # not yet asked as of D
    ],
)
def test_sales_request_days_count_whole_days_from_the_end_of_as_of(asked, days):
    acc = account(sales_request_at=asked)
    assert signals_of(acc)["sales_request_days"] == days


# --- As of a past day ---------------------------------------------------------------------


def build_history(acc) -> None:
    people = [user(acc, department=d) for d in ("Sales", "Engineering", "Sales")]
    for n, person in enumerate(people):
        active_on(acc, person, ago(n), ago(n + 8), ago(n + 20))
    for n in range(0, 40, 3):
        AccountDayFactory(
            account=acc,
            day=ago(n),
            events=5 + n,
            invites_sent=1,
            intent={"pricing": 1},
            limit_hits={"exports": 1} if n == 9 else {},
            usage={"api_calls": 100, "records": 50},
        )
        AccountFeatureDayFactory(account=acc, day=ago(n), feature_key="projects")
    AccountFeatureDayFactory(account=acc, day=ago(50), feature_key="integrations:slack")


def add_later_data(acc) -> None:
    later = D + timedelta(days=1)
    for person in acc.users.all():
        active_on(acc, person, later)
    newcomer = user(acc, department="Finance", first_seen_at=at(later))
    active_on(acc, newcomer, later, later + timedelta(days=3))
    for n in range(1, 6):
        AccountDayFactory(
            account=acc,
            day=D + timedelta(days=n),
            events=500,
            invites_sent=9,
            paywall_hits=3,
            intent={"security": 4, "sso": 1},
            limit_hits={"seats": 2},
            usage={"api_calls": 5000, "records": 9000},
        )
        AccountFeatureDayFactory(account=acc, day=D + timedelta(days=n), feature_key="export")
        AccountFeatureDayFactory(
            account=acc, day=D + timedelta(days=n), feature_key=f"integrations:tool{n}"
        )
    acc.checkout_started_at = at(later)
    acc.sales_request_at = at(later, 15)
    acc.save()


def test_signals_as_of_a_past_day_ignore_everything_that_happened_after_it():
    acc = free_account()
    build_history(acc)
    before = signals_of(acc)
    assert before["active_users_30"] == 3
    assert before["integrations"] == 1

    add_later_data(acc)
    assert signals_of(acc) == before
    assert signals_of(acc, as_of=D + timedelta(days=5)) != before


def test_an_account_created_after_as_of_is_not_there_yet():
    acc = account(created_at=at(D + timedelta(days=1)))
    facts, signals = signals_compute(scope=Scope((acc.pk,)), as_of=D)
    assert (facts, signals) == ({}, {})
    assert acc.pk in signals_compute(scope=Scope((acc.pk,)), as_of=D + timedelta(days=1))[1]


def test_a_merged_away_account_is_returned_with_its_merge_for_routing_to_retire():
    survivor = account()
    merged = account(merged_into=survivor)
    assert facts_of(merged).merged_into_id == survivor.pk


def test_an_id_range_scope_reads_every_account_between_the_ends():
    first, middle, last = account(), account(), account()
    facts, _ = signals_compute(scope=Scope((first.pk, last.pk), as_range=True), as_of=D)
    assert set(facts) == {first.pk, middle.pk, last.pk}


# --- From Segment messages through the rollup ---------------------------------------------


def test_signals_from_segment_messages_through_the_rollup():
    IcpEntryFactory(kind=IcpEntry.Kind.INDUSTRY, value="fintech")
    start = at(ago(40), 9)
    segment_ingest(
        identify("ana", "ana@acme.com", start, department="Finance", title="CFO"),
        identify("bo", "bo@acme.com", start, department="Engineering"),
        identify("cy", "cy@acme.com", start, department="Engineering"),
        segment_message(
            "group",
            start,
            "ana",
            groupId="g-acme",
            traits={
                "name": "Acme",
                "website": "acme.com",
                "industry": "Fintech",
                "employees": 800,
                "plan": "free",
            },
        ),
        # The week before last: two users.
        track("ana", "Project Created", at(ago(10))),
        track("bo", "Project Created", at(ago(9))),
        # The last 7 days: three users, four core features, two integrations.
        track("ana", "Report Exported", at(ago(2))),
        track("ana", "Report Exported", at(ago(1))),
        track("bo", "Dashboard Shared", at(ago(1))),
        track("cy", "Automation Created", at(D, 8)),
        track("cy", "Integration Connected", at(ago(3)), integration="Slack"),
        track("cy", "Integration Connected", at(ago(2)), integration="GitHub"),
        track("bo", "Invite Sent", at(ago(4))),
        track("bo", "Invite Sent", at(ago(4), 13)),
        track("ana", "Export Limit Reached", at(ago(1), 14)),
        track("bo", "Paywall Hit", at(ago(1), 15), feature="sso"),
        track("cy", "API Call Made", at(D, 9), count=250),
        page("ana", "/pricing", at(ago(5))),
        page("ana", "/pricing", at(ago(1))),
        page("ana", "/security", at(D, 10)),
        track("ana", "SSO Setup Attempted", at(D, 11)),
        track("ana", "Checkout Started", at(D, 12)),
        # After as_of: not seen.
        track("ana", "Demo Requested", at(D + timedelta(days=1))),
        track("bo", "Project Created", at(D + timedelta(days=2))),
    )
    rollup_run()

    acme = AccountDomain.objects.get(domain="acme.com").account
    assert acme.plan == Plan.objects.get(key="free")
    values = signals_of(acme)
    assert values == {
        "active_users_7": 3,
        "active_users_30": 3,
        "core_features_30": 4,  # projects, export, dashboards, automations
        "integrations": 2,
        "usage_pct": 100.0,  # the export limit was hit
        "active_days_14": 8,  # D, D-1..D-5, D-9, D-10
        "active_days_30": 8,
        "users_wow_pct": 50.0,
        "events_wow_pct": 700.0,  # 16 events against 2
        "departments_30": 2,
        "invites_30": 2,
        "employees": 800,
        "icp_domain": 0,
        "icp_industry": 1,
        "arr_potential": values["arr_potential"],  # the accounts app's estimate
        "pricing_views_30": 2,
        "legal_views_30": 0,
        "security_views_30": 1,
        "sso_audit_30": 1,
        "admin_change_30": 0,
        "paywall_hits_14": 1,
        "limit_hits_7": 1,
        "limit_hits_14": 1,
        "api_key_30": 0,
        "idle_days": 0,
        "checkout_in_progress": 1,
        "sales_request_days": None,
        "paid_plan": 0,
    }
    assert facts_of(acme).usage_limit == "exports"
