"""The CRM sync: only the accounts changed since the last sync (full mode: all), the
snapshot's fields on crafted rollups, batches delivered to a real receiver, the command."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Account
from dossiers.charts import usage_trend
from feedback.outbound.models import CrmSync, Delivery, EventType, OutboundEvent
from feedback.outbound.selectors import crm_sync_csv_rows
from feedback.outbound.selectors_crm import CRM_FIELD_NAMES, crm_snapshot
from feedback.outbound.services.crm_sync import CHANGE_OVERLAP, crm_sync_run
from feedback.outbound.services.delivery import deliveries_dispatch, delivery_attempt
from pls_portal.models import Job
from scoring.models import AccountScore
from tests.factories import AccountFactory, PlanFactory, ProductUserFactory, UserFactory
from tests.feedback.outbound.factories import endpoint
from tests.scoring.factories import (
    AccountDayFactory,
    AccountFeatureDayFactory,
    AccountScoreFactory,
    AccountUserDayFactory,
    QueueItemFactory,
)

pytestmark = pytest.mark.django_db


def _age_everything(when):
    """Every account and score last changed at ``when``."""
    Account.objects.update(updated_at=when, usage_changed_at=when)
    AccountScore.objects.update(changed_at=when)


def _synced_ids(sync: CrmSync) -> list[int]:
    return [
        record["PLS_Account_Id__c"]
        for payload in OutboundEvent.objects.filter(crm_sync=sync)
        .order_by("batch")
        .values_list("payload", flat=True)
        for record in payload["data"]["records"]
    ]


def test_the_first_sync_sends_every_account_then_only_the_changed_ones():
    t0 = timezone.now() - timedelta(days=3)
    a, b, c = (AccountFactory() for _ in range(3))
    AccountScoreFactory(account=c)
    _age_everything(t0 - timedelta(days=1))
    first = crm_sync_run(now=t0)
    assert _synced_ids(first) == [a.pk, b.pk, c.pk]

    t1 = t0 + timedelta(days=1)
    Account.objects.filter(pk=a.pk).update(usage_changed_at=t0 + timedelta(hours=1))
    AccountScore.objects.filter(account=c).update(changed_at=t0 + timedelta(hours=2))
    second = crm_sync_run(now=t1)

    assert (second.mode, second.state, second.accounts) == ("changed", "done", 2)
    assert second.since == t0 - CHANGE_OVERLAP
    assert _synced_ids(second) == [a.pk, c.pk]

    b.name = "Renamed Inc"
    b.save()  # its own fields changed (updated_at)
    third = crm_sync_run()
    assert _synced_ids(third) == [b.pk]


def test_full_mode_sends_every_account_whatever_changed():
    t0 = timezone.now()
    accounts = [AccountFactory() for _ in range(3)]
    merged = AccountFactory()
    Account.objects.filter(pk=merged.pk).update(merged_into=accounts[0])
    _age_everything(t0 - timedelta(days=1))
    crm_sync_run(now=t0)

    quiet = crm_sync_run(now=t0 + timedelta(days=1))
    full = crm_sync_run(full=True, now=t0 + timedelta(days=2))

    assert quiet.accounts == 0 and quiet.batches == 0
    assert (full.mode, full.since) == ("full", None)
    assert _synced_ids(full) == [a.pk for a in accounts]  # the merged-away one left out


def test_batches_go_to_subscribed_endpoints_signed(receiver):
    server = receiver()
    hook = endpoint(url=server.url, event_types=[EventType.CRM_SYNC])
    server.secret = hook.secret
    endpoint(name="pql only", event_types=[EventType.PQL_CREATED])
    accounts = [AccountFactory() for _ in range(5)]

    sync = crm_sync_run(full=True, batch_size=2)
    now = timezone.now()
    for pk, token in deliveries_dispatch(now=now):
        delivery_attempt(delivery_id=pk, token=token, now=now)

    assert (sync.accounts, sync.batches) == (5, 3)
    assert sync.message == "5 accounts in 3 batches, 3 deliveries queued"
    assert [r.event_id for r in server.requests] == [f"evt_crm_{sync.pk}_{n}" for n in (1, 2, 3)]
    assert all(r.verified and r.event_type == "crm_sync" for r in server.requests)
    bodies = [r.json["data"] for r in server.requests]
    assert [(d["batch"], d["batches"], len(d["records"])) for d in bodies] == [
        (1, 3, 2),
        (2, 3, 2),
        (3, 3, 1),
    ]
    assert [r["PLS_Account_Id__c"] for d in bodies for r in d["records"]] == [
        a.pk for a in accounts
    ]
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_the_snapshot_reads_usage_score_route_and_owner():
    today = date(2026, 3, 31)
    owner = UserFactory(username="olga", ae=True)
    account = AccountFactory(
        name="Initech",
        domain="initech.com",
        plan=PlanFactory(key="team"),
        status="paid",
        arr_potential=Decimal("42000"),
        owner=owner,
        created_at=timezone.now() - timedelta(days=400),
    )
    AccountScoreFactory(
        account=account, score=81, value=30, engagement=51, route="ae", route_reason="PQL: 81"
    )
    QueueItemFactory(account=account, state="claimed")
    people = {n: ProductUserFactory(account=account) for n in (1, 2, 3, 4)}
    for offset, users in ((0, (1, 2)), (3, (1,)), (20, (3,)), (40, (4,))):
        for n in users:
            AccountUserDayFactory(
                account=account, day=today - timedelta(days=offset), user=people[n]
            )
    for offset, feature in ((1, "projects"), (10, "export"), (10, "projects"), (35, "api")):
        AccountFeatureDayFactory(
            account=account, day=today - timedelta(days=offset), feature_key=feature
        )
    # Daily active users rising over 90 days: 1 → 10.
    for i in range(90):
        AccountDayFactory(
            account=account, day=today - timedelta(days=89 - i), active_users=1 + i // 10
        )
    synced_at = timezone.now()

    [record] = crm_snapshot(account_ids=[account.pk], today=today, synced_at=synced_at)

    assert list(record) == list(CRM_FIELD_NAMES)
    assert {k: record[k] for k in list(CRM_FIELD_NAMES)[:9]} == {
        "PLS_Account_Id__c": account.pk,
        "Name": "Initech",
        "Website": "initech.com",
        "PLS_Plan__c": "team",
        "PLS_Status__c": "paid",
        "PLS_Active_Users_7d__c": 2,
        "PLS_Active_Users_30d__c": 3,
        "PLS_Features_Used_30d__c": 2,
        "PLS_Features_List__c": "export;projects",
    }
    assert record["PLS_Usage_Trend__c"] == "growing"
    assert record["PLS_Last_Active_Date__c"] == "2026-03-31"
    assert (record["PLS_Score__c"], record["PLS_Value_Score__c"]) == (81, 30)
    assert (record["PLS_Route__c"], record["PLS_Route_Reason__c"]) == ("ae", "PQL: 81")
    assert record["PLS_Queue_State__c"] == "claimed"
    assert record["PLS_ARR_Potential__c"] == 42000.0
    assert record["PLS_Owner_Email__c"] == "olga@example.com"
    assert record["PLS_Synced_At__c"] == synced_at.isoformat()


SERIES = {
    "growing": [2 + i // 5 for i in range(60)],
    "declining": [20 - i // 5 for i in range(90)],
    "stable": [5, 6] * 45,
    "too early": [3] * 10,
    "no activity": [0] * 30,
    "just growing": [10 + (i * 5) // 90 for i in range(90)],
    "weekends": [0 if i % 7 in (5, 6) else 8 for i in range(90)],
}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_the_usage_trend_matches_the_dossiers_verdict(name):
    """The same rule as the dossier's chart (dossiers.charts.usage_trend), from SQL sums;
    accounts younger than 90 days are fitted from their signup day."""
    series = SERIES[name]
    today = date(2026, 3, 31)
    signup = today - timedelta(days=len(series) - 1)
    account = AccountFactory(
        created_at=datetime(signup.year, signup.month, signup.day, 9, tzinfo=UTC)
    )
    # Imported before the signup: the line starts at the signup day, as the dossier's.
    AccountDayFactory(account=account, day=signup - timedelta(days=3), active_users=50)
    for i, users in enumerate(series):
        if users:
            AccountDayFactory(account=account, day=signup + timedelta(days=i), active_users=users)

    [record] = crm_snapshot(account_ids=[account.pk], today=today, synced_at=timezone.now())

    dossier = usage_trend([float(u) for u in series])
    assert record["PLS_Usage_Trend__c"] == dossier.verdict.replace(" to tell", "").replace(" ", "_")
    assert record["PLS_Usage_Trend_Pct__c"] == round(dossier.pct_per_day, 2)


def test_a_sync_left_running_by_a_killed_worker_is_closed_and_resent():
    t0 = timezone.now()
    account = AccountFactory()
    _age_everything(t0 - timedelta(days=2))
    crm_sync_run(now=t0 - timedelta(days=1))
    Account.objects.filter(pk=account.pk).update(usage_changed_at=t0 - timedelta(hours=3))
    killed = CrmSync.objects.create(mode="changed", cutoff=t0 - timedelta(hours=1), started_at=t0)

    sync = crm_sync_run(now=t0)

    killed.refresh_from_db()
    assert killed.state == "failed" and killed.message.startswith("interrupted")
    assert _synced_ids(sync) == [account.pk]


def test_the_command_runs_a_full_sync_as_a_job(capsys):
    AccountFactory.create_batch(2)

    call_command("crm_sync", "--full")

    sync = CrmSync.objects.get()
    job = Job.objects.get(kind="crm_sync")
    assert (sync.mode, sync.state, sync.accounts, sync.job_id) == ("full", "done", 2, job.pk)
    assert job.state == "done" and job.result["accounts"] == 2
    assert f"CRM sync #{sync.pk}: 2 accounts in 1 batch" in capsys.readouterr().out


def test_the_csv_holds_the_snapshot_batch_by_batch():
    accounts = [AccountFactory(name=f"Co {n}") for n in range(3)]
    sync = crm_sync_run(full=True, batch_size=2)

    rows = list(crm_sync_csv_rows(crm_sync_id=sync.pk))

    assert rows[0] == list(CRM_FIELD_NAMES)
    assert [(r[0], r[1]) for r in rows[1:]] == [(a.pk, a.name) for a in accounts]
